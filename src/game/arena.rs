//! The demo game: a bounded square arena where players move at a fixed speed and collect
//! orbs that respawn at random places; each pickup scores a point.
//!
//! All movement is integer (fixed-point) so a client can reproduce it bit for bit for
//! prediction. Positions are in quanta of 1/10 arena unit (`POSITION_SCALE`). Each tick a
//! player with input `(dx, dy)` moves `step = speed / rate_hz` quanta (integer division)
//! along each non-zero axis; when both axes are non-zero the step is `step * 181 >> 8`
//! (181/256 ≈ 1/√2). Holding the boost button (bit 0) multiplies the step by 3/2 first.
//! The position is then clamped to `[radius, size - radius]` on each axis. The last input
//! keeps applying on ticks where no new input arrived.
//!
//! The state is declared with the state derives ([`GameState`], [`Entity`],
//! [`PlayerInput`]): they write the schema, the entities of each tick and the saved
//! state (format version 2: the configuration, checked on restore and never adopted,
//! the random generator, the players in id order with their last input, the orbs).

use super::{Entity, Game, GameState, PlayerInput, SaveFormat, SplitMix64, StepContext};
use crate::protocol::{EntityId, GameConstant, PlayerId};
use std::collections::BTreeMap;

/// Quanta per arena unit for positions.
pub const POSITION_SCALE: u32 = 10;
/// Entity kind index of players.
pub const KIND_PLAYER: u16 = 0;
/// Entity kind index of orbs.
pub const KIND_ORB: u16 = 1;
/// Event kind index of "scored" (value: the new score).
pub const EVENT_SCORED: u16 = 0;
/// Orb entity ids start here; player entity ids equal their player ids, which are below.
pub const ORB_ID_BASE: EntityId = 1 << 24;
/// Boost button bit in the `buttons` input field.
pub const BUTTON_BOOST: i32 = 1;

/// Tunables of the arena, in arena units.
#[derive(SaveFormat, Debug, Clone, PartialEq, Eq)]
pub struct ArenaConfig {
    /// Side of the square arena.
    pub size: i32,
    /// Player speed in arena units per second.
    pub speed: i32,
    /// Player radius.
    pub player_radius: i32,
    /// Orb radius.
    pub orb_radius: i32,
    /// Number of orbs on the field.
    pub orbs: u32,
}

impl Default for ArenaConfig {
    fn default() -> Self {
        ArenaConfig { size: 1000, speed: 200, player_radius: 20, orb_radius: 8, orbs: 20 }
    }
}

/// A player's input: a direction on each axis and a button mask.
#[derive(PlayerInput, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ArenaInput {
    /// -1 left, 1 right.
    #[tickcast(range = -1..=1)]
    pub dx: i32,
    /// -1 up, 1 down.
    #[tickcast(range = -1..=1)]
    pub dy: i32,
    /// Bit 0: boost ([`BUTTON_BOOST`]).
    #[tickcast(range = 0..=255)]
    pub buttons: i32,
}

#[derive(Entity, Debug, Clone, PartialEq, Eq)]
struct Player {
    #[tickcast(replicate, scale = POSITION_SCALE)]
    x: i32,
    #[tickcast(replicate, scale = POSITION_SCALE)]
    y: i32,
    #[tickcast(replicate, range = 0..)]
    score: i32,
    /// The last input, which keeps acting until the next one.
    input: ArenaInput,
}

#[derive(Entity, Debug, Clone, PartialEq, Eq)]
struct Orb {
    #[tickcast(replicate, scale = POSITION_SCALE)]
    x: i32,
    #[tickcast(replicate, scale = POSITION_SCALE)]
    y: i32,
}

/// The arena game state of one room.
#[derive(GameState, Debug, Clone)]
#[tickcast(input = ArenaInput, events = ["scored"], version = 2, check = Arena::check_restored)]
pub struct Arena {
    #[tickcast(check)]
    cfg: ArenaConfig,
    rng: SplitMix64,
    #[tickcast(entities)]
    players: BTreeMap<PlayerId, Player>,
    #[tickcast(entities, id_base = ORB_ID_BASE)]
    orbs: Vec<Orb>,
}

impl Arena {
    /// A new arena seeded with `seed`.
    pub fn new(cfg: ArenaConfig, seed: u64) -> Self {
        let mut arena = Arena { cfg, rng: SplitMix64::new(seed), players: BTreeMap::new(), orbs: Vec::new() };
        for _ in 0..arena.cfg.orbs {
            let (x, y) = arena.random_spot(arena.cfg.orb_radius);
            arena.orbs.push(Orb { x, y });
        }
        arena
    }

    fn q(v: i32) -> i32 {
        v * POSITION_SCALE as i32
    }

    fn random_spot(&mut self, radius: i32) -> (i32, i32) {
        let lo = Self::q(radius);
        let hi = Self::q(self.cfg.size - radius);
        (self.rng.range(lo, hi), self.rng.range(lo, hi))
    }

    /// The per-tick step in quanta for the given input, as documented above.
    pub fn step_quanta(speed: i32, rate_hz: u32, dx: i32, dy: i32, buttons: i32) -> i32 {
        let mut step = Self::q(speed) / rate_hz.max(1) as i32;
        if buttons & BUTTON_BOOST != 0 {
            step = step * 3 / 2;
        }
        if dx != 0 && dy != 0 {
            step = (step * 181) >> 8;
        }
        step
    }

    /// What a restored state must hold beyond its types and ranges: positions inside
    /// the arena, player ids below the orbs', the configured number of orbs.
    fn check_restored(&self) -> Result<(), String> {
        let inside = |radius: i32, x: i32, y: i32| {
            let (lo, hi) = (Self::q(radius), Self::q(self.cfg.size - radius));
            (lo..=hi).contains(&x) && (lo..=hi).contains(&y)
        };
        for (id, p) in &self.players {
            if *id >= ORB_ID_BASE {
                return Err(format!("player id {id} is not below {ORB_ID_BASE}"));
            }
            if !inside(self.cfg.player_radius, p.x, p.y) {
                return Err(format!("player {id} at ({}, {}) is outside the arena", p.x, p.y));
            }
        }
        if self.orbs.len() != self.cfg.orbs as usize {
            return Err(format!("{} orbs, this room runs {}", self.orbs.len(), self.cfg.orbs));
        }
        match self.orbs.iter().position(|o| !inside(self.cfg.orb_radius, o.x, o.y)) {
            Some(i) => Err(format!("orb {i} at ({}, {}) is outside the arena", self.orbs[i].x, self.orbs[i].y)),
            None => Ok(()),
        }
    }

    /// A player's position and score, if present.
    pub fn player(&self, id: PlayerId) -> Option<(i32, i32, i32)> {
        self.players.get(&id).map(|p| (p.x, p.y, p.score))
    }
}

impl Game for Arena {
    crate::game_state_methods!();

    fn constants(&self) -> Vec<GameConstant> {
        let c = |name: &str, value: i64| GameConstant { name: name.into(), value };
        let ArenaConfig { size, speed, player_radius, orb_radius, orbs } = self.cfg;
        vec![
            c("size", size.into()),
            c("speed", speed.into()),
            c("player_radius", player_radius.into()),
            c("orb_radius", orb_radius.into()),
            c("orbs", orbs.into()),
        ]
    }

    fn join(&mut self, player: PlayerId, _name: &str) {
        let (x, y) = self.random_spot(self.cfg.player_radius);
        self.players.insert(player, Player { x, y, score: 0, input: ArenaInput::default() });
    }

    fn leave(&mut self, player: PlayerId) {
        self.players.remove(&player);
    }

    fn disconnected(&mut self, player: PlayerId) {
        if let Some(p) = self.players.get_mut(&player) {
            p.input = ArenaInput::default();
        }
    }

    fn apply_input(&mut self, player: PlayerId, values: &[i32]) {
        if let (Some(p), Some(input)) = (self.players.get_mut(&player), ArenaInput::from_values(values)) {
            p.input = input;
        }
    }

    fn step(&mut self, ctx: &mut StepContext<'_>) {
        let lo = Self::q(self.cfg.player_radius);
        let hi = Self::q(self.cfg.size - self.cfg.player_radius);
        let reach = Self::q(self.cfg.player_radius + self.cfg.orb_radius) as i64;
        let mut respawn = Vec::new();
        for (id, p) in self.players.iter_mut() {
            let ArenaInput { dx, dy, buttons } = p.input;
            let step = Self::step_quanta(self.cfg.speed, ctx.rate_hz, dx, dy, buttons);
            p.x = (p.x + dx.signum() * step).clamp(lo, hi);
            p.y = (p.y + dy.signum() * step).clamp(lo, hi);
            for (i, orb) in self.orbs.iter().enumerate() {
                let (ddx, ddy) = ((p.x - orb.x) as i64, (p.y - orb.y) as i64);
                if ddx * ddx + ddy * ddy <= reach * reach && !respawn.contains(&i) {
                    respawn.push(i);
                    // Saturating: a restored score may be anything non-negative.
                    p.score = p.score.saturating_add(1);
                    ctx.emit(super::arena::EVENT_SCORED, *id, p.score);
                }
            }
        }
        for i in respawn {
            let (x, y) = self.random_spot(self.cfg.orb_radius);
            self.orbs[i] = Orb { x, y };
        }
    }
}

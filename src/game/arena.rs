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

use super::{Game, SplitMix64, StepContext};
use crate::protocol::{EntityId, EntityKind, FieldDef, InputField, PlayerId, Schema};
use crate::sync::EntityState;
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
#[derive(Debug, Clone, PartialEq, Eq)]
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

#[derive(Debug, Clone, PartialEq, Eq)]
struct Player {
    x: i32,
    y: i32,
    score: i32,
    input: [i32; 3],
}

/// The arena game state of one room.
#[derive(Debug, Clone)]
pub struct Arena {
    cfg: ArenaConfig,
    rng: SplitMix64,
    players: BTreeMap<PlayerId, Player>,
    orbs: Vec<(i32, i32)>,
}

impl Arena {
    /// A new arena seeded with `seed`.
    pub fn new(cfg: ArenaConfig, seed: u64) -> Self {
        let mut arena = Arena { cfg, rng: SplitMix64::new(seed), players: BTreeMap::new(), orbs: Vec::new() };
        for _ in 0..arena.cfg.orbs {
            let spot = arena.random_spot(arena.cfg.orb_radius);
            arena.orbs.push(spot);
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

    /// A player's position and score, if present.
    pub fn player(&self, id: PlayerId) -> Option<(i32, i32, i32)> {
        self.players.get(&id).map(|p| (p.x, p.y, p.score))
    }
}

impl Game for Arena {
    fn schema(&self) -> Schema {
        let pos = |n: &str| FieldDef::new(n, POSITION_SCALE);
        Schema {
            game: "arena".into(),
            entity_kinds: vec![
                EntityKind { name: "player".into(), fields: vec![pos("x"), pos("y"), FieldDef::new("score", 1)] },
                EntityKind { name: "orb".into(), fields: vec![pos("x"), pos("y")] },
            ],
            input: vec![InputField::new("dx", -1, 1), InputField::new("dy", -1, 1), InputField::new("buttons", 0, 255)],
            event_kinds: vec!["scored".into()],
        }
    }

    fn join(&mut self, player: PlayerId, _name: &str) {
        let (x, y) = self.random_spot(self.cfg.player_radius);
        self.players.insert(player, Player { x, y, score: 0, input: [0; 3] });
    }

    fn leave(&mut self, player: PlayerId) {
        self.players.remove(&player);
    }

    fn disconnected(&mut self, player: PlayerId) {
        if let Some(p) = self.players.get_mut(&player) {
            p.input = [0; 3];
        }
    }

    fn apply_input(&mut self, player: PlayerId, values: &[i32]) {
        if let (Some(p), [dx, dy, buttons]) = (self.players.get_mut(&player), values) {
            p.input = [*dx, *dy, *buttons];
        }
    }

    fn step(&mut self, ctx: &mut StepContext<'_>) {
        let lo = Self::q(self.cfg.player_radius);
        let hi = Self::q(self.cfg.size - self.cfg.player_radius);
        let reach = Self::q(self.cfg.player_radius + self.cfg.orb_radius) as i64;
        let mut respawn = Vec::new();
        for (id, p) in self.players.iter_mut() {
            let [dx, dy, buttons] = p.input;
            let step = Self::step_quanta(self.cfg.speed, ctx.rate_hz, dx, dy, buttons);
            p.x = (p.x + dx.signum() * step).clamp(lo, hi);
            p.y = (p.y + dy.signum() * step).clamp(lo, hi);
            for (i, (ox, oy)) in self.orbs.iter().enumerate() {
                let (ddx, ddy) = ((p.x - ox) as i64, (p.y - oy) as i64);
                if ddx * ddx + ddy * ddy <= reach * reach && !respawn.contains(&i) {
                    respawn.push(i);
                    p.score += 1;
                    ctx.emit(super::arena::EVENT_SCORED, *id, p.score);
                }
            }
        }
        for i in respawn {
            self.orbs[i] = self.random_spot(self.cfg.orb_radius);
        }
    }

    fn write_state(&self, out: &mut EntityState) {
        for (id, p) in &self.players {
            out.push(*id, KIND_PLAYER, &[p.x, p.y, p.score]);
        }
        for (i, (x, y)) in self.orbs.iter().enumerate() {
            out.push(ORB_ID_BASE + i as EntityId, KIND_ORB, &[*x, *y]);
        }
    }
}

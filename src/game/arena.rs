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
//! state (format version 3: the configuration, checked on restore and never adopted,
//! the random generator, the players in id order with their last input and, for bots,
//! their ticks left on the current heading, the orbs).
//!
//! A big arena (`size` > 2 × `view_radius`) declares where its entities are
//! ([`Game::interest`]) and what each player sees ([`Game::view`]), so its rooms send each
//! member only the cells around it. Bots (`bots`) are players the game steers itself with
//! its own random generator: a lone visitor of a big world has company, and runs stay
//! deterministic.

use super::{Entity, Game, GameState, Interest, PlayerInput, SaveFormat, SplitMix64, StepContext, View};
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
/// Bots' entity ids (players the server runs, `game.arena.bots`) start here: above any
/// real player's id, below the orbs'.
pub const BOT_ID_BASE: EntityId = 1 << 23;
/// Above this many orbs, pickups look only at the orbs near each player (a grid of
/// buckets) rather than at every orb: same results, no players × orbs per tick.
const BUCKETED_ABOVE: usize = 64;

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
    /// Half the side of the square a player sees; interest management is on when the
    /// map is larger than a view (`size > 2 × view_radius`).
    pub view_radius: i32,
    /// Players the game runs itself (wandering; no connection, no seat).
    pub bots: u32,
}

impl Default for ArenaConfig {
    fn default() -> Self {
        ArenaConfig { size: 1000, speed: 200, player_radius: 20, orb_radius: 8, orbs: 20, view_radius: 500, bots: 0 }
    }
}

impl ArenaConfig {
    /// The arena of a room kind (`game.arena.*`, `game.arena.presets`); speed and radii
    /// are the defaults.
    pub fn of_kind(kind: &crate::config::ArenaKind) -> Self {
        let clamp = |v: u32| i32::try_from(v).unwrap_or(i32::MAX);
        ArenaConfig {
            size: clamp(kind.size),
            orbs: kind.orbs,
            view_radius: clamp(kind.view_radius),
            bots: kind.bots,
            ..ArenaConfig::default()
        }
    }

    /// Whether rooms of this arena use interest management.
    pub fn is_big(&self) -> bool {
        self.size > 2 * self.view_radius
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
    /// A bot's ticks until it picks a new direction (0 for players).
    wander: u32,
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
#[tickcast(input = ArenaInput, events = ["scored"], version = 3, check = Arena::check_restored)]
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
        for i in 0..arena.cfg.bots.min(ORB_ID_BASE - BOT_ID_BASE) {
            let (x, y) = arena.random_spot(arena.cfg.player_radius);
            arena.players.insert(BOT_ID_BASE + i, Player { x, y, score: 0, input: ArenaInput::default(), wander: 0 });
        }
        arena
    }

    /// Bots pick a direction and keep it a while (10 to 40 ticks), from the room's
    /// random generator: deterministic like the rest of the game.
    fn steer_bots(&mut self) {
        for (id, p) in self.players.range_mut(BOT_ID_BASE..) {
            debug_assert!(*id < ORB_ID_BASE);
            if p.wander > 0 {
                p.wander -= 1;
                continue;
            }
            let (dx, dy) = loop {
                let d = (self.rng.range(-1, 2), self.rng.range(-1, 2));
                if d != (0, 0) {
                    break d;
                }
            };
            p.input = ArenaInput { dx, dy, buttons: 0 };
            p.wander = self.rng.range(10, 41) as u32;
        }
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
        let bots = self.players.range(BOT_ID_BASE..ORB_ID_BASE).count();
        if bots != self.cfg.bots.min(ORB_ID_BASE - BOT_ID_BASE) as usize {
            return Err(format!("{bots} bots, this room runs {}", self.cfg.bots));
        }
        for (id, p) in &self.players {
            if *id >= ORB_ID_BASE {
                return Err(format!("player id {id} is not below {ORB_ID_BASE}"));
            }
            if *id >= BOT_ID_BASE && *id - BOT_ID_BASE >= self.cfg.bots {
                return Err(format!("bot id {id} is not one of this room's {} bots", self.cfg.bots));
            }
            if p.wander > 40 || (*id < BOT_ID_BASE && p.wander != 0) {
                return Err(format!("player {id} has {} ticks of wander, above what the game reaches", p.wander));
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
        let ArenaConfig { size, speed, player_radius, orb_radius, orbs, view_radius, .. } = self.cfg;
        let mut list = vec![
            c("size", size.into()),
            c("speed", speed.into()),
            c("player_radius", player_radius.into()),
            c("orb_radius", orb_radius.into()),
            c("orbs", orbs.into()),
        ];
        // Only a big arena sends only what is near: the client then draws the view.
        if self.cfg.is_big() {
            list.push(c("view_radius", view_radius.into()));
        }
        list
    }

    fn join(&mut self, player: PlayerId, _name: &str) {
        let (x, y) = self.random_spot(self.cfg.player_radius);
        self.players.insert(player, Player { x, y, score: 0, input: ArenaInput::default(), wander: 0 });
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
        if player >= BOT_ID_BASE {
            return; // a real player's id never reaches the bots' range
        }
        if let (Some(p), Some(input)) = (self.players.get_mut(&player), ArenaInput::from_values(values)) {
            p.input = input;
        }
    }

    fn step(&mut self, ctx: &mut StepContext<'_>) {
        self.steer_bots();
        let lo = Self::q(self.cfg.player_radius);
        let hi = Self::q(self.cfg.size - self.cfg.player_radius);
        let reach = Self::q(self.cfg.player_radius + self.cfg.orb_radius) as i64;
        let buckets = (self.orbs.len() > BUCKETED_ABOVE).then(|| OrbBuckets::new(&self.orbs, reach));
        let mut near = Vec::new();
        let mut respawn = Vec::new();
        for (id, p) in self.players.iter_mut() {
            let ArenaInput { dx, dy, buttons } = p.input;
            let step = Self::step_quanta(self.cfg.speed, ctx.rate_hz, dx, dy, buttons);
            p.x = (p.x + dx.signum() * step).clamp(lo, hi);
            p.y = (p.y + dy.signum() * step).clamp(lo, hi);
            near.clear();
            match &buckets {
                Some(b) => b.near(p.x, p.y, &mut near),
                None => near.extend(0..self.orbs.len()),
            }
            for &i in &near {
                let orb = &self.orbs[i];
                let (ddx, ddy) = ((p.x - orb.x) as i64, (p.y - orb.y) as i64);
                if ddx * ddx + ddy * ddy <= reach * reach && !respawn.contains(&i) {
                    respawn.push(i);
                    // Saturating: a restored score may be anything non-negative.
                    p.score = p.score.saturating_add(1);
                    ctx.emit_at(super::arena::EVENT_SCORED, *id, p.score, p.x, p.y);
                }
            }
        }
        for i in respawn {
            let (x, y) = self.random_spot(self.cfg.orb_radius);
            self.orbs[i] = Orb { x, y };
        }
    }

    fn interest(&self) -> Option<Interest> {
        // Players and orbs are placed by their x and y (fields 0 and 1).
        self.cfg.is_big().then(|| Interest { positions: vec![Some([0, 1]), Some([0, 1])] })
    }

    fn view(&self, player: PlayerId) -> Option<View> {
        let p = self.players.get(&player)?;
        Some(View { x: p.x, y: p.y, radius: Self::q(self.cfg.view_radius) })
    }
}

/// The orbs by square buckets of `side` quanta (at least the pickup reach), so a player
/// checks only the orbs of the 3 × 3 buckets around it, in index order as a check of
/// every orb would. One sorted list, `(bucket x, bucket y, orb index)`: a bucket column's
/// three rows are one contiguous run of it.
struct OrbBuckets {
    side: i64,
    sorted: Vec<(i64, i64, usize)>,
}

impl OrbBuckets {
    fn new(orbs: &[Orb], reach: i64) -> Self {
        let side = reach.max(1);
        let mut sorted: Vec<(i64, i64, usize)> = orbs
            .iter()
            .enumerate()
            .map(|(i, o)| (i64::from(o.x).div_euclid(side), i64::from(o.y).div_euclid(side), i))
            .collect();
        sorted.sort_unstable();
        OrbBuckets { side, sorted }
    }

    /// The indexes of the orbs that may be within reach of `(x, y)`, increasing.
    fn near(&self, x: i32, y: i32, out: &mut Vec<usize>) {
        let (bx, by) = (i64::from(x).div_euclid(self.side), i64::from(y).div_euclid(self.side));
        for cx in bx - 1..=bx + 1 {
            let from = self.sorted.partition_point(|&(x, y, _)| (x, y) < (cx, by - 1));
            let to = self.sorted.partition_point(|&(x, y, _)| (x, y) <= (cx, by + 1));
            out.extend(self.sorted[from..to].iter().map(|&(_, _, i)| i));
        }
        out.sort_unstable();
    }
}

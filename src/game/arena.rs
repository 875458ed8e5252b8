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
//! [`Game::save`] writes the whole state in a compact format of its own (version 1, all
//! integers in the protocol's varints): the configuration (checked on restore, never
//! adopted), the random generator's state, the players in id order (id as the gap from
//! the previous id plus one, x, y, score, the three input values still acting), then the
//! orbs' positions in entity-id order.

use super::{Game, SplitMix64, StepContext};
use crate::protocol::{
    DecodeError, EntityId, EntityKind, FieldDef, GameConstant, InputField, PlayerId, Reader, Schema, Writer,
};
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

/// Version of the [`Game::save`] format; [`Game::restore`] refuses any other.
const SAVE_VERSION: u64 = 1;
/// The fewest bytes one saved player takes (seven values of at least one byte each): a
/// declared player count above `bytes left / this` cannot be honest.
const SAVED_PLAYER_MIN_BYTES: usize = 7;
/// The fewest bytes one saved orb takes.
const SAVED_ORB_MIN_BYTES: usize = 2;

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

    /// The whole state in the [`Game::save`] format (see the module docs).
    fn encode_save(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(32 + 12 * self.players.len() + 6 * self.orbs.len());
        let mut w = Writer::new(&mut out);
        w.u64(SAVE_VERSION);
        let cfg = &self.cfg;
        for v in [cfg.size, cfg.speed, cfg.player_radius, cfg.orb_radius] {
            w.i64(v as i64);
        }
        w.u64(cfg.orbs as u64);
        w.u64(self.rng.state());
        w.u64(self.players.len() as u64);
        let mut next_id = 0u64;
        for (id, p) in &self.players {
            w.u64(*id as u64 - next_id);
            next_id = *id as u64 + 1;
            for v in [p.x, p.y, p.score, p.input[0], p.input[1], p.input[2]] {
                w.i64(v as i64);
            }
        }
        for (x, y) in &self.orbs {
            w.i64(*x as i64);
            w.i64(*y as i64);
        }
        out
    }

    /// Reads a [`Game::save`] of an arena of this configuration, checking every value.
    fn decode_save(&self, saved: &[u8]) -> Result<Arena, String> {
        fn ctx(what: &'static str) -> impl Fn(DecodeError) -> String {
            move |e| format!("arena save: {what}: {e}")
        }
        let mut r = Reader::new(saved);
        let version = r.u64().map_err(ctx("version"))?;
        if version != SAVE_VERSION {
            return Err(format!("arena save: unknown format version {version} (this server reads {SAVE_VERSION})"));
        }
        let cfg = ArenaConfig {
            size: r.i32().map_err(ctx("config"))?,
            speed: r.i32().map_err(ctx("config"))?,
            player_radius: r.i32().map_err(ctx("config"))?,
            orb_radius: r.i32().map_err(ctx("config"))?,
            orbs: r.u32().map_err(ctx("config"))?,
        };
        if cfg != self.cfg {
            return Err(format!("arena save: made with {cfg:?}, this room runs {:?}", self.cfg));
        }
        let rng = SplitMix64::from_state(r.u64().map_err(ctx("random state"))?);

        let count = r.count(r.remaining() / SAVED_PLAYER_MIN_BYTES).map_err(ctx("player count"))?;
        let schema = self.schema();
        let (lo, hi) = (Self::q(cfg.player_radius), Self::q(cfg.size - cfg.player_radius));
        let mut players = BTreeMap::new();
        let mut next_id = 0u64;
        for _ in 0..count {
            let gap = r.u64().map_err(ctx("player id"))?;
            let id = match next_id.checked_add(gap) {
                Some(id) if id < ORB_ID_BASE as u64 => id as PlayerId,
                _ => return Err(format!("arena save: player id beyond {}", ORB_ID_BASE - 1)),
            };
            next_id = id as u64 + 1;
            let mut v = [0i32; 6];
            for slot in &mut v {
                *slot = r.i32().map_err(ctx("player"))?;
            }
            let [x, y, score, dx, dy, buttons] = v;
            if !(lo..=hi).contains(&x) || !(lo..=hi).contains(&y) {
                return Err(format!("arena save: player {id} at ({x}, {y}), outside {lo}..={hi}"));
            }
            if score < 0 {
                return Err(format!("arena save: player {id} has a negative score {score}"));
            }
            let input = [dx, dy, buttons];
            schema.check_input(&input).map_err(|e| format!("arena save: player {id}: {e}"))?;
            players.insert(id, Player { x, y, score, input });
        }

        let (lo, hi) = (Self::q(cfg.orb_radius), Self::q(cfg.size - cfg.orb_radius));
        let mut orbs = Vec::with_capacity((cfg.orbs as usize).min(r.remaining() / SAVED_ORB_MIN_BYTES));
        for i in 0..cfg.orbs {
            let (x, y) = (r.i32().map_err(ctx("orb"))?, r.i32().map_err(ctx("orb"))?);
            if !(lo..=hi).contains(&x) || !(lo..=hi).contains(&y) {
                return Err(format!("arena save: orb {i} at ({x}, {y}), outside {lo}..={hi}"));
            }
            orbs.push((x, y));
        }
        if r.remaining() != 0 {
            return Err(format!("arena save: {} bytes after the end", r.remaining()));
        }
        Ok(Arena { cfg, rng, players, orbs })
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
                    // Saturating: a restored score may be anything non-negative.
                    p.score = p.score.saturating_add(1);
                    ctx.emit(super::arena::EVENT_SCORED, *id, p.score);
                }
            }
        }
        for i in respawn {
            self.orbs[i] = self.random_spot(self.cfg.orb_radius);
        }
    }

    /// The whole state (module docs: the format); about 11 bytes per player, 6 per orb.
    fn save(&self) -> Option<Vec<u8>> {
        Some(self.encode_save())
    }

    /// Refuses a save of a different configuration, and anything out of range; on `Err`
    /// the arena is unchanged.
    fn restore(&mut self, saved: &[u8]) -> Result<(), String> {
        *self = self.decode_save(saved)?;
        Ok(())
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

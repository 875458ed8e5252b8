//! A second game on the `Game` seam, to show what a game developer writes: "tag".
//! Runners step one cell at a time on a small grid; one of them is "it", and "it" touching
//! another runner (same or neighbouring cell) makes that runner "it" and emits a `tagged`
//! event. The new "it" is frozen for a second so it cannot tag straight back.
//!
//! Everything here is plain, deterministic Rust: no actix, no clock, no I/O; the server
//! replicates the runners from [`Game::write_state`] using the schema. Run it with
//! `cargo run --example tag` (configured like the `tickcast` binary: `config.yaml`
//! defaults, then `TICKCAST__SECTION__KEY` variables). The bundled demo page draws the
//! arena, so a client for this game builds its own view from the schema in Welcome.
//!
//! [`Game::save`] / [`Game::restore`] let a room move to another node: the format (version
//! 1, the protocol's varints) is the random generator's state, then the runners in id
//! order (id as the gap from the previous id plus one, col, row, dir, it, tags, cooldown,
//! frozen).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use tickcast::game::{Game, GameFactory, RoomInfo, SplitMix64, StepContext};
use tickcast::protocol::{DecodeError, EntityKind, FieldDef, InputField, PlayerId, Reader, Schema, Writer};
use tickcast::sync::EntityState;

/// Cells per side of the square grid.
pub const GRID: i32 = 16;
/// Entity kind index of runners (fields `col`, `row`, `it`, `tags`).
pub const KIND_RUNNER: u16 = 0;
/// Event kind index of "tagged": `player` is the tagger, `value` the runner now "it".
pub const EVENT_TAGGED: u16 = 0;
/// Cells a runner crosses per second while a direction is held.
pub const MOVES_PER_SECOND: u32 = 5;
/// Input `dir` values: 0 stands still, then up, right, down, left.
pub const DIRECTIONS: [(i32, i32); 5] = [(0, 0), (0, -1), (1, 0), (0, 1), (-1, 0)];

/// Version of the save format; `restore` refuses any other.
const SAVE_VERSION: u64 = 1;
/// The fewest bytes one saved runner takes (eight values of at least one byte each).
const SAVED_RUNNER_MIN_BYTES: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Runner {
    col: i32,
    row: i32,
    dir: usize,
    it: bool,
    tags: i32,
    /// Ticks until the runner may move again (it moves at most `MOVES_PER_SECOND`).
    cooldown: u32,
    /// Ticks left during which a freshly tagged runner cannot tag.
    frozen: u32,
}

/// The tag game of one room.
#[derive(Debug, Clone)]
pub struct Tag {
    rng: SplitMix64,
    runners: BTreeMap<PlayerId, Runner>,
}

impl Tag {
    /// A new, empty grid; `seed` decides where runners appear.
    pub fn new(seed: u64) -> Self {
        Tag { rng: SplitMix64::new(seed), runners: BTreeMap::new() }
    }

    /// Hands "it" to the lowest id when nobody has it (first join, or "it" left).
    fn ensure_someone_is_it(&mut self) {
        if !self.runners.values().any(|r| r.it) {
            if let Some(r) = self.runners.values_mut().next() {
                r.it = true;
            }
        }
    }
}

impl Game for Tag {
    fn schema(&self) -> Schema {
        let int = |n: &str| FieldDef::new(n, 1);
        Schema {
            game: "tag".into(),
            entity_kinds: vec![EntityKind {
                name: "runner".into(),
                fields: vec![int("col"), int("row"), int("it"), int("tags")],
            }],
            input: vec![InputField::new("dir", 0, DIRECTIONS.len() as i32 - 1)],
            event_kinds: vec!["tagged".into()],
        }
    }

    fn join(&mut self, player: PlayerId, _name: &str) {
        let (col, row) = (self.rng.range(0, GRID), self.rng.range(0, GRID));
        self.runners.insert(player, Runner { col, row, dir: 0, it: false, tags: 0, cooldown: 0, frozen: 0 });
        self.ensure_someone_is_it();
    }

    fn leave(&mut self, player: PlayerId) {
        self.runners.remove(&player);
        self.ensure_someone_is_it();
    }

    fn apply_input(&mut self, player: PlayerId, values: &[i32]) {
        // The server has checked `dir` against the schema's range already.
        if let (Some(r), [dir]) = (self.runners.get_mut(&player), values) {
            r.dir = *dir as usize;
        }
    }

    fn step(&mut self, ctx: &mut StepContext<'_>) {
        let period = (ctx.rate_hz / MOVES_PER_SECOND).max(1);
        for r in self.runners.values_mut() {
            r.frozen = r.frozen.saturating_sub(1);
            if r.cooldown > 0 {
                r.cooldown -= 1;
            } else if r.dir != 0 && r.frozen == 0 {
                let (dc, dr) = DIRECTIONS[r.dir];
                r.col = (r.col + dc).clamp(0, GRID - 1);
                r.row = (r.row + dr).clamp(0, GRID - 1);
                r.cooldown = period - 1;
            }
        }
        let Some((&it, chaser)) = self.runners.iter().find(|(_, r)| r.it && r.frozen == 0) else { return };
        let (col, row) = (chaser.col, chaser.row);
        // Lowest id first: ties are broken the same way on every run.
        let touched = self.runners.iter().find(|(id, r)| **id != it && (r.col - col).abs() + (r.row - row).abs() <= 1);
        if let Some((&caught, _)) = touched {
            let tagger = self.runners.get_mut(&it).expect("it is a runner");
            tagger.it = false;
            // Saturating: a restored count may be anything non-negative.
            tagger.tags = tagger.tags.saturating_add(1);
            let runner = self.runners.get_mut(&caught).expect("caught is a runner");
            runner.it = true;
            runner.frozen = ctx.rate_hz;
            ctx.emit(EVENT_TAGGED, it, caught as i32);
        }
    }

    fn save(&self) -> Option<Vec<u8>> {
        let mut out = Vec::with_capacity(16 + 10 * self.runners.len());
        let mut w = Writer::new(&mut out);
        w.u64(SAVE_VERSION);
        w.u64(self.rng.state());
        w.u64(self.runners.len() as u64);
        let mut next_id = 0u64;
        for (id, r) in &self.runners {
            w.u64(*id as u64 - next_id);
            next_id = *id as u64 + 1;
            for v in [r.col as u64, r.row as u64, r.dir as u64, r.it as u64] {
                w.u64(v);
            }
            w.i64(r.tags as i64);
            w.u64(r.cooldown as u64);
            w.u64(r.frozen as u64);
        }
        Some(out)
    }

    /// Checks every value before changing anything: on `Err` the game is unchanged.
    fn restore(&mut self, saved: &[u8]) -> Result<(), String> {
        fn ctx(what: &'static str) -> impl Fn(DecodeError) -> String {
            move |e| format!("tag save: {what}: {e}")
        }
        let mut r = Reader::new(saved);
        let version = r.u64().map_err(ctx("version"))?;
        if version != SAVE_VERSION {
            return Err(format!("tag save: unknown format version {version} (this server reads {SAVE_VERSION})"));
        }
        let rng = SplitMix64::from_state(r.u64().map_err(ctx("random state"))?);
        let count = r.count(r.remaining() / SAVED_RUNNER_MIN_BYTES).map_err(ctx("runner count"))?;
        let mut runners = BTreeMap::new();
        let mut next_id = 0u64;
        for _ in 0..count {
            let gap = r.u64().map_err(ctx("runner id"))?;
            let id = match next_id.checked_add(gap).map(PlayerId::try_from) {
                Some(Ok(id)) => id,
                _ => return Err("tag save: runner id beyond u32".into()),
            };
            next_id = id as u64 + 1;
            let mut v = [0u32; 4];
            for slot in &mut v {
                *slot = r.u32().map_err(ctx("runner"))?;
            }
            let [col, row, dir, it] = v;
            if col >= GRID as u32 || row >= GRID as u32 {
                return Err(format!("tag save: runner {id} at ({col}, {row}), outside the {GRID}x{GRID} grid"));
            }
            if dir as usize >= DIRECTIONS.len() || it > 1 {
                return Err(format!("tag save: runner {id} has dir {dir} and it {it}"));
            }
            let tags = r.i32().map_err(ctx("runner"))?;
            if tags < 0 {
                return Err(format!("tag save: runner {id} has a negative tag count {tags}"));
            }
            let (cooldown, frozen) = (r.u32().map_err(ctx("runner"))?, r.u32().map_err(ctx("runner"))?);
            let (col, row, dir, it) = (col as i32, row as i32, dir as usize, it == 1);
            runners.insert(id, Runner { col, row, dir, it, tags, cooldown, frozen });
        }
        if r.remaining() != 0 {
            return Err(format!("tag save: {} bytes after the end", r.remaining()));
        }
        let its = runners.values().filter(|r| r.it).count();
        if its != usize::from(!runners.is_empty()) {
            return Err(format!("tag save: {its} of {} runners are it", runners.len()));
        }
        self.rng = rng;
        self.runners = runners;
        Ok(())
    }

    fn write_state(&self, out: &mut EntityState) {
        for (id, r) in &self.runners {
            out.push(*id, KIND_RUNNER, &[r.col, r.row, r.it as i32, r.tags]);
        }
    }
}

/// The factory the server calls for each new room.
pub fn tag_factory() -> GameFactory {
    Arc::new(|room: &RoomInfo| Box::new(Tag::new(room.seed)) as Box<dyn Game>)
}

fn main() -> ExitCode {
    tickcast::run(None, tag_factory())
}

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

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use tickcast::game::{Game, GameFactory, RoomInfo, SplitMix64, StepContext};
use tickcast::protocol::{EntityKind, FieldDef, InputField, PlayerId, Schema};
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
            tagger.tags += 1;
            let runner = self.runners.get_mut(&caught).expect("caught is a runner");
            runner.it = true;
            runner.frozen = ctx.rate_hz;
            ctx.emit(EVENT_TAGGED, it, caught as i32);
        }
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

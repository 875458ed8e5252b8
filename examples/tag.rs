//! A second game on the `Game` seam, to show what a game developer writes: "tag".
//! Runners step one cell at a time on a small grid; one of them is "it", and "it" touching
//! another runner (same or neighbouring cell) makes that runner "it" and emits a `tagged`
//! event. The new "it" is frozen for a second so it cannot tag straight back.
//!
//! Plain, deterministic Rust (no actix, clock or I/O); the state derives write its schema,
//! entities and versioned save/restore. `cargo run --example tag` serves it (configured as
//! the binary is); the demo page draws the arena, so a tag client draws from Welcome's schema.

use std::{collections::BTreeMap, process::ExitCode, sync::Arc};
use tickcast::game::{Entity, Game, GameState, PlayerInput, RoomInfo, SplitMix64, StepContext};
use tickcast::protocol::PlayerId;

/// Cells per side of the square grid.
pub const GRID: i32 = 16;
/// Event kind index of "tagged": `player` is the tagger, `value` the runner now "it".
pub const EVENT_TAGGED: u16 = 0;
/// Cells a runner crosses per second while a direction is held.
pub const MOVES_PER_SECOND: u32 = 5;
/// Input `dir` values: 0 stands still, then up, right, down, left.
pub const DIRECTIONS: [(i32, i32); 5] = [(0, 0), (0, -1), (1, 0), (0, 1), (-1, 0)];

#[derive(Entity, Debug, Clone, Default, PartialEq, Eq)]
struct Runner {
    #[tickcast(replicate, range = 0..GRID)]
    col: i32,
    #[tickcast(replicate, range = 0..GRID)]
    row: i32,
    #[tickcast(replicate)]
    it: bool,
    #[tickcast(replicate, range = 0..)]
    tags: i32,
    /// The last input, which keeps acting until the next one.
    input: Move,
    /// Ticks until the runner may move again (it moves at most `MOVES_PER_SECOND`).
    cooldown: u32,
    /// Ticks left during which a freshly tagged runner cannot tag.
    frozen: u32,
}

/// A player's input: the direction to walk in ([`DIRECTIONS`]).
#[derive(PlayerInput, Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Move {
    #[tickcast(range = 0..=DIRECTIONS.len() - 1)]
    dir: u8,
}

/// The tag game of one room.
#[derive(GameState, Debug, Clone)]
#[tickcast(input = Move, events = ["tagged"], version = 2, check = Tag::one_is_it)]
pub struct Tag {
    rng: SplitMix64,
    #[tickcast(entities)]
    runners: BTreeMap<PlayerId, Runner>,
}

impl Tag {
    /// A new, empty grid; `seed` decides where runners appear.
    pub fn new(seed: u64) -> Self {
        Tag { rng: SplitMix64::new(seed), runners: BTreeMap::new() }
    }

    /// A restored state has exactly one "it" when anyone plays.
    fn one_is_it(&self) -> Result<(), String> {
        let its = self.runners.values().filter(|r| r.it).count();
        let fine = its == usize::from(!self.runners.is_empty());
        fine.then_some(()).ok_or_else(|| format!("{its} of {} runners are it", self.runners.len()))
    }

    /// Hands "it" to the lowest id when nobody has it (first join, or "it" left).
    fn ensure_someone_is_it(&mut self) {
        let nobody = !self.runners.values().any(|r| r.it);
        if let Some(r) = self.runners.values_mut().next().filter(|_| nobody) {
            r.it = true;
        }
    }
}

impl Game for Tag {
    tickcast::game_state_methods!();

    fn join(&mut self, player: PlayerId, _name: &str) {
        let (col, row) = (self.rng.range(0, GRID), self.rng.range(0, GRID));
        self.runners.insert(player, Runner { col, row, ..Runner::default() });
        self.ensure_someone_is_it();
    }

    fn leave(&mut self, player: PlayerId) {
        self.runners.remove(&player);
        self.ensure_someone_is_it();
    }

    fn apply_input(&mut self, player: PlayerId, values: &[i32]) {
        // The server has checked `dir` against the schema's range already.
        if let (Some(r), Some(input)) = (self.runners.get_mut(&player), Move::from_values(values)) {
            r.input = input;
        }
    }

    fn step(&mut self, ctx: &mut StepContext<'_>) {
        let period = (ctx.rate_hz / MOVES_PER_SECOND).max(1);
        for r in self.runners.values_mut() {
            r.frozen = r.frozen.saturating_sub(1);
            if r.cooldown > 0 {
                r.cooldown -= 1;
            } else if r.input.dir != 0 && r.frozen == 0 {
                let (dc, dr) = DIRECTIONS[r.input.dir as usize];
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
}

fn main() -> ExitCode {
    // The factory the server calls for each new room; `None`: no --config file.
    tickcast::run(None, Arc::new(|room: &RoomInfo| Box::new(Tag::new(room.seed)) as Box<dyn Game>))
}

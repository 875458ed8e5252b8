//! The seam a game developer implements: the [`Game`] trait, and the demo [`arena`] game.
//!
//! A game is plain, deterministic Rust: no actix, no I/O, no clock. The world actor owns
//! one game per room and drives it through this trait in a fixed order every tick:
//! joins/leaves as they happen, then one input per player, then [`Game::step`], then
//! [`Game::write_state`]. Given the same calls, a game must produce the same states.

pub mod arena;
mod random;

pub use random::SplitMix64;

use crate::protocol::{Event, PlayerId, Schema};
use crate::sync::EntityState;
use std::sync::Arc;
use std::time::Duration;

/// What a game may see and do during one step.
#[derive(Debug)]
pub struct StepContext<'a> {
    /// The tick being computed (the first step is tick 1).
    pub tick: u64,
    /// The fixed time step: `1 / tick.rate_hz`.
    pub dt: Duration,
    /// Ticks per second, for integer per-tick arithmetic.
    pub rate_hz: u32,
    events: &'a mut Vec<Event>,
}

impl<'a> StepContext<'a> {
    /// A context for `tick`, collecting events into `events`.
    pub fn new(tick: u64, rate_hz: u32, events: &'a mut Vec<Event>) -> Self {
        StepContext { tick, dt: Duration::from_secs_f64(1.0 / rate_hz as f64), rate_hz, events }
    }

    /// Emits a game event (delivered, in order, to every member of the room).
    /// `kind` indexes the schema's `event_kinds`.
    pub fn emit(&mut self, kind: u16, player: PlayerId, value: i32) {
        self.events.push(Event::Game { kind, player, value });
    }
}

/// An authoritative game simulation for one room.
pub trait Game: Send + 'static {
    /// The game's schema; must be the same for every room of this game.
    fn schema(&self) -> Schema;

    /// A player joined (or its seat was created): give it whatever it needs.
    fn join(&mut self, player: PlayerId, name: &str);

    /// A player left for good: remove what it owns.
    fn leave(&mut self, player: PlayerId);

    /// A player's connection dropped; it stays in the game for the reconnect grace window
    /// and may come back (`join` is not called again). A game usually stops whatever the
    /// player's last input was doing. The default does nothing.
    fn disconnected(&mut self, player: PlayerId) {
        let _ = player;
    }

    /// Applies one input of `player`. `values` has already been checked against the
    /// schema's input fields and ranges.
    fn apply_input(&mut self, player: PlayerId, values: &[i32]);

    /// Advances the simulation by one fixed step.
    fn step(&mut self, ctx: &mut StepContext<'_>);

    /// Writes the replicated entities into `out` (already cleared).
    fn write_state(&self, out: &mut EntityState);
}

/// Facts about a room that a game may use when it is created.
#[derive(Debug, Clone)]
pub struct RoomInfo {
    /// The room's name.
    pub name: String,
    /// A seed for the game's random generator, derived from `game.seed` and the name.
    pub seed: u64,
    /// Ticks per second.
    pub rate_hz: u32,
}

/// Creates a game for each new room.
pub type GameFactory = Arc<dyn Fn(&RoomInfo) -> Box<dyn Game> + Send + Sync>;

/// The factory of the built-in arena game.
pub fn arena_factory() -> GameFactory {
    Arc::new(|room: &RoomInfo| Box::new(arena::Arena::new(arena::ArenaConfig::default(), room.seed)) as Box<dyn Game>)
}

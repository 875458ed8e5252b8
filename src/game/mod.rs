//! The seam a game developer implements: the [`Game`] trait, the state derives that write
//! its schema, entity writing and save/restore ([`GameState`]), and the demo [`arena`] game.
//!
//! A game is plain, deterministic Rust: no actix, no I/O, no clock. The world actor owns
//! one game per room and drives it through this trait in a fixed order every tick:
//! joins/leaves as they happen, then one input per player, then [`Game::step`], then
//! [`Game::write_state`]. Given the same calls, a game must produce the same states.

pub mod arena;
mod random;
mod replicated;
mod saved;
pub mod snapshot;

pub use random::SplitMix64;
pub use replicated::{Entity, EntityCollection, GameState, PlayerInput, WireValue};
pub use saved::{RestoreError, SaveFormat};
pub use snapshot::{RoomSnapshot, SnapshotPlayer, SNAPSHOT_VERSION};
/// The derives behind [`GameState`], [`Entity`], [`PlayerInput`] and [`SaveFormat`]
/// (the `tickcast-derive` crate: its docs list the attributes).
pub use tickcast_derive::{Entity, GameState, PlayerInput, SaveFormat};

use crate::protocol::{Event, GameConstant, PlayerId, Schema};
use crate::sync::EntityState;
/// Interest management's declarations (defined with the grid that uses them, in `sync`).
pub use crate::sync::{Interest, View};
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
    /// Where placed events happened: (index into `events`, x, y). `None` when the room
    /// has no interest management: every event then goes to every member.
    placed: Option<&'a mut Vec<(usize, [i32; 2])>>,
}

impl<'a> StepContext<'a> {
    /// A context for `tick`, collecting events into `events`.
    pub fn new(tick: u64, rate_hz: u32, events: &'a mut Vec<Event>) -> Self {
        StepContext { tick, dt: Duration::from_secs_f64(1.0 / rate_hz as f64), rate_hz, events, placed: None }
    }

    /// A context that also records where [`StepContext::emit_at`] events happened, into
    /// `placed` (the world does this for rooms with interest management).
    pub fn with_places(
        tick: u64,
        rate_hz: u32,
        events: &'a mut Vec<Event>,
        placed: &'a mut Vec<(usize, [i32; 2])>,
    ) -> Self {
        StepContext { placed: Some(placed), ..StepContext::new(tick, rate_hz, events) }
    }

    /// Emits a game event (delivered, in order, to every member of the room).
    /// `kind` indexes the schema's `event_kinds`.
    pub fn emit(&mut self, kind: u16, player: PlayerId, value: i32) {
        self.events.push(Event::Game { kind, player, value });
    }

    /// Emits a game event that happened at `(x, y)` (in the wire units of the entities'
    /// position fields, see [`Interest`]): in a room with interest management it goes
    /// only to the members who see that place, inside its cell's section; otherwise it
    /// is an [`StepContext::emit`].
    pub fn emit_at(&mut self, kind: u16, player: PlayerId, value: i32, x: i32, y: i32) {
        if let Some(placed) = self.placed.as_deref_mut() {
            placed.push((self.events.len(), [x, y]));
        }
        self.emit(kind, player, value);
    }
}

/// An authoritative game simulation for one room.
pub trait Game: Send + 'static {
    /// The game's schema; must be the same for every room of this game.
    fn schema(&self) -> Schema;

    /// The game's constants a client needs to predict it (sizes, speeds, radii, in the
    /// game's units), sent in Welcome from protocol version 2 on. Read once when a room
    /// is created. None by default.
    fn constants(&self) -> Vec<GameConstant> {
        Vec::new()
    }

    /// Where this game's entities are, if its rooms use interest management. Read once
    /// when a room is created, like the schema. `None` (the default): every member sees
    /// every entity, and the wire is Snapshot and Delta as for any small room.
    fn interest(&self) -> Option<Interest> {
        None
    }

    /// What `player` sees this tick, in a room with interest management (called after
    /// [`Game::step`], once per player per tick). `None`: only the room-wide entities
    /// and events (a player with no body yet, or dead). The default sees nothing.
    fn view(&self, player: PlayerId) -> Option<View> {
        let _ = player;
        None
    }

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

    /// Saves the game's whole state, so the room can be snapshotted (to Redis, every few
    /// seconds per room) and [`Game::restore`]d on another node after a failover.
    ///
    /// The bytes must hold everything later calls depend on: every entity, every
    /// player's state (position, score, the last input still acting, …), the random
    /// generator's state (see [`SplitMix64::state`]), and every counter that does not
    /// derive from the tick (id counters, cooldowns, timers). Anything fixed by the
    /// factory and the [`RoomInfo`] (configuration, rate) may be left out or only checked.
    /// Keep the bytes compact: [`crate::protocol::Writer`]'s varints, a format version
    /// first, no names or padding.
    ///
    /// `None` (the default) means the game does not support saving; its rooms cannot
    /// move to another node.
    fn save(&self) -> Option<Vec<u8>> {
        None
    }

    /// Replaces this game's whole state with one written by [`Game::save`].
    ///
    /// It is called on a freshly created game, made by the same factory with the same
    /// [`RoomInfo`], before any other call. Afterwards the same sequence of calls must
    /// produce the same states and events as the saved game would have produced: the
    /// restored game is indistinguishable from the original. Players in the saved state
    /// keep their ids; the caller then calls [`Game::disconnected`] for each of them
    /// (they are all between sessions after a failover), and `join` only for new ones.
    ///
    /// The bytes come from outside the process and may be truncated, corrupt or hostile:
    /// `restore` must never panic, never allocate from an unchecked length (bound every
    /// count, e.g. by the bytes left), refuse an unknown format version, and refuse
    /// values the game could not have reached (an `Err` with a clear reason). A restored
    /// state must not make a later call panic either. On `Err` the game should be left
    /// as it was (the built-in games do so).
    ///
    /// The default refuses: a game that does not implement [`Game::save`] cannot restore.
    fn restore(&mut self, saved: &[u8]) -> Result<(), String> {
        let _ = saved;
        Err("this game does not support restore".into())
    }
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
    /// The built-in arena's configuration for this room's kind (`game.arena.*` and
    /// `game.arena.presets`, resolved from the room's name); other games may ignore it.
    pub arena: crate::config::ArenaKind,
}

/// Creates a game for each new room.
pub type GameFactory = Arc<dyn Fn(&RoomInfo) -> Box<dyn Game> + Send + Sync>;

/// The factory of the built-in arena game.
pub fn arena_factory() -> GameFactory {
    Arc::new(|room: &RoomInfo| {
        Box::new(arena::Arena::new(arena::ArenaConfig::of_kind(&room.arena), room.seed)) as Box<dyn Game>
    })
}

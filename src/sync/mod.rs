//! State synchronisation, pure and deterministic: what a room's state is at one tick, how
//! two states become a compact delta, and how a player's inputs wait for the tick. How a
//! client rebuilds the state from what it got is the `tickcast-client` crate's `World`.
//!
//! No actix here, nothing blocks: the room actor asks [`FanOut`] what each member gets,
//! which encodes a body once per tick per distinct baseline and shares the bytes; a big
//! room (interest management) splits its state by [`Grid`] cell and asks
//! [`CellFanOut`] instead, which does the same per cell.

mod baseline;
mod cell_delta;
mod cells;
mod delta;
mod fanout;
mod input;
mod interest;
mod state;

pub use baseline::{History, UpdateBase};
pub use cell_delta::{encode_cell_delta, CELL_CHANGED, CELL_CREATED, CELL_EVENTS, CELL_REMOVED};
pub use cells::{Cell, CellHistory, CellPart, CellTick, Grid, Interest, RoomWideEvents, View};
pub use delta::{encode_delta, encode_events, encode_snapshot, DeltaStats};
pub use fanout::{Decision, EventLog, Eviction, FanOut, FanOutRules, MemberView};
pub use input::{InputQueue, InputValues, PushOutcome};
pub use interest::{CellFanOut, CellRules, FrameJob, FrameSink, SectionCounts, SectionScratch, Viewer};
pub use state::{EntityRef, EntityState};

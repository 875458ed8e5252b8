//! State synchronisation, pure and deterministic: what a room's state is at one tick, how
//! two states become a compact delta, and how a player's inputs wait for the tick. How a
//! client rebuilds the state from what it got is the `tickcast-client` crate's `World`.
//!
//! No actix here, nothing blocks: the room actor asks [`FanOut`] what each member gets,
//! which encodes a body once per tick per distinct baseline and shares the bytes.

mod baseline;
mod delta;
mod fanout;
mod input;
mod state;

pub use baseline::{History, UpdateBase};
pub use delta::{encode_delta, encode_events, encode_snapshot, DeltaStats};
pub use fanout::{Decision, EventLog, Eviction, FanOut, FanOutRules, MemberView};
pub use input::{InputQueue, InputValues, PushOutcome};
pub use state::{EntityRef, EntityState};

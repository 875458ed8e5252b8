//! The tickcast v1 wire protocol: every message a client and the server exchange.
//!
//! Both ends are built from these definitions and `docs/PROTOCOL.md` describes the same
//! bytes for people writing clients in other languages; golden vectors in `tests/vectors/`
//! pin them. The envelope of every message is bincode 2 with the standard configuration
//! (varint integers, zigzag for signed ones); the schema-driven entity body of state
//! updates is written by [`crate::sync`] with the same integer rules.
//!
//! This module is pure: no actix, no I/O. Decoding is hostile-input safe: it never panics,
//! it checks lengths before it allocates, and it returns a typed [`DecodeError`].

pub mod codec;
mod messages;
mod schema;

pub use codec::{DecodeError, Reader, Writer};
pub use messages::{
    close_code, update_frame, write_update_header, ClientMessage, Event, Notice, PlayerInfo, ServerMessage,
    UpdateHeader, Welcome, MESSAGE_DELTA, MESSAGE_NOTICE, MESSAGE_PONG, MESSAGE_SNAPSHOT, MESSAGE_WELCOME,
};
pub use schema::{EntityKind, FieldDef, InputField, Schema, SchemaError};

/// The WebSocket subprotocol a client must offer and the server answers with.
pub const SUBPROTOCOL: &str = "tickcast.v1";

/// Prefix of the subprotocol entry that carries a guest or game session token.
pub const TOKEN_PREFIX: &str = "tickcast.token.";

/// Prefix of the subprotocol entry that carries a resume token.
pub const RESUME_PREFIX: &str = "tickcast.resume.";

/// Prefix of the subprotocol entry that carries a seat reservation from `/api/matchmake`.
pub const SEAT_PREFIX: &str = "tickcast.seat.";

/// The protocol version carried in Welcome.
pub const PROTOCOL_VERSION: u16 = 1;

/// A player's id, unique within its room for the room's lifetime.
pub type PlayerId = u32;

/// An entity's id, unique within a room's state at one tick.
pub type EntityId = u32;

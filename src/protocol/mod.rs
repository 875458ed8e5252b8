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
    close_code, update_frame, write_cell_update_header, write_update_header, ClientMessage, Event, GameConstant,
    Notice, PlayerInfo, ServerMessage, UpdateHeader, Welcome, MESSAGE_CELL_UPDATE, MESSAGE_DELTA, MESSAGE_NOTICE,
    MESSAGE_PONG, MESSAGE_SNAPSHOT, MESSAGE_WELCOME,
};
pub use schema::{EntityKind, FieldDef, InputField, Schema, SchemaError, MAX_INPUT_FIELDS};

/// The WebSocket subprotocol of protocol version 1: every client may offer it, and a
/// client offering only it gets version 1 byte for byte.
pub const SUBPROTOCOL: &str = "tickcast.v1";

/// The subprotocol of protocol version 2 (version 1 plus the game's constants in
/// Welcome).
pub const SUBPROTOCOL_V2: &str = "tickcast.v2";

/// The subprotocol of protocol version 3 (version 2 plus the Cell update, tag 5, in
/// rooms with interest management).
pub const SUBPROTOCOL_V3: &str = "tickcast.v3";

/// A version of the wire protocol, named by its subprotocol `tickcast.v<N>`.
///
/// The rule for evolving it (`docs/PROTOCOL.md`, "Versions"): a new version only adds,
/// either fields at the end of a message (read when the Welcome's `protocol` says the
/// connection speaks that version) or new message tags, and never changes what the bytes
/// of an older version mean. A client lists the versions it speaks; the server answers
/// with the newest both know, and the Welcome's `protocol` names it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ProtocolVersion {
    /// The first version.
    V1 = 1,
    /// Version 1 plus `Welcome.constants`.
    V2 = 2,
    /// Version 2 plus the Cell update (tag 5) of rooms with interest management.
    V3 = 3,
}

impl ProtocolVersion {
    /// The newest version this build speaks.
    pub const NEWEST: ProtocolVersion = ProtocolVersion::V3;
    /// Every version this build speaks, oldest first.
    pub const ALL: [ProtocolVersion; 3] = [ProtocolVersion::V1, ProtocolVersion::V2, ProtocolVersion::V3];

    /// The number carried in Welcome's `protocol`.
    pub fn number(self) -> u16 {
        self as u16
    }

    /// The version numbered `n`, if this build speaks it.
    pub fn from_number(n: u16) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.number() == n)
    }

    /// Its WebSocket subprotocol.
    pub fn subprotocol(self) -> &'static str {
        match self {
            ProtocolVersion::V1 => SUBPROTOCOL,
            ProtocolVersion::V2 => SUBPROTOCOL_V2,
            ProtocolVersion::V3 => SUBPROTOCOL_V3,
        }
    }

    /// The version a subprotocol entry names, if this build speaks it.
    pub fn from_subprotocol(entry: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.subprotocol() == entry)
    }
}

/// Prefix of the subprotocol entry that carries a guest or game session token.
pub const TOKEN_PREFIX: &str = "tickcast.token.";

/// Prefix of the subprotocol entry that carries a resume token.
pub const RESUME_PREFIX: &str = "tickcast.resume.";

/// Prefix of the subprotocol entry that carries a seat reservation from `/api/matchmake`.
pub const SEAT_PREFIX: &str = "tickcast.seat.";

/// A player's id, unique within its room for the room's lifetime.
pub type PlayerId = u32;

/// An entity's id, unique within a room's state at one tick.
pub type EntityId = u32;

//! What a session needs of its connection, below the actors: the TCP socket handle (its
//! options, the kernel's view of it, tearing it down), the WebSocket layer over the
//! socket it owns after the upgrade (`ws`), and the slots that count open sessions per
//! node, per client IP and per token subject.
//!
//! No actix here: the HTTP layer creates these when a connection arrives and hands them
//! to the session actor, which drops them when it ends.

pub mod slots;
pub mod socket;
pub mod ws;

pub use slots::{ConnectionLimits, ConnectionSlot, SlotRefused, SubjectLimits, SubjectSlot};
pub use socket::SocketHandle;

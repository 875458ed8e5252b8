//! WebSocket (RFC 6455) over a TCP connection the server owns after the HTTP upgrade:
//! handing the socket over from the HTTP layer (`handoff`), the framing rules
//! (`frame`), the reader the session polls (`reader`) and the writer
//! its room writes tick frames through directly (`writer`).
//!
//! Why our own layer: the tick's hot path must do what a bare broadcaster does (one
//! vectored write per member from the room's thread), which no actix or WebSocket
//! crate's connection object allows, since each owns its socket behind a task. The
//! framing is small and pinned by the Autobahn|Testsuite run in CI (`docs/AUTOBAHN.md`).

pub mod frame;
pub mod handoff;
pub mod reader;
pub mod writer;

pub use frame::{CloseFrame, FrameError, FrameLimits, Message};
pub use reader::{ConnectionReader, ReadError};
pub use writer::{now_ms, ConnectionWriter, Outbound, Sent};

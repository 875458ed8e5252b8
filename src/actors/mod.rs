//! The actors: they move messages and own timing, never game rules.
//!
//! - [`world::WorldActor`] runs the fixed tick and every room's game (its own thread).
//! - [`room::RoomActor`] encodes each tick once and fans it out (room threads).
//! - [`session::SessionActor`] is one WebSocket connection (on its room's thread).
//! - [`placement`] is the seam players are placed through ([`placement::RoomDirectory`]);
//!   [`directory`] is a single node's directory, and [`pending_seats`] the seats it holds
//!   for matchmaking answers.
//! - [`link`] is the lock-free write state a room and a session share.
//! - [`creation`] limits who may create rooms, and how many.
//! - [`messages`] are every message the actors exchange.
//! - [`seating`] is a room's identity and the seat counters it shares with the directory.

pub mod creation;
pub mod directory;
pub mod link;
pub mod messages;
pub mod pending_seats;
pub mod placement;
pub mod room;
pub mod seating;
pub mod session;
pub mod world;

//! A Rust client for tickcast servers, for native games, bots and tools.
//!
//! - [`wire`]: the protocol's integers, read and written from `docs/PROTOCOL.md` alone.
//! - [`body`]: the pieces of every update body (schema, entities, changes, events).
//! - [`message`]: every server message decoded, every client message encoded.
//! - [`world`]: a set of entities kept from Snapshots and Deltas.
//! - [`cells`]: the Cell update of protocol version 3 (big rooms with interest
//!   management): the sections per cell of the world's grid, and the dropped cells.
//! - [`room`]: [`RoomState`], a room of either kind: the room-wide part as a [`World`],
//!   the cells of a big room, and the merged view of every entity the player sees.
//! - [`connection`]: a session over a WebSocket: token, matchmaking, handshake, inputs
//!   with sequence numbers and their acknowledgement, pings, the RTT and clock offset.
//! - [`player`]: a player kept in the game across dropped connections: resume with
//!   backoff and jitter on the documented close codes, 4421 redirects, rejoin when a
//!   resume is refused.
//!
//! The crate does not depend on the server: its decoder is the second, independent
//! implementation of the protocol, checked against the golden vectors of
//! `tests/vectors/` like the server's encoder.
//!
//! ```no_run
//! # async fn run() -> Result<(), tickcast_client::connection::ConnectError> {
//! use tickcast_client::connection::{guest_token, Connection};
//! let token = guest_token("http://127.0.0.1:8080", "bot").await?;
//! let mut game = Connection::join("ws://127.0.0.1:8080/ws?room=lobby", &token).await?;
//! println!("player {} in {}", game.welcome.player_id, game.welcome.room);
//! game.send_input(&[1, 0, 0]).await?;
//! let update = game.next_update().await?;
//! // The entities the player sees, in any room (a big room's cells merged).
//! println!("tick {}: {} entities", update.tick, game.world.entities.len());
//! # Ok(()) }
//! ```

pub mod body;
pub mod cells;
pub mod connection;
pub mod message;
pub mod player;
pub mod room;
pub mod wire;
pub mod world;

#[cfg(test)]
mod test_encoder;

pub use cells::{CellId, CellSection, Cells, IndexedChange, SectionBody};
pub use connection::{ConnectError, Connection};
pub use message::{ClientMessage, Event, Schema, ServerMessage, Update, Welcome};
pub use player::{Player, PlayerOptions};
pub use room::{CellCopy, RoomState};
pub use world::World;

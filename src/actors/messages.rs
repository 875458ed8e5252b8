//! The messages the actors exchange, in one place: what the world is told (rooms and
//! players coming and going, chat, hand-off) and tells each room (`TickState`), and what
//! rooms and sessions tell each other (joining, frames, closes, evictions) or the admin
//! API asks a room. Plain data with their reply types; the actors handle them.

use super::link::MemberLink;
use super::seating::{RoomId, SeatGuard};
use crate::game::{Game, View};
use crate::net::SubjectSlot;
use crate::protocol::{Event, PlayerId, ProtocolVersion, Schema};
use crate::sync::{EntityState, InputQueue};
use crate::tokens::ResumeClaim;
use actix::{Message, Recipient};
use std::net::IpAddr;
use std::sync::Arc;

// --- to the world ----------------------------------------------------------------------

/// Adds a room and its game: a fresh one, or one restored from a snapshot.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AddRoom {
    /// The room's id.
    pub id: RoomId,
    /// Its game.
    pub game: Box<dyn Game>,
    /// Its actor, which receives each tick's state.
    pub room: Recipient<TickState>,
    /// The tick the room continues from (0 for a new room).
    pub tick: u64,
    /// Players already in a restored game (not joined again; told they are disconnected).
    pub players: Vec<(PlayerId, String, Arc<InputQueue>)>,
    /// Save the whole game every this many ticks (cluster mode).
    pub snapshot_every_ticks: Option<u64>,
}

/// A game's saved state and its players, for a room snapshot (see [`Game::save`]).
#[derive(Debug)]
pub struct SavedGame {
    /// The players in the game, with their names.
    pub players: Vec<(PlayerId, String)>,
    /// [`Game::save`]'s bytes.
    pub game: Vec<u8>,
}

/// Drops a disposed room's game.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RemoveRoom {
    /// The room's id.
    pub id: RoomId,
}

/// A player enters a room's game (a Joined event follows in the next tick).
#[derive(Message)]
#[rtype(result = "()")]
pub struct PlayerJoin {
    /// The room.
    pub room: RoomId,
    /// The player.
    pub player: PlayerId,
    /// Its display name.
    pub name: String,
    /// Its input queue, shared with its session.
    pub inputs: Arc<InputQueue>,
}

/// A player leaves a room's game for good.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PlayerLeave {
    /// The room.
    pub room: RoomId,
    /// The player.
    pub player: PlayerId,
}

/// A player's connection dropped (it is in its reconnect grace window).
#[derive(Message)]
#[rtype(result = "()")]
pub struct PlayerDisconnected {
    /// The room.
    pub room: RoomId,
    /// The player.
    pub player: PlayerId,
}

/// A player (resumed) gets a new input queue.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReplaceInputs {
    /// The room.
    pub room: RoomId,
    /// The player.
    pub player: PlayerId,
    /// The new queue.
    pub inputs: Arc<InputQueue>,
}

/// A chat line for a room (refused when the tick's event budget is spent).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ChatLine {
    /// The room.
    pub room: RoomId,
    /// Who said it.
    pub player: PlayerId,
    /// What was said.
    pub text: String,
}

/// Takes a room out of the world for a hand-off to another node (polite shutdown in
/// cluster mode): its game is saved at its last tick and stops ticking here. Answers the
/// tick and the saved game, or `None` if the room is unknown or its game cannot save.
#[derive(Message)]
#[rtype(result = "Option<(u64, SavedGame)>")]
pub struct HandOffRoom {
    /// The room.
    pub id: RoomId,
}

/// Asks the world to stop ticking (shutdown).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopWorld;

// --- from the world to a room ---------------------------------------------------------

/// One tick's result for a room, from the world (the world does not know the room
/// actor, only this message's recipient).
#[derive(Message)]
#[rtype(result = "()")]
pub struct TickState {
    /// The room's tick.
    pub tick: u64,
    /// The replicated state after the tick.
    pub state: Arc<EntityState>,
    /// Last applied input sequence per player, sorted by player id.
    pub acks: Vec<(PlayerId, u32)>,
    /// The tick's events, in order.
    pub events: Vec<Event>,
    /// Rooms with interest management: where placed events happened (index into
    /// `events`, position; see `StepContext::emit_at`), in event order.
    pub placed: Vec<(usize, [i32; 2])>,
    /// Rooms with interest management: what each player sees (`Game::view`), sorted by
    /// player id. Empty for other rooms.
    pub views: Vec<(PlayerId, Option<View>)>,
    /// Server wall clock (µs since the Unix epoch) when the tick was computed.
    pub server_time_us: u64,
    /// The whole game state after this tick, every `cluster.snapshot_interval_s` in
    /// cluster mode.
    pub saved: Option<SavedGame>,
    /// When the world had computed the tick: the fan-out's latency is measured from it.
    pub computed_at: std::time::Instant,
}

// --- between rooms, sessions and the admin API ----------------------------------------

/// What a room tells a session.
#[derive(Message, Debug, Clone)]
#[rtype(result = "()")]
pub enum ToSession {
    /// Evict a member that stopped reading: its socket cannot take a close frame, so
    /// the session tries one (1008 with `reason`) and resets the connection at once.
    Evict {
        /// Why.
        reason: String,
    },
    /// Close the session with this code and reason (a close frame; the socket is not
    /// reset).
    Close {
        /// A close code from `protocol::close_code`.
        code: u16,
        /// Why.
        reason: String,
    },
}

/// A session asks to join (or, with `resume`, to take back its player).
#[derive(Message)]
#[rtype(result = "Result<Joined, JoinRefused>")]
pub struct Join {
    /// Where to send frames.
    pub session: Recipient<ToSession>,
    /// The session's write state.
    pub link: Arc<MemberLink>,
    /// Display name.
    pub name: String,
    /// The seat reserved for this player (unused on resume).
    pub seat: Option<SeatGuard>,
    /// The player to resume, from a verified resume token.
    pub resume: Option<ResumeClaim>,
    /// The token subject (`Identity::subject`) of a new player, what an admin ban keys
    /// on; `None` on resume (the member keeps its own) or without a token.
    pub subject: Option<String>,
    /// The client's IP (a ban also bans it for `security.ban_ip_s`).
    pub ip: Option<IpAddr>,
    /// The new player's count against `security.max_sessions_per_token`, kept by the
    /// member until it is removed.
    pub slot: Option<SubjectSlot>,
    /// The protocol version the connection speaks (its Welcome is encoded in it).
    pub version: ProtocolVersion,
}

/// A successful join.
#[derive(Debug)]
pub struct Joined {
    /// The player's id.
    pub player: PlayerId,
    /// The queue the session pushes inputs into.
    pub inputs: Arc<InputQueue>,
    /// The game's schema the player's inputs are checked against: the room's own, shared
    /// by every session of the room rather than copied into each.
    pub schema: Arc<Schema>,
}

/// Why a join was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinRefused {
    /// Close code to use.
    pub code: u16,
    /// Reason.
    pub reason: String,
}

/// A session ended.
#[derive(Message)]
#[rtype(result = "()")]
pub struct SessionEnded {
    /// The player.
    pub player: PlayerId,
    /// The ended session's link (ignored if the player already has another session).
    pub link: Arc<MemberLink>,
    /// True for an explicit Leave: no grace window.
    pub left: bool,
}

/// The session of a player that sent Leave asks the room to remove it **before** it
/// answers the client: once the client has its close 1000 `left`, no resume token of
/// that player works any more. The room answers once the player is gone (its Left event
/// queued, its seat freed); the session's later [`SessionEnded`] then finds nothing.
#[derive(Message)]
#[rtype(result = "()")]
pub struct LeaveRoom {
    /// The player.
    pub player: PlayerId,
    /// The leaving session's link (ignored if a newer session owns the player).
    pub link: Arc<MemberLink>,
}

/// Who [`ClosePlayer`] closed: what an admin ban needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosedMember {
    /// Display name.
    pub name: String,
    /// Token subject; `None` for a player restored from a cluster snapshot (the
    /// snapshot does not carry it) or one that joined without a token.
    pub subject: Option<String>,
    /// The client IP of its last session, if known.
    pub ip: Option<IpAddr>,
}

/// Closes a player's session with the given code (admin kick, tests). Answers who was
/// closed, or `None` if the player is not in the room.
#[derive(Message)]
#[rtype(result = "Option<ClosedMember>")]
pub struct ClosePlayer {
    /// The player.
    pub player: PlayerId,
    /// Close code.
    pub code: u16,
    /// Reason.
    pub reason: String,
    /// Remove the player at once instead of keeping it for the grace window.
    pub remove: bool,
}

/// One member, for the admin API and tests.
#[derive(Debug, Clone, serde::Serialize)]
pub struct MemberInfo {
    /// Player id.
    pub player: PlayerId,
    /// Display name.
    pub name: String,
    /// True while a session is attached (false in the grace window).
    pub connected: bool,
    /// Last tick handed to its socket.
    pub baseline: u64,
    /// Bytes waiting for its connection.
    pub pending_bytes: u64,
    /// Ticks it could not take.
    pub skipped_ticks: u64,
    /// Last round-trip time in µs.
    pub rtt_us: u64,
}

/// Closes every session of the room with `code` (server shutdown); players stay.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct CloseAll {
    /// Close code.
    pub code: u16,
    /// Reason.
    pub reason: String,
}

/// Stops the room at once (its cluster lease is lost or about to be): every session is
/// closed with `code` so clients reconnect through matchmaking; the game is dropped.
#[derive(Message, Clone)]
#[rtype(result = "()")]
pub struct StopRoom {
    /// Close code (1012: reconnect).
    pub code: u16,
    /// Reason.
    pub reason: String,
}

/// Asks a room to make its snapshot bytes from the world's saved game at `tick` (a
/// hand-off's final snapshot; periodic ones are made on the tick).
#[derive(Message)]
#[rtype(result = "Vec<u8>")]
pub struct EncodeSnapshot {
    /// The tick the game was saved at.
    pub tick: u64,
    /// The game and its players, from the world.
    pub saved: SavedGame,
}

/// Lists the room's members.
#[derive(Message)]
#[rtype(result = "Vec<MemberInfo>")]
pub struct ListMembers;

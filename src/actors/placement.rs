//! The placement seam: what a player asks for ([`PlacementRequest`]), where it is placed
//! ([`Placement`]), and the [`RoomDirectory`] every directory answers through. The HTTP
//! layer checks who the player is and makes one call; the directory decides the rest: a
//! single node's [`super::directory::LocalDirectory`] at once, a cluster node's
//! `cluster::ClusterDirectory` through Redis (with its rules for seats held there).
//!
//! What a room reports back to the directory that made it (disposal, snapshots) is a
//! separate, smaller trait, [`RoomReports`]: nobody who places players needs it.

use super::creation::CreationRefused;
pub use super::creation::Requester;
use super::room::{RoomActor, RoomHooks};
use super::seating::{seat_nonce, RoomId, RoomShared, RoomUid, SeatGuard};
use crate::tokens::SeatClaim;
use actix::{Addr, ArbiterHandle};
use futures_util::future::BoxFuture;
use serde::Serialize;
use std::fmt;
use std::sync::{Arc, Weak};

/// How to reach a room.
#[derive(Clone)]
pub struct RoomHandle {
    /// Process-unique id.
    pub id: RoomId,
    /// Cluster-wide id (what resume tokens name).
    pub uid: RoomUid,
    /// The room's name.
    pub name: Arc<str>,
    /// The room actor.
    pub addr: Addr<RoomActor>,
    /// The room thread the room runs on: its members' sessions run there too, so a tick's
    /// reads and writes of the room's sockets happen on one thread (see
    /// `http::upgrade`).
    pub thread: ArbiterHandle,
    /// Shared counters.
    pub shared: Arc<RoomShared>,
}

impl fmt::Debug for RoomHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoomHandle").field("id", &self.id).field("name", &self.name).finish()
    }
}

/// A seat reserved in a room.
#[derive(Debug)]
pub struct Reservation {
    /// Where the seat is.
    pub room: RoomHandle,
    /// The seat itself.
    pub seat: SeatGuard,
}

/// Why no seat could be reserved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlacementError {
    /// The named room has no free seat (close 4409).
    RoomFull,
    /// The room name is not acceptable (HTTP 400).
    BadName(String),
    /// This node hosts `room.max_rooms` rooms already (HTTP 503).
    TooManyRooms,
    /// The requester's IP created `room.max_open_per_ip` rooms that are still open
    /// (HTTP 429).
    TooManyOpenRooms,
    /// The requester (its IP, or its token's identity) created rooms faster than
    /// `room.create_per_minute` (HTTP 429).
    CreatingTooFast,
    /// The cluster directory (Redis) cannot be reached: no new placements (HTTP 503).
    Unavailable(String),
    /// This node holds `limits.max_connections` matchmade seats already (HTTP 503).
    TooManyPendingSeats,
}

impl fmt::Display for PlacementError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlacementError::RoomFull => f.write_str("room is full"),
            PlacementError::BadName(why) => write!(f, "invalid room name: {why}"),
            PlacementError::TooManyRooms => {
                f.write_str("server hosts its maximum number of rooms (room.max_rooms): try again later")
            }
            PlacementError::TooManyOpenRooms => {
                f.write_str("too many open rooms created from this address (room.max_open_per_ip)")
            }
            PlacementError::CreatingTooFast => f.write_str("rooms created too fast (room.create_per_minute)"),
            PlacementError::Unavailable(why) => write!(f, "cluster directory unavailable: {why}"),
            PlacementError::TooManyPendingSeats => f.write_str("too many pending seat reservations"),
        }
    }
}

impl From<CreationRefused> for PlacementError {
    fn from(refused: CreationRefused) -> Self {
        match refused {
            CreationRefused::TooManyOpen => PlacementError::TooManyOpenRooms,
            CreationRefused::TooFast => PlacementError::CreatingTooFast,
        }
    }
}

impl PlacementError {
    /// A short label for metrics (handshake and matchmaking refusals).
    pub fn label(&self) -> &'static str {
        match self {
            PlacementError::RoomFull => "room_full",
            PlacementError::BadName(_) => "bad_request",
            PlacementError::TooManyRooms => "max_rooms",
            PlacementError::TooManyOpenRooms => "max_open_per_ip",
            PlacementError::CreatingTooFast => "create_per_minute",
            PlacementError::Unavailable(_) => "unavailable",
            PlacementError::TooManyPendingSeats => "pending_seats",
        }
    }
}

/// One row of `GET /api/rooms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RoomListing {
    /// The room's name.
    pub name: String,
    /// Seats taken.
    pub players: usize,
    /// Seats in all.
    pub capacity: usize,
    /// The room's last tick.
    pub tick: u64,
    /// The node running it (`cluster.node_id`; "local" on a single node without one).
    pub node: String,
}

/// Another node owns the room, or will create it when the player arrives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redirect {
    /// The room.
    pub room: String,
    /// The node's id.
    pub node: String,
    /// The node's `cluster.public_url`.
    pub base_url: String,
    /// The nonce of the seat held in the room for this player (in Redis, see
    /// `cluster::Store::take_seat`); a fresh one, held nowhere, when none is.
    pub seat: u64,
}

impl Redirect {
    /// Sends the player to `room` on `node` (at `base_url`) with no seat held.
    pub fn new(room: String, node: String, base_url: String) -> Self {
        Redirect { room, node, base_url, seat: seat_nonce() }
    }

    /// The WebSocket URL that joins the room on its node.
    pub fn ws_url(&self) -> String {
        format!("{}/ws?room={}", self.base_url, self.room)
    }
}

/// What the client asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// Room `name`, created on demand (`/ws?room=NAME`).
    Named(String),
    /// Join-or-create (`/ws` without a room): the fullest matchmade room with a free
    /// seat, else a new one.
    Any,
    /// The seat a matchmaker's seat token names (`tickcast.seat.*`, verified by the
    /// caller): its room, the nonce it may be held under (on this node, or in Redis),
    /// and whether join-or-create gave it (then any open room will do if it filled).
    Seat(SeatClaim),
}

/// A placement to make: what it is for, what the client asked for, and who asks (a
/// room created for it is counted against the [`Requester`]: `room.create_per_minute`,
/// `room.max_open_per_ip`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlacementRequest {
    /// A session starting now (`/ws`): a seat here is taken for it
    /// ([`Placement::Here`]), or the client is sent to the node that runs the room.
    Join {
        /// The room asked for.
        ask: Ask,
        /// Who asks.
        who: Requester,
    },
    /// `GET /api/matchmake[?room=NAME]` (`None`: join-or-create): a seat here is held
    /// for the seat token the answer carries ([`Placement::Held`]) until the client
    /// arrives with it or `cluster.seat_ttl_s` passes.
    Matchmake {
        /// The room asked for.
        room: Option<String>,
        /// Who asks.
        who: Requester,
    },
}

/// A seat held on this node for a matchmaking answer's seat token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldSeat {
    /// The room it is in.
    pub room: String,
    /// The nonce the seat token names.
    pub nonce: u64,
}

/// Where a player is placed.
#[derive(Debug)]
pub enum Placement {
    /// A seat in a room of this node, taken for the session starting now (the answer
    /// to [`PlacementRequest::Join`]).
    Here(Reservation),
    /// A seat in a room of this node, held for a seat token (the answer to
    /// [`PlacementRequest::Matchmake`]).
    Held(HeldSeat),
    /// The room is on another node: send the player there.
    Elsewhere(Redirect),
}

/// Where a resuming player's room is.
#[derive(Debug)]
pub enum Located {
    /// On this node (possibly just restored from its snapshot).
    Here(RoomHandle),
    /// On another node.
    Elsewhere(Redirect),
    /// Nowhere: disposed, or lost with no snapshot.
    Gone,
}

/// Where rooms live and how players are placed in them.
pub trait RoomDirectory: Send + Sync + 'static {
    /// Places a player as `request` asks: a seat taken or held here, or the node to go
    /// to. In a cluster the room may be on another node, and seats are held in Redis
    /// for players on their way (see docs/CLUSTER.md, Placement).
    fn place(&self, request: PlacementRequest) -> BoxFuture<'_, Result<Placement, PlacementError>>;

    /// Finds room `name` (the one a resume token names, when `uid` is given) without
    /// taking a seat; in a cluster, a room whose node died is restored here from its
    /// snapshot.
    fn locate<'a>(&'a self, name: &'a str, uid: Option<RoomUid>) -> BoxFuture<'a, Result<Located, PlacementError>>;

    /// Every room (of the whole cluster, in cluster mode).
    fn list(&self) -> BoxFuture<'_, Result<Vec<RoomListing>, PlacementError>>;

    /// The room named `name` on this node, if it runs here.
    fn find(&self, name: &str) -> Option<RoomHandle>;

    /// Handles of the rooms running in this process.
    fn local_rooms(&self) -> Vec<RoomHandle>;
}

/// What a room reports to the directory that made it, through its [`RoomHooks`].
pub trait RoomReports: Send + Sync + 'static {
    /// Removes room `id` if no seat is taken; true if it was removed. Called by the room
    /// when it has been empty for `room.empty_ttl_s` (`room.abandoned_ttl_s` if nobody
    /// ever stayed in it).
    fn dispose_if_unused(&self, id: RoomId) -> bool;

    /// Takes room `id`'s latest snapshot (`game::RoomSnapshot` bytes). Called on the
    /// room's thread: must not block. A single node keeps none.
    fn save_snapshot(&self, id: RoomId, snapshot: Vec<u8>) {
        let _ = (id, snapshot);
    }
}

/// Room hooks reporting to `reports`: a room whose directory is gone may stop, and its
/// snapshots go nowhere.
pub fn room_hooks(reports: Weak<dyn RoomReports>) -> RoomHooks {
    let for_snapshots = reports.clone();
    RoomHooks {
        dispose_if_unused: Box::new(move |id| reports.upgrade().is_none_or(|d| d.dispose_if_unused(id))),
        save_snapshot: Box::new(move |id, bytes| {
            if let Some(d) = for_snapshots.upgrade() {
                d.save_snapshot(id, bytes);
            }
        }),
    }
}

/// Checks a room name: 1..=max bytes of `[A-Za-z0-9_-]`.
pub fn check_room_name(name: &str, max: usize) -> Result<(), PlacementError> {
    if name.is_empty() || name.len() > max {
        return Err(PlacementError::BadName(format!("length must be 1..={max}")));
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return Err(PlacementError::BadName("only letters, digits, '-' and '_' are allowed".into()));
    }
    Ok(())
}

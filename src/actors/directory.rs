//! Room placement: which rooms exist, how many seats each has taken, and where a new
//! player goes. Seats are reserved atomically (under one lock) before the WebSocket
//! upgrade completes, so simultaneous joins never overfill a room.
//!
//! [`RoomDirectory`] is the seam a distributed directory will implement; [`LocalDirectory`]
//! is the in-process one. The lock is held only for map operations, never across an
//! await or a message send that could wait.

use super::room::{RoomActor, RoomParts};
use super::world::{AddRoom, WorldActor};
use crate::config::Settings;
use crate::game::{GameFactory, RoomInfo};
use crate::http::tokens::TokenKeys;
use actix::{Actor, Addr, ArbiterHandle};
use parking_lot::Mutex;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};

/// A room's id, unique for the process's lifetime (names can be reused after disposal).
pub type RoomId = u64;

/// Counters of one room shared by the directory, the room and seat reservations.
#[derive(Debug, Default)]
pub struct RoomShared {
    /// Seats taken: members, players in their grace window, and pending reservations.
    pub seats: AtomicUsize,
    /// Members with a live session.
    pub connected: AtomicUsize,
    /// The room's last tick.
    pub tick: AtomicU64,
}

/// How to reach a room.
#[derive(Clone)]
pub struct RoomHandle {
    /// Process-unique id.
    pub id: RoomId,
    /// The room's name.
    pub name: Arc<str>,
    /// The room actor.
    pub addr: Addr<RoomActor>,
    /// Shared counters.
    pub shared: Arc<RoomShared>,
}

impl fmt::Debug for RoomHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RoomHandle").field("id", &self.id).field("name", &self.name).finish()
    }
}

/// A reserved seat. Dropped without [`SeatGuard::commit`], it frees the seat again.
#[derive(Debug)]
pub struct SeatGuard {
    shared: Arc<RoomShared>,
    committed: bool,
}

impl SeatGuard {
    /// The seat now belongs to a room member; the room frees it when the player goes.
    pub fn commit(mut self) {
        self.committed = true;
    }
}

impl Drop for SeatGuard {
    fn drop(&mut self) {
        if !self.committed {
            self.shared.seats.fetch_sub(1, Ordering::AcqRel);
        }
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
}

impl fmt::Display for PlacementError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PlacementError::RoomFull => f.write_str("room is full"),
            PlacementError::BadName(why) => write!(f, "invalid room name: {why}"),
            PlacementError::TooManyRooms => f.write_str("server hosts its maximum number of rooms"),
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
}

/// Where rooms live and how players are placed in them.
pub trait RoomDirectory: Send + Sync + 'static {
    /// Reserves a seat in room `name` (created on demand), or with `None` by
    /// join-or-create matchmaking: the fullest matchmade room with a free seat, else a
    /// new one.
    fn reserve(&self, name: Option<&str>) -> Result<Reservation, PlacementError>;

    /// The room named `name`, if it exists.
    fn find(&self, name: &str) -> Option<RoomHandle>;

    /// Every room.
    fn list(&self) -> Vec<RoomListing>;

    /// Handles of the rooms running in this process.
    fn local_rooms(&self) -> Vec<RoomHandle>;

    /// Removes room `id` if no seat is taken; true if it was removed. Called by the room
    /// when it has been empty for `room.empty_ttl_s`.
    fn dispose_if_unused(&self, id: RoomId) -> bool;
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

struct Entry {
    handle: RoomHandle,
    matchmade: bool,
}

struct Rooms {
    by_name: BTreeMap<Arc<str>, Entry>,
    next_id: RoomId,
}

/// The in-process directory: rooms of this node only.
pub struct LocalDirectory {
    me: Weak<LocalDirectory>,
    rooms: Mutex<Rooms>,
    settings: Arc<Settings>,
    world: Addr<WorldActor>,
    room_arbiters: Vec<ArbiterHandle>,
    factory: GameFactory,
    keys: TokenKeys,
}

impl LocalDirectory {
    /// A directory creating rooms on `room_arbiters` (round robin) whose games run in
    /// `world`.
    pub fn new(
        settings: Arc<Settings>,
        world: Addr<WorldActor>,
        room_arbiters: Vec<ArbiterHandle>,
        factory: GameFactory,
        keys: TokenKeys,
    ) -> Arc<Self> {
        assert!(!room_arbiters.is_empty(), "at least one room arbiter");
        Arc::new_cyclic(|me| LocalDirectory {
            me: me.clone(),
            rooms: Mutex::new(Rooms { by_name: BTreeMap::new(), next_id: 1 }),
            settings,
            world,
            room_arbiters,
            factory,
            keys,
        })
    }

    fn capacity(&self) -> usize {
        self.settings.room.max_players
    }

    /// Creates a room (lock held by the caller): its game, its actor, its world entry.
    fn create(&self, rooms: &mut Rooms, name: Arc<str>, matchmade: bool) -> Result<RoomHandle, PlacementError> {
        if rooms.by_name.len() >= self.settings.room.max_rooms {
            return Err(PlacementError::TooManyRooms);
        }
        let id = rooms.next_id;
        rooms.next_id += 1;
        let info = RoomInfo {
            name: name.to_string(),
            seed: room_seed(self.settings.game.seed, &name),
            rate_hz: self.settings.tick.rate_hz,
        };
        let game = (self.factory)(&info);
        let schema = Arc::new(game.schema());
        let shared = Arc::new(RoomShared::default());
        let directory: Weak<dyn RoomDirectory> = self.me.clone();
        let arbiter = &self.room_arbiters[(id as usize) % self.room_arbiters.len()];
        let (settings, world, room_name, room_shared, keys) =
            (self.settings.clone(), self.world.clone(), name.clone(), shared.clone(), self.keys.clone());
        let addr = RoomActor::start_in_arbiter(arbiter, move |_| {
            RoomActor::new(RoomParts {
                id,
                name: room_name,
                schema,
                settings,
                world,
                directory,
                shared: room_shared,
                keys,
            })
        });
        // Sent before any session can learn of the room, so the world knows it first.
        self.world.do_send(AddRoom { id, game, room: addr.clone() });
        let handle = RoomHandle { id, name: name.clone(), addr, shared };
        rooms.by_name.insert(name, Entry { handle: handle.clone(), matchmade });
        tracing::info!(room = %handle.name, id, "room created");
        Ok(handle)
    }

    fn take_seat(&self, handle: &RoomHandle) -> Reservation {
        handle.shared.seats.fetch_add(1, Ordering::AcqRel);
        Reservation { room: handle.clone(), seat: SeatGuard { shared: handle.shared.clone(), committed: false } }
    }
}

impl RoomDirectory for LocalDirectory {
    fn reserve(&self, name: Option<&str>) -> Result<Reservation, PlacementError> {
        let capacity = self.capacity();
        let mut rooms = self.rooms.lock();
        match name {
            Some(name) => {
                check_room_name(name, self.settings.room.max_name_bytes)?;
                if let Some(entry) = rooms.by_name.get(name) {
                    if entry.handle.shared.seats.load(Ordering::Acquire) >= capacity {
                        return Err(PlacementError::RoomFull);
                    }
                    return Ok(self.take_seat(&entry.handle));
                }
                let handle = self.create(&mut rooms, Arc::from(name), false)?;
                Ok(self.take_seat(&handle))
            }
            None => {
                let fullest = rooms
                    .by_name
                    .values()
                    .filter(|e| e.matchmade)
                    .map(|e| (e.handle.shared.seats.load(Ordering::Acquire), e))
                    .filter(|(seats, _)| *seats < capacity)
                    .max_by_key(|(seats, e)| (*seats, std::cmp::Reverse(e.handle.id)))
                    .map(|(_, e)| e.handle.clone());
                let handle = match fullest {
                    Some(h) => h,
                    None => {
                        let mut n = rooms.next_id;
                        let name = loop {
                            let candidate = format!("mm-{n}");
                            if !rooms.by_name.contains_key(candidate.as_str()) {
                                break candidate;
                            }
                            n += 1;
                        };
                        self.create(&mut rooms, Arc::from(name.as_str()), true)?
                    }
                };
                Ok(self.take_seat(&handle))
            }
        }
    }

    fn find(&self, name: &str) -> Option<RoomHandle> {
        self.rooms.lock().by_name.get(name).map(|e| e.handle.clone())
    }

    fn list(&self) -> Vec<RoomListing> {
        let capacity = self.capacity();
        self.rooms
            .lock()
            .by_name
            .values()
            .map(|e| RoomListing {
                name: e.handle.name.to_string(),
                players: e.handle.shared.seats.load(Ordering::Acquire),
                capacity,
                tick: e.handle.shared.tick.load(Ordering::Acquire),
            })
            .collect()
    }

    fn local_rooms(&self) -> Vec<RoomHandle> {
        self.rooms.lock().by_name.values().map(|e| e.handle.clone()).collect()
    }

    fn dispose_if_unused(&self, id: RoomId) -> bool {
        let mut rooms = self.rooms.lock();
        let Some(name) = rooms.by_name.iter().find(|(_, e)| e.handle.id == id).map(|(n, _)| n.clone()) else {
            return true;
        };
        if rooms.by_name[&name].handle.shared.seats.load(Ordering::Acquire) != 0 {
            return false;
        }
        rooms.by_name.remove(&name);
        tracing::info!(room = %name, id, "room disposed");
        true
    }
}

/// Mixes the configured seed with the room name (FNV-1a), so each room differs but is
/// reproducible.
pub fn room_seed(seed: u64, name: &str) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64 ^ seed;
    for b in name.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

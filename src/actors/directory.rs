//! Room placement on one node: which rooms exist, how many seats each has taken, and
//! where a new player goes. Seats are reserved atomically (under one lock) before the
//! WebSocket upgrade completes, so simultaneous joins never overfill a room.
//!
//! [`RoomDirectory`] (in `placement`, re-exported here) is the seam: [`LocalDirectory`]
//! is the in-process one (a single node), and `cluster::ClusterDirectory` wraps it to
//! share rooms between nodes through Redis. Placement may need a network round trip in
//! a cluster, so placing returns a future; the local one answers at once. The lock is
//! held only for map operations, never across an await or a message send that could
//! wait.

use super::creation::CreationLimits;
pub use super::creation::Requester;
use super::pending_seats::PendingSeats;
pub use super::placement::{
    check_room_name, room_hooks, Ask, HeldSeat, Located, Placement, PlacementError, PlacementRequest, Redirect,
    Reservation, RoomDirectory, RoomHandle, RoomListing, RoomReports,
};
use super::room::{RestoredMembers, RoomActor, RoomParts, StopRoom};
pub use super::seating::{seat_nonce, RoomId, RoomShared, RoomUid, SeatGuard};
use super::world::{AddRoom, RemoveRoom, WorldActor};
use crate::config::Settings;
use crate::game::SnapshotPlayer;
use crate::game::{Game, GameFactory, RoomInfo};
use crate::protocol::PlayerId;
use crate::sync::{Grid, InputQueue};
use crate::tokens::TokenKeys;
use actix::{Actor, Addr, ArbiterHandle};
use futures_util::future::BoxFuture;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

/// A restored game and the players it holds, to start a room from a snapshot.
pub struct Restore {
    /// The snapshot's tick; the room continues from it.
    pub tick: u64,
    /// The next player id the room hands out (above every id it ever gave).
    pub next_player: PlayerId,
    /// The players, all between sessions (in their grace window).
    pub players: Vec<SnapshotPlayer>,
    /// The game, already restored.
    pub game: Box<dyn Game>,
}

/// What a new room is made from.
pub struct RoomSpec {
    /// Its name.
    pub name: Arc<str>,
    /// Its cluster-wide id; `None` on a single node (the local id is used).
    pub uid: Option<RoomUid>,
    /// This incarnation of the room: the fencing number of the cluster lease it runs
    /// under (0 on a single node). Players who join get it in their resume tokens.
    pub epoch: u64,
    /// Created by join-or-create matchmaking.
    pub matchmade: bool,
    /// A snapshot to continue from.
    pub restore: Option<Restore>,
    /// Who the room is created for: checked against and counted in the creation limits.
    /// `None` for rooms nobody asked to create here (restores, adoptions, pending leases
    /// another node's matchmaker opened and counted).
    pub creator: Option<Requester>,
    /// Where the room reports disposal and snapshots; `None`: to this directory. (The
    /// cluster directory passes its own: rooms get their callbacks when they are made,
    /// and no directory points back at the one wrapping it.)
    pub hooks: Option<super::room::RoomHooks>,
}

struct Entry {
    handle: RoomHandle,
    matchmade: bool,
    /// The IP whose open rooms this one counts in, until it is removed.
    creator_ip: Option<IpAddr>,
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
    node: String,
    snapshot_every_ticks: Option<u64>,
    creation: CreationLimits,
    /// Seats held here for the seat tokens of `/api/matchmake` answers.
    pending: PendingSeats,
    /// The threads big rooms spread their ticks over, made when the first one starts
    /// (`server.room_threads` > 1; none otherwise).
    cell_pool: OnceLock<Option<Arc<rayon::ThreadPool>>>,
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
        let node =
            if settings.cluster.node_id.is_empty() { "local".to_string() } else { settings.cluster.node_id.clone() };
        let snapshot_every_ticks = settings
            .cluster
            .enabled()
            .then(|| ((settings.cluster.snapshot_interval_s * settings.tick.rate_hz as f64).round() as u64).max(1));
        let creation = CreationLimits::new(settings.room.create_per_minute, settings.room.max_open_per_ip);
        // As many held seats as sessions: a flood of matchmaking requests cannot hold
        // more seats than the node could seat players.
        let pending =
            PendingSeats::new(Duration::from_secs(settings.cluster.seat_ttl_s), settings.limits.max_connections);
        Arc::new_cyclic(|me| LocalDirectory {
            me: me.clone(),
            rooms: Mutex::new(Rooms { by_name: BTreeMap::new(), next_id: 1 }),
            settings,
            world,
            room_arbiters,
            factory,
            keys,
            node,
            snapshot_every_ticks,
            creation,
            pending,
            cell_pool: OnceLock::new(),
        })
    }

    /// The big rooms' thread pool (see `cell_pool`).
    fn cell_pool(&self) -> Option<Arc<rayon::ThreadPool>> {
        let threads = self.settings.server.room_threads;
        self.cell_pool
            .get_or_init(|| {
                if threads < 2 {
                    return None;
                }
                rayon::ThreadPoolBuilder::new()
                    .num_threads(threads)
                    .thread_name(|i| format!("tickcast-cells-{i}"))
                    .build()
                    .map_err(|e| tracing::error!("big rooms run on one thread: no pool of {threads}: {e}"))
                    .ok()
                    .map(Arc::new)
            })
            .clone()
    }

    /// The world actor running this node's games.
    pub fn world(&self) -> &Addr<WorldActor> {
        &self.world
    }

    /// This node's name in listings.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The game factory (the cluster directory restores games with it).
    pub fn factory(&self) -> &GameFactory {
        &self.factory
    }

    /// Settings.
    pub fn settings(&self) -> &Arc<Settings> {
        &self.settings
    }

    /// Seats of room `name` (its arena kind may have its own: `game.arena.presets`).
    fn capacity(&self, name: &str) -> usize {
        self.settings.room_capacity(name)
    }

    /// The room-creation limits (the cluster directory checks them before it claims a
    /// lease, and counts the pending leases it opens for other nodes in them).
    pub fn creation(&self) -> &CreationLimits {
        &self.creation
    }

    /// The facts a game is created with for room `name`.
    pub fn room_info(&self, name: &str) -> RoomInfo {
        RoomInfo {
            name: name.to_string(),
            seed: room_seed(self.settings.game.seed, name),
            rate_hz: self.settings.tick.rate_hz,
            arena: self.settings.arena_kind(name),
        }
    }

    /// Rooms running here.
    pub fn len(&self) -> usize {
        self.rooms.lock().by_name.len()
    }

    /// True when no room runs here.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Creates a room: its game (or the restored one), its actor, its world entry. A
    /// room with a `creator` is refused beyond that requester's limits, and counted.
    pub fn create(&self, spec: RoomSpec) -> Result<RoomHandle, PlacementError> {
        let mut rooms = self.rooms.lock();
        if let Some(entry) = rooms.by_name.get(&spec.name) {
            return Ok(entry.handle.clone());
        }
        self.create_locked(&mut rooms, spec)
    }

    fn create_locked(&self, rooms: &mut Rooms, spec: RoomSpec) -> Result<RoomHandle, PlacementError> {
        // The requester's own limits first: a client at its cap is told so, not that
        // the server is full.
        if let Some(who) = &spec.creator {
            self.creation.check(who)?;
        }
        if rooms.by_name.len() >= self.settings.room.max_rooms {
            return Err(PlacementError::TooManyRooms);
        }
        let RoomSpec { name, uid, epoch, matchmade, restore, creator, hooks } = spec;
        let id = rooms.next_id;
        rooms.next_id += 1;
        let uid = uid.unwrap_or(id);
        let (game, restored) = match restore {
            Some(r) => {
                let players: Vec<(SnapshotPlayer, Arc<InputQueue>)> = r
                    .players
                    .into_iter()
                    .map(|p| (p, Arc::new(InputQueue::new(self.settings.limits.input_queue, 0))))
                    .collect();
                (r.game, Some(RestoredMembers { tick: r.tick, next_player: r.next_player, players }))
            }
            None => ((self.factory)(&self.room_info(&name)), None),
        };
        let schema = Arc::new(game.schema());
        let constants = Arc::new(game.constants());
        let grid = game.interest().and_then(|interest| {
            let i = &self.settings.interest;
            Grid::from_interest(&interest, &schema, i.cell_size, i.max_cells_per_view)
                .map_err(|e| tracing::error!(room = %name, "interest management off: {e}"))
                .ok()
        });
        let cell_pool = if grid.is_some() { self.cell_pool() } else { None };
        let shared = Arc::new(RoomShared::default());
        let me: Weak<dyn RoomReports> = self.me.clone();
        let hooks = hooks.unwrap_or_else(|| room_hooks(me));
        let arbiter = &self.room_arbiters[(id as usize) % self.room_arbiters.len()];
        let (start_tick, world_players) = match &restored {
            Some(r) => (r.tick, r.players.iter().map(|(p, q)| (p.id, p.name.clone(), q.clone())).collect()),
            None => (0, Vec::new()),
        };
        if let Some(r) = &restored {
            shared.seats.store(r.players.len(), Ordering::Release);
            shared.tick.store(r.tick, Ordering::Release);
        }
        let (settings, world, room_name, room_shared, keys) =
            (self.settings.clone(), self.world.clone(), name.clone(), shared.clone(), self.keys.clone());
        let addr = RoomActor::start_in_arbiter(arbiter, move |_| {
            RoomActor::new(RoomParts {
                id,
                uid,
                epoch,
                name: room_name,
                schema,
                constants,
                settings,
                world,
                hooks,
                shared: room_shared,
                keys,
                restored,
                grid,
                cell_pool,
            })
        });
        // Sent before any session can learn of the room, so the world knows it first.
        self.world.do_send(AddRoom {
            id,
            game,
            room: addr.clone().recipient(),
            tick: start_tick,
            players: world_players,
            snapshot_every_ticks: self.snapshot_every_ticks,
        });
        let handle = RoomHandle { id, uid, name: name.clone(), addr, thread: arbiter.clone(), shared };
        if let Some(who) = &creator {
            self.creation.created(who);
        }
        let creator_ip = creator.and_then(|who| who.ip);
        rooms.by_name.insert(name, Entry { handle: handle.clone(), matchmade, creator_ip });
        tracing::info!(room = %handle.name, id, uid, restored = start_tick > 0, "room created");
        Ok(handle)
    }

    /// Takes a seat in `handle`'s room if one is free.
    pub fn take_seat(&self, handle: &RoomHandle) -> Result<Reservation, PlacementError> {
        let capacity = self.capacity(&handle.name);
        let taken =
            handle.shared.seats.fetch_update(Ordering::AcqRel, Ordering::Acquire, |s| (s < capacity).then_some(s + 1));
        match taken {
            Ok(_) => Ok(Reservation { room: handle.clone(), seat: SeatGuard::taken(handle.shared.clone()) }),
            Err(_) => Err(PlacementError::RoomFull),
        }
    }

    /// The fullest matchmade room here with a free seat.
    pub fn fullest_matchmade(&self) -> Option<RoomHandle> {
        Self::fullest_matchmade_in(&self.rooms.lock(), &self.settings)
    }

    fn fullest_matchmade_in(rooms: &Rooms, settings: &Settings) -> Option<RoomHandle> {
        rooms
            .by_name
            .values()
            .filter(|e| e.matchmade)
            .map(|e| (e.handle.shared.seats.load(Ordering::Acquire), e))
            .filter(|(seats, e)| *seats < settings.room_capacity(&e.handle.name))
            .max_by_key(|(seats, e)| (*seats, std::cmp::Reverse(e.handle.id)))
            .map(|(_, e)| e.handle.clone())
    }

    /// Stops room `id` at once, whoever is seated (its lease is lost): sessions close
    /// with `code`, the game is dropped. Returns the room's name if it ran here.
    pub fn stop(&self, id: RoomId, code: u16, reason: &str) -> Option<Arc<str>> {
        let mut rooms = self.rooms.lock();
        let name = rooms.by_name.iter().find(|(_, e)| e.handle.id == id).map(|(n, _)| n.clone())?;
        let entry = rooms.by_name.remove(&name)?;
        if let Some(ip) = entry.creator_ip {
            self.creation.closed(ip);
        }
        // The world first, directly: the game must stop ticking now (its lease is going
        // to another node), not once the room has worked through its mailbox.
        self.world.do_send(RemoveRoom { id });
        entry.handle.addr.do_send(StopRoom { code, reason: reason.to_string() });
        tracing::warn!(room = %name, id, code, reason, "room stopped");
        Some(name)
    }

    /// Holds `reservation` for a seat token under a fresh nonce, until the player comes
    /// or `cluster.seat_ttl_s` passes; refused (the seat is freed) when
    /// `limits.max_connections` seats are held already.
    pub fn hold_seat(&self, reservation: Reservation) -> Result<HeldSeat, PlacementError> {
        let room = reservation.room.name.to_string();
        let nonce = self.pending.hold(reservation).ok_or(PlacementError::TooManyPendingSeats)?;
        Ok(HeldSeat { room, nonce })
    }

    /// The seat held here under `nonce` for room `room`, if it has not expired.
    pub fn take_held_seat(&self, nonce: u64, room: &str) -> Option<Reservation> {
        self.pending.take(nonce, room)
    }

    /// Frees held seats nobody came for (their seats go back to their rooms).
    pub fn sweep_held_seats(&self) {
        self.pending.sweep();
    }

    /// A single node's placement: every room is here.
    fn place_now(&self, request: PlacementRequest) -> Result<Placement, PlacementError> {
        let (ask, who) = match request {
            PlacementRequest::Join { ask, who } => (ask, who),
            PlacementRequest::Matchmake { room, who } => {
                let reservation = self.reserve_now(room.as_deref(), &who)?;
                return self.hold_seat(reservation).map(Placement::Held);
            }
        };
        let placed = match ask {
            Ask::Named(name) => self.reserve_now(Some(&name), &who),
            Ask::Any => self.reserve_now(None, &who),
            Ask::Seat(claim) => match self.take_held_seat(claim.nonce, &claim.room) {
                Some(held) => Ok(held),
                // The hold expired (or the token is used again): a seat in its room if
                // one is free, and for a join-or-create seat any open room.
                None => match self.reserve_now(Some(&claim.room), &who) {
                    Err(PlacementError::RoomFull) if claim.any => self.reserve_now(None, &who),
                    placed => placed,
                },
            },
        };
        placed.map(Placement::Here)
    }

    fn listing(&self) -> Vec<RoomListing> {
        self.rooms
            .lock()
            .by_name
            .values()
            .map(|e| RoomListing {
                name: e.handle.name.to_string(),
                players: e.handle.shared.seats.load(Ordering::Acquire),
                capacity: self.capacity(&e.handle.name),
                tick: e.handle.shared.tick.load(Ordering::Acquire),
                node: self.node.clone(),
            })
            .collect()
    }

    /// A seat in room `name` (created on demand), or with `None` join-or-create: the
    /// fullest matchmade room with a free seat, else a new one. Inherent: the cluster
    /// directory places through Redis instead.
    fn reserve_now(&self, name: Option<&str>, who: &Requester) -> Result<Reservation, PlacementError> {
        // One lock over choosing and taking, so simultaneous joins fill a room exactly.
        let mut rooms = self.rooms.lock();
        let handle = match name {
            Some(name) => {
                check_room_name(name, self.settings.room.max_name_bytes)?;
                match rooms.by_name.get(name) {
                    Some(entry) => entry.handle.clone(),
                    None => {
                        let spec = RoomSpec {
                            name: Arc::from(name),
                            uid: None,
                            epoch: 0,
                            matchmade: false,
                            restore: None,
                            creator: Some(who.clone()),
                            hooks: None,
                        };
                        self.create_locked(&mut rooms, spec)?
                    }
                }
            }
            None => match Self::fullest_matchmade_in(&rooms, &self.settings) {
                Some(handle) => handle,
                None => {
                    let mut n = rooms.next_id;
                    let name = loop {
                        let candidate = format!("mm-{n}");
                        if !rooms.by_name.contains_key(candidate.as_str()) {
                            break candidate;
                        }
                        n += 1;
                    };
                    let spec = RoomSpec {
                        name: Arc::from(name.as_str()),
                        uid: None,
                        epoch: 0,
                        matchmade: true,
                        restore: None,
                        creator: Some(who.clone()),
                        hooks: None,
                    };
                    self.create_locked(&mut rooms, spec)?
                }
            },
        };
        self.take_seat(&handle)
    }
}

impl RoomDirectory for LocalDirectory {
    fn place(&self, request: PlacementRequest) -> BoxFuture<'_, Result<Placement, PlacementError>> {
        Box::pin(std::future::ready(self.place_now(request)))
    }

    fn locate<'a>(&'a self, name: &'a str, uid: Option<RoomUid>) -> BoxFuture<'a, Result<Located, PlacementError>> {
        let found = self.find(name).filter(|r| uid.is_none_or(|u| r.uid == u)).map_or(Located::Gone, Located::Here);
        Box::pin(std::future::ready(Ok(found)))
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<RoomListing>, PlacementError>> {
        Box::pin(std::future::ready(Ok(self.listing())))
    }

    fn find(&self, name: &str) -> Option<RoomHandle> {
        self.rooms.lock().by_name.get(name).map(|e| e.handle.clone())
    }

    fn local_rooms(&self) -> Vec<RoomHandle> {
        self.rooms.lock().by_name.values().map(|e| e.handle.clone()).collect()
    }
}

impl RoomReports for LocalDirectory {
    fn dispose_if_unused(&self, id: RoomId) -> bool {
        let mut rooms = self.rooms.lock();
        let Some(name) = rooms.by_name.iter().find(|(_, e)| e.handle.id == id).map(|(n, _)| n.clone()) else {
            return true;
        };
        if rooms.by_name[&name].handle.shared.seats.load(Ordering::Acquire) != 0 {
            return false;
        }
        if let Some(ip) = rooms.by_name.remove(&name).and_then(|e| e.creator_ip) {
            self.creation.closed(ip);
        }
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

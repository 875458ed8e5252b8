//! The distributed room directory: [`RoomDirectory`] over Redis, wrapping the node's
//! [`LocalDirectory`] (which runs the rooms this node owns).
//!
//! A room runs on the node holding its lease. Placing a player either takes a seat
//! here (after claiming the lease when the room is new, or restoring it from its
//! snapshot when its node died) or answers where the room is, for the HTTP layer to
//! send the client there (`/api/matchmake`, or close 4421 on `/ws`).
//!
//! Claims on one node are serialized by an async lock, so two local requests for one
//! new room never race each other to Redis; across nodes the claim script decides. Which
//! held seats a placement uses or gives up is decided in `held_seats`, over the steps
//! this file provides; what the keeper's loops do each round (renewals, snapshots,
//! adoptions, the watchdog) is here too, next to the state it changes.

use super::held_seats::{self, SeatSteps};
use super::store::{Claim, NodeInfo, RoomLoad, RoomRecord, SeatTaken, Store, StoreError};
use crate::actors::directory::{
    check_room_name, room_hooks, seat_nonce, LocalDirectory, Located, Placement, PlacementError, PlacementRequest,
    Redirect, Requester, Reservation, Restore, RoomDirectory, RoomHandle, RoomId, RoomListing, RoomReports, RoomSpec,
    RoomUid,
};
use crate::actors::room::EncodeSnapshot;
use crate::actors::world::HandOffRoom;
use crate::config::{secs, Settings};
use crate::game::RoomSnapshot;
use crate::metrics;
use crate::protocol::close_code;
use futures_util::future::{join_all, BoxFuture};
use parking_lot::Mutex;
use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// A lease this node holds.
#[derive(Debug, Clone)]
struct Lease {
    name: Arc<str>,
    fence: u64,
    handle: RoomHandle,
    /// When the lease may have expired in Redis, from the send time of the last
    /// successful claim or renewal (conservative: Redis started counting later).
    valid_until: Instant,
}

/// What claiming a room name gave.
enum Claimed {
    /// The room now runs here.
    Here(RoomHandle),
    /// It runs (or is being created) elsewhere.
    Elsewhere(Redirect),
}

/// The cluster directory.
pub struct ClusterDirectory {
    /// Itself, for the hooks of the rooms it creates (they report here, not to `local`).
    me: Weak<ClusterDirectory>,
    local: Arc<LocalDirectory>,
    store: Store,
    settings: Arc<Settings>,
    /// This node's id.
    node: String,
    /// This node's public URL.
    url: String,
    leases: Mutex<HashMap<RoomId, Lease>>,
    /// The latest unwritten snapshot of each room.
    snapshots: Mutex<HashMap<RoomId, Vec<u8>>>,
    claims: tokio::sync::Mutex<()>,
    /// Nonces of held seats whose players were seated in a room here since its last
    /// renewal, which releases them (see [`RoomLoad::seated`]). Locked while a seat is
    /// taken and while a renewal reads the room's count, so the two agree.
    seated: Mutex<HashMap<RoomId, HashSet<u64>>>,
    /// Expiry of every seat this node held in other nodes' rooms lately: at most
    /// `limits.max_connections` at once, like the seats it holds here.
    holds_out: Mutex<VecDeque<Instant>>,
    redis_up: AtomicBool,
    /// Set by [`ClusterDirectory::hand_off`]: this node claims no room any more.
    draining: AtomicBool,
    /// Web origins of the live nodes (from their public URLs), refreshed by the keeper.
    peer_origins: parking_lot::RwLock<Vec<String>>,
}

impl ClusterDirectory {
    /// A directory for this node (`node`, reachable at `url`) over `store`; rooms run in
    /// `local`, which is told to report to the new directory.
    pub fn new(local: Arc<LocalDirectory>, store: Store, node: String, url: String) -> Arc<Self> {
        let settings = local.settings().clone();
        Arc::new_cyclic(|me| ClusterDirectory {
            me: me.clone(),
            local,
            store,
            settings,
            node,
            url,
            leases: Mutex::new(HashMap::new()),
            snapshots: Mutex::new(HashMap::new()),
            claims: tokio::sync::Mutex::new(()),
            seated: Mutex::new(HashMap::new()),
            holds_out: Mutex::new(VecDeque::new()),
            redis_up: AtomicBool::new(true),
            draining: AtomicBool::new(false),
            peer_origins: parking_lot::RwLock::new(Vec::new()),
        })
    }

    /// The lease lifetime.
    pub(super) fn lease_ttl(&self) -> Duration {
        secs(self.settings.cluster.lease_ttl_s)
    }

    /// Records the outcome of a Redis call: logs the transitions of reachability.
    fn note<T>(&self, result: &Result<T, StoreError>) {
        let up = result.is_ok();
        let was = self.redis_up.swap(up, Ordering::AcqRel);
        metrics::cluster_redis_up(up);
        match (was, result) {
            (true, Err(e)) => tracing::error!(
                error = %e,
                "Redis unreachable: taking no new placements; rooms keep running while their leases are valid"
            ),
            (false, Ok(_)) => tracing::info!("Redis reachable again"),
            _ => {}
        }
    }

    /// This node's id.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// This node's public WebSocket base URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The web origins of the cluster's live nodes. A page served by one node connects
    /// to whichever node runs its room, so every node accepts the others' origins
    /// (besides its own and `security.allowed_origins`).
    pub fn peer_origins(&self) -> Vec<String> {
        self.peer_origins.read().clone()
    }

    /// Records the live nodes' public URLs as web origins (`ws://h:p` → `http://h:p`).
    fn set_peers(&self, urls: impl Iterator<Item = String>) {
        let origins = urls
            .filter_map(|u| {
                u.strip_prefix("wss://")
                    .map(|rest| format!("https://{rest}"))
                    .or_else(|| u.strip_prefix("ws://").map(|rest| format!("http://{rest}")))
            })
            .collect();
        *self.peer_origins.write() = origins;
    }

    /// True while the last Redis call succeeded.
    pub fn redis_up(&self) -> bool {
        self.redis_up.load(Ordering::Acquire)
    }

    fn unavailable(e: StoreError) -> PlacementError {
        PlacementError::Unavailable(e.to_string())
    }

    fn redirect(&self, room: &str, node: String, url: String) -> Result<Redirect, PlacementError> {
        if node == self.node {
            // Our own lease without a local room: a claim of ours is mid-flight, or the
            // room was just stopped. Either way the client should come back shortly.
            return Err(PlacementError::Unavailable(format!("room {room} is moving; retry")));
        }
        Ok(Redirect::new(room.to_string(), node, url))
    }

    /// This node's registry entry.
    pub fn node_info(&self) -> NodeInfo {
        let rooms = self.local.local_rooms();
        NodeInfo {
            id: self.node.clone(),
            url: self.url.clone(),
            players: rooms.iter().map(|r| r.shared.seats.load(Ordering::Acquire)).sum(),
            rooms: rooms.len(),
            max_rooms: self.settings.room.max_rooms,
        }
    }

    /// Claims `name` (restoring its snapshot if it has one) and starts it here, or says
    /// where it runs. A room started afresh for a `creator` is checked against its
    /// creation limits before the claim (a refused one costs Redis nothing) and counted
    /// in them; a restored one is not (it was created before). The caller holds
    /// `self.claims`, which makes the check and the count one step.
    async fn claim(&self, name: &str, matchmade: bool, creator: Option<&Requester>) -> Result<Claimed, PlacementError> {
        if let Some(handle) = self.local.find(name) {
            return Ok(Claimed::Here(handle));
        }
        if self.draining.load(Ordering::Acquire) {
            return Err(PlacementError::Unavailable("node shutting down".into()));
        }
        if let Some(who) = creator {
            self.local.creation().check(who)?;
        }
        if self.local.len() >= self.settings.room.max_rooms {
            return Err(PlacementError::TooManyRooms);
        }
        let sent = Instant::now();
        let capacity = self.settings.room_capacity(name);
        let claim = self.store.claim(name, &self.node, &self.url, self.lease_ttl(), capacity, matchmade).await;
        self.note(&claim);
        let (fence, uid, restore) = match claim.map_err(Self::unavailable)? {
            Claim::Owned { node, url } => return self.redirect(name, node, url).map(Claimed::Elsewhere),
            Claim::Won { fence, uid, restore } => (fence, uid, restore),
        };
        let restore = if restore {
            match self.load_restore(name, uid).await {
                Ok(r) => r,
                Err(e) => {
                    // The snapshot is there but could not be read: give the lease back with
                    // the snapshot kept and let the client (or the next sweep) try again,
                    // rather than start the room fresh and overwrite a good snapshot.
                    let _ = self.store.release(name, &self.node, fence, false).await;
                    return Err(Self::unavailable(e));
                }
            }
        } else {
            None
        };
        let restored = restore.is_some();
        let creator = if restored { None } else { creator.cloned() };
        // The fence is the room's epoch: resume tokens of players who joined under an
        // earlier lease are honoured only for players the snapshot holds (room.rs).
        let me: Weak<dyn RoomReports> = self.me.clone();
        let hooks = Some(room_hooks(me));
        let spec = RoomSpec { name: Arc::from(name), uid: Some(uid), epoch: fence, matchmade, restore, creator, hooks };
        match self.local.create(spec) {
            Ok(handle) => {
                let lease = Lease {
                    name: handle.name.clone(),
                    fence,
                    handle: handle.clone(),
                    valid_until: sent + self.lease_ttl(),
                };
                let load = restored.then(|| self.take_load(&lease));
                {
                    let mut leases = self.leases.lock();
                    leases.insert(handle.id, lease);
                    metrics::cluster_leases(leases.len());
                }
                tracing::info!(room = name, uid, fence, restored, "room lease claimed");
                if let Some(load) = load {
                    // The claim counts no seat, but the restored players hold theirs:
                    // publish them now rather than at the first renewal (best effort).
                    let renewed = self.store.renew(name, &self.node, fence, self.lease_ttl(), load).await;
                    self.note(&renewed);
                }
                Ok(Claimed::Here(handle))
            }
            Err(e) => {
                let _ = self.store.release(name, &self.node, fence, false).await;
                Err(e)
            }
        }
    }

    /// Loads and restores a room's snapshot; `Ok(None)` (the room starts fresh, its
    /// players lost) when it is missing, foreign or cannot be restored, `Err` when Redis
    /// did not give it (the claim is abandoned and retried).
    async fn load_restore(&self, name: &str, uid: RoomUid) -> Result<Option<Restore>, StoreError> {
        let loaded = self.store.load_snapshot(name).await;
        self.note(&loaded);
        let bytes = match loaded {
            Ok(Some(b)) => b,
            Ok(None) => return Ok(None),
            Err(e) => {
                tracing::warn!(room = name, error = %e, "snapshot could not be read: claim given up, retried later");
                return Err(e);
            }
        };
        let restored = RoomSnapshot::decode(&bytes).map_err(|e| e.to_string()).and_then(|snap| {
            if snap.uid != uid || snap.name != name {
                return Err(format!("snapshot names room {} uid {}, expected {name} uid {uid}", snap.name, snap.uid));
            }
            let mut game = (self.local.factory())(&self.local.room_info(name));
            game.restore(&snap.game)?;
            Ok(Restore { tick: snap.tick, next_player: snap.next_player, players: snap.players, game })
        });
        match restored {
            Ok(r) => {
                metrics::cluster_restore("ok");
                tracing::info!(
                    room = name,
                    uid,
                    tick = r.tick,
                    players = r.players.len(),
                    "room restored from snapshot"
                );
                Ok(Some(r))
            }
            Err(why) => {
                metrics::cluster_restore("failed");
                tracing::error!(room = name, uid, why, "snapshot not restored: room starts fresh");
                Ok(None)
            }
        }
    }

    /// A seat in room `handle` here; for a player holding seat `held` in it, the seat
    /// is taken and the hold noted for release under one lock (see `seated`).
    fn seat_here(&self, handle: &RoomHandle, held: Option<u64>) -> Result<Placement, PlacementError> {
        let Some(nonce) = held else { return self.local.take_seat(handle).map(Placement::Here) };
        let mut seated = self.seated.lock();
        let reservation = self.local.take_seat(handle)?;
        self.note_seated(&mut seated, handle, nonce);
        Ok(Placement::Here(reservation))
    }

    async fn reserve_named(&self, name: &str, held: Option<u64>, who: &Requester) -> Result<Placement, PlacementError> {
        check_room_name(name, self.settings.room.max_name_bytes)?;
        if !self.redis_up() {
            // No new placement while the directory is unreachable, not even into a room
            // here: its lease may be about to lapse, and the player would be cut off.
            // Resumes of players already seated still work (see `locate_room`).
            return Err(PlacementError::Unavailable("Redis unreachable".into()));
        }
        if let Some(handle) = self.local.find(name) {
            return self.seat_here(&handle, held);
        }
        let _claiming = self.claims.lock().await;
        // A player holding a seat from a matchmaker is not charged for the room: the node
        // whose matchmaker opened it (a pending lease for this one) counted it there.
        let creator = held.is_none().then_some(who);
        match self.claim(name, name.starts_with("mm-"), creator).await? {
            Claimed::Here(handle) => self.seat_here(&handle, held),
            Claimed::Elsewhere(r) => Ok(Placement::Elsewhere(r)),
        }
    }

    /// Join-or-create across the cluster. Every seat it gives is held in Redis at once
    /// (for a player on the way to another node, or seated here until the next renewal
    /// counts it), so the rooms every matchmaker reads are as full as they really are,
    /// and a burst of joins fills rooms before opening new ones.
    async fn reserve_any(&self, who: &Requester) -> Result<Placement, PlacementError> {
        if let Some(placed) = self.seat_in_open_room(&self.read_rooms().await?, false).await? {
            return Ok(placed);
        }
        let _claiming = self.claims.lock().await;
        // Simultaneous requests all found no open room; the first to get here opened one
        // (here, or on another node), which the others fill instead of each opening
        // their own: read again.
        let records = self.read_rooms().await?;
        if let Some(placed) = self.seat_in_open_room(&records, true).await? {
            return Ok(placed);
        }
        // A new room is counted against the requester here, wherever it opens.
        self.local.creation().check(who)?;
        // No open room: a new one, on the live node that runs the fewest rooms (this one
        // on a tie). Counted from the leases just read (rooms opened for a node and not
        // yet claimed included), not from the registry's load figures, which are up to
        // a third of `cluster.node_ttl_s` old: too stale to spread a burst of joins.
        let mut leases_per_node: HashMap<&str, usize> = HashMap::new();
        for r in &records {
            *leases_per_node.entry(r.node.as_str()).or_default() += 1;
        }
        let rooms_of = |id: &str| leases_per_node.get(id).copied().unwrap_or(0);
        let nodes = self.store.nodes().await;
        self.note(&nodes);
        let may_hold = self.may_hold_out();
        let mut candidates: Vec<(usize, bool, String, String)> = nodes
            .map_err(Self::unavailable)?
            .into_iter()
            .filter(|node| may_hold && node.id != self.node && rooms_of(&node.id).max(node.rooms) < node.max_rooms)
            .map(|node| (rooms_of(&node.id), true, node.id, node.url))
            .collect();
        if self.local.len() < self.settings.room.max_rooms {
            candidates.push((rooms_of(&self.node).max(self.local.len()), false, self.node.clone(), self.url.clone()));
        }
        let Some((_, _, node, url)) = candidates.into_iter().min() else {
            return Err(PlacementError::TooManyRooms);
        };
        let name = self.next_matchmade_name().await?;
        if node != self.node {
            // The lease is opened for that node, holding this player's seat, so the next
            // requests (on any node) see the room and fill it; the node claims the lease
            // when the player arrives.
            let seat = seat_nonce();
            let ttls = (self.lease_ttl(), self.seat_ttl());
            let opened =
                self.store.open_for(&name, (&node, &url), self.settings.room_capacity(&name), seat, ttls).await;
            self.note(&opened);
            if opened.is_err() {
                // It may have run: the hold is for nobody.
                self.release_hold(&name, seat);
            }
            if opened.map_err(Self::unavailable)? {
                self.charge_hold_out();
                // That node's disposal of the room is not seen here: it counts among the
                // requester's open rooms while the seat held for it lasts.
                self.local.creation().created_elsewhere(who, Instant::now() + self.seat_ttl());
            } else {
                // `mm-<n>` named by a client and waiting for its restore: not reused.
                return Err(PlacementError::Unavailable(format!("room name {name} taken; retry")));
            }
            return Ok(Placement::Elsewhere(Redirect { room: name, node, base_url: url, seat }));
        }
        match self.claim(&name, true, Some(who)).await? {
            Claimed::Here(handle) => self.seat_counted_here(&handle).await?.ok_or(PlacementError::RoomFull),
            Claimed::Elsewhere(r) => Ok(Placement::Elsewhere(r)),
        }
    }

    /// Every room's lease, as Redis has it now.
    async fn read_rooms(&self) -> Result<Vec<RoomRecord>, PlacementError> {
        let rooms = self.store.rooms().await;
        self.note(&rooms);
        Ok(rooms.map_err(Self::unavailable)?.0)
    }

    /// A seat in the fullest matchmade room of `records` with one free (on a tie, a
    /// room here: no hop for the client), or `None`. A room another node opened for
    /// this one is claimed here only by a caller `holding_claims` (the lock).
    async fn seat_in_open_room(
        &self,
        records: &[RoomRecord],
        holding_claims: bool,
    ) -> Result<Option<Placement>, PlacementError> {
        let mut open: Vec<&RoomRecord> = records.iter().filter(|r| r.matchmade && r.seats < r.capacity).collect();
        open.sort_by(|a, b| b.seats.cmp(&a.seats).then((a.node != self.node).cmp(&(b.node != self.node))));
        for room in open.into_iter().take(4) {
            if room.node == self.node {
                let handle = match self.local.find(&room.name) {
                    Some(handle) => Some(handle),
                    // Opened for this node by another's matchmaker, its first player still
                    // on the way: start it now. (Or our room just stopped: skipped.)
                    None if holding_claims => match self.claim(&room.name, true, None).await {
                        Ok(Claimed::Here(handle)) => Some(handle),
                        _ => None,
                    },
                    None => None,
                };
                if let Some(handle) = handle {
                    if let Some(placed) = self.seat_counted_here(&handle).await? {
                        return Ok(Some(placed));
                    }
                }
                continue;
            }
            if !self.may_hold_out() {
                continue;
            }
            let seat = seat_nonce();
            if let SeatTaken::Yes { node, url } = self.hold_seat(&room.name, seat).await? {
                if node != self.node {
                    self.charge_hold_out();
                    return Ok(Some(Placement::Elsewhere(Redirect {
                        room: room.name.clone(),
                        node,
                        base_url: url,
                        seat,
                    })));
                }
                // Ours since the read (claimed or adopted meanwhile), or moving: the hold
                // is for nobody; try the next room.
                self.release_hold(&room.name, seat);
            }
        }
        Ok(None)
    }

    /// How long a seat is held for a player on the way (its seat token's life).
    fn seat_ttl(&self) -> Duration {
        Duration::from_secs(self.settings.cluster.seat_ttl_s)
    }

    /// Whether this node may hold one more seat in another node's room: at most
    /// `limits.max_connections` at once, as many as it may hold here, so a flood of
    /// matchmaking requests cannot fill the cluster's rooms with seats for nobody.
    /// Beyond it, join-or-create places players in rooms of this node only.
    fn may_hold_out(&self) -> bool {
        let now = Instant::now();
        let mut out = self.holds_out.lock();
        while out.front().is_some_and(|until| *until <= now) {
            out.pop_front();
        }
        out.len() < self.settings.limits.max_connections
    }

    /// Counts a seat just held in another node's room against the budget, until its
    /// hold expires (a little after Redis's expiry of it: the budget never forgets one
    /// early).
    fn charge_hold_out(&self) {
        self.holds_out.lock().push_back(Instant::now() + self.seat_ttl());
    }

    /// Holds seat `nonce` in `room`. A call that missed its deadline may still have run,
    /// so its hold is released.
    async fn hold_seat(&self, room: &str, nonce: u64) -> Result<SeatTaken, PlacementError> {
        let taken = self.store.take_seat(room, nonce, self.seat_ttl()).await;
        self.note(&taken);
        if taken.is_err() {
            self.release_hold(room, nonce);
        }
        taken.map_err(Self::unavailable)
    }

    /// Releases a seat held in `room` (not awaited: nobody waits on it; should it fail,
    /// the hold expires with its token).
    fn release_hold(&self, room: &str, nonce: u64) {
        let (store, room) = (self.store.clone(), room.to_string());
        actix::spawn(async move {
            let _ = store.release_hold(&room, nonce).await;
        });
    }

    /// Records that the player of held seat `nonce` was seated in `room` here: the next
    /// renewal counts the player and releases the hold, in one step.
    fn note_seated(&self, seated: &mut HashMap<RoomId, HashSet<u64>>, room: &RoomHandle, nonce: u64) {
        let nonces = seated.entry(room.id).or_default();
        // A set: a seat token used twice (a reconnect within its life) is noted once.
        // Bounded (renewals failing for long stop the room anyway): beyond the bound
        // the hold is released at once.
        if nonces.len() < self.settings.room_capacity(&room.name).saturating_mul(4).max(16) {
            nonces.insert(nonce);
        } else {
            self.release_hold(&room.name, nonce);
        }
    }

    /// The room's load for its renewal, taking the seated nonces it reports.
    fn take_load(&self, lease: &Lease) -> RoomLoad {
        let mut seated = self.seated.lock();
        RoomLoad {
            seats: lease.handle.shared.seats.load(Ordering::Acquire),
            tick: lease.handle.shared.tick.load(Ordering::Acquire),
            seated: seated.remove(&lease.handle.id).map(|s| s.into_iter().collect()).unwrap_or_default(),
        }
    }

    /// Gives back the seated nonces of a renewal that may not have reached Redis.
    fn untake_load(&self, lease: &Lease, load: RoomLoad) {
        let mut seated = self.seated.lock();
        for nonce in load.seated {
            self.note_seated(&mut seated, &lease.handle, nonce);
        }
    }

    /// Forgets the seated nonces of rooms no longer held here (a seat noted just as its
    /// room stopped); their holds went with the lease.
    fn forget_seated_of_gone_rooms(&self) {
        let held: HashSet<RoomId> = self.leases.lock().keys().copied().collect();
        self.seated.lock().retain(|id, _| held.contains(id));
    }

    /// A seat in matchmade room `handle` of this node, held in Redis first (against
    /// the seats other nodes hold there), and released by the next renewal, which
    /// counts it; `None` if the room is full.
    async fn seat_counted_here(&self, handle: &RoomHandle) -> Result<Option<Placement>, PlacementError> {
        let nonce = seat_nonce();
        match self.hold_seat(&handle.name, nonce).await? {
            SeatTaken::Yes { node, .. } if node == self.node => {}
            SeatTaken::Yes { .. } => {
                // The lease moved on (this room is being stopped): the hold is for nobody.
                self.release_hold(&handle.name, nonce);
                return Ok(None);
            }
            SeatTaken::Full | SeatTaken::Gone => return Ok(None),
        }
        match self.seat_here(handle, Some(nonce)) {
            Ok(placed) => Ok(Some(placed)),
            Err(_) => {
                // Full here (named joins, which Redis sees at renewal, took the seats).
                self.release_hold(&handle.name, nonce);
                Ok(None)
            }
        }
    }

    /// A fresh, cluster-unique matchmade room name, `mm-<n>`.
    async fn next_matchmade_name(&self) -> Result<String, PlacementError> {
        let n = self.store.next_matchmade_number().await;
        self.note(&n);
        Ok(format!("mm-{}", n.map_err(Self::unavailable)?))
    }

    /// Join-or-create on this node only: a player already connected here whose seat's
    /// room filled up meanwhile. `RoomFull` when no room can take it here.
    async fn reserve_any_here_now(&self, who: &Requester) -> Result<Placement, PlacementError> {
        if !self.redis_up() {
            return Err(PlacementError::Unavailable("Redis unreachable".into()));
        }
        let _claiming = self.claims.lock().await;
        if let Some(handle) = self.local.fullest_matchmade() {
            if let Some(placed) = self.seat_counted_here(&handle).await? {
                return Ok(placed);
            }
        }
        if self.local.len() >= self.settings.room.max_rooms {
            return Err(PlacementError::RoomFull);
        }
        let name = self.next_matchmade_name().await?;
        match self.claim(&name, true, Some(who)).await? {
            Claimed::Here(handle) => self.seat_counted_here(&handle).await?.ok_or(PlacementError::RoomFull),
            Claimed::Elsewhere(_) => Err(PlacementError::RoomFull),
        }
    }

    async fn locate_room(&self, name: &str, uid: Option<RoomUid>) -> Result<Located, PlacementError> {
        let matches = |found: RoomUid| uid.is_none_or(|u| u == found);
        if let Some(handle) = self.local.find(name) {
            return Ok(if matches(handle.uid) { Located::Here(handle) } else { Located::Gone });
        }
        let found = self.store.room(name).await;
        self.note(&found);
        match found.map_err(Self::unavailable)? {
            (Some(lease), _) if !matches(lease.uid) => Ok(Located::Gone),
            (Some(lease), _) => Ok(Located::Elsewhere(self.redirect(name, lease.node, lease.url)?)),
            (None, Some(orphan_uid)) if matches(orphan_uid) => {
                let _claiming = self.claims.lock().await;
                // Restoring an orphan: no creation, nobody charged.
                match self.claim(name, name.starts_with("mm-"), None).await? {
                    Claimed::Here(handle) if matches(handle.uid) => Ok(Located::Here(handle)),
                    Claimed::Here(_) => Ok(Located::Gone),
                    Claimed::Elsewhere(r) => Ok(Located::Elsewhere(r)),
                }
            }
            (None, _) => Ok(Located::Gone),
        }
    }

    /// Adopts a room whose lease expired and whose snapshot waits (its node died, or
    /// lost Redis): claims and restores it here. Used by the keeper's sweep.
    async fn adopt(&self, name: &str) -> bool {
        if self.local.len() >= self.settings.room.max_rooms {
            return false;
        }
        let _claiming = self.claims.lock().await;
        matches!(self.claim(name, name.starts_with("mm-"), None).await, Ok(Claimed::Here(_)))
    }

    /// True while this node holds room `id`'s lease with `fence`.
    fn holds(&self, id: RoomId, fence: u64) -> bool {
        self.leases.lock().get(&id).is_some_and(|l| l.fence == fence)
    }

    /// Stops a room whose lease is lost or about to expire, and forgets the lease.
    fn stop_room(&self, id: RoomId, reason: &'static str, why: &str) {
        let mut leases = self.leases.lock();
        let lease = leases.remove(&id);
        metrics::cluster_leases(leases.len());
        drop(leases);
        self.snapshots.lock().remove(&id);
        self.seated.lock().remove(&id);
        metrics::cluster_lease_lost(reason);
        self.local.stop(id, close_code::TRY_AGAIN, why);
        if let Some(lease) = lease {
            // Best effort (runs on the calling cluster thread's runtime): if Redis is
            // reachable again, give the lease up now, keeping the snapshot, so the room
            // is adopted at the next sweep instead of after the lease lapses. Fenced: a
            // lease already taken by another node is left alone.
            let (store, node) = (self.store.clone(), self.node.clone());
            actix::spawn(async move {
                let _ = store.release(&lease.name, &node, lease.fence, false).await;
            });
        }
    }
}

/// What the keeper's loops do each round (`keeper` owns their timing).
impl ClusterDirectory {
    /// The settings the keeper takes its periods from.
    pub(super) fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Refreshes this node's registry entry for `node_ttl`, and learns the live nodes
    /// (the gauge, and their web origins).
    pub(super) async fn refresh_registry(&self, node_ttl: Duration) {
        let result = self.store.register_node(&self.node_info(), node_ttl).await;
        self.note(&result);
        if let Ok(nodes) = self.store.nodes().await {
            metrics::cluster_nodes(nodes.len());
            self.set_peers(nodes.into_iter().map(|n| n.url));
        }
    }

    /// Renews every lease this node holds, all at once; a lease found taken by another
    /// fence stops its room at once.
    pub(super) async fn renew_leases(&self) {
        self.forget_seated_of_gone_rooms();
        let leases: Vec<_> = self.leases.lock().iter().map(|(id, l)| (*id, l.clone())).collect();
        let ttl = self.lease_ttl();
        let renewals = leases.into_iter().map(|(id, lease)| async move {
            let sent = Instant::now();
            let load = self.take_load(&lease);
            let result = self.store.renew(&lease.name, &self.node, lease.fence, ttl, load.clone()).await;
            (id, lease, sent, load, result)
        });
        for (id, lease, sent, load, result) in join_all(renewals).await {
            self.note(&result);
            if result.is_err() && self.holds(id, lease.fence) {
                // Not known to have reached Redis: the next renewal releases those holds.
                self.untake_load(&lease, load);
            }
            match result {
                Ok(true) => {
                    if let Some(l) = self.leases.lock().get_mut(&id).filter(|l| l.fence == lease.fence) {
                        l.valid_until = sent + ttl;
                    }
                }
                // Refused, and still ours here (not disposed or stopped meanwhile):
                // another node holds the lease now.
                Ok(false) if self.holds(id, lease.fence) => {
                    tracing::error!(room = %lease.name, fence = lease.fence, "lease taken by another node: stopping the room");
                    self.stop_room(id, "taken", "room moved to another node: reconnect");
                }
                Ok(false) => {}
                Err(_) => {} // logged by note(); the watchdog stops the room if this lasts
            }
        }
    }

    /// Writes the rooms' latest snapshots, fenced, to live `ttl` past their lease. A
    /// snapshot refused by the fence stops its room; one that failed is kept for the
    /// next round unless a newer one arrived meanwhile.
    pub(super) async fn write_snapshots(&self, ttl: Duration) {
        let pending = std::mem::take(&mut *self.snapshots.lock());
        for (id, bytes) in pending {
            let Some(lease) = self.leases.lock().get(&id).cloned() else { continue };
            let len = bytes.len();
            let result = self.store.save_snapshot(&lease.name, &self.node, lease.fence, bytes.clone(), ttl).await;
            self.note(&result);
            match result {
                Ok(true) => metrics::cluster_snapshot("ok", len),
                Ok(false) if !self.holds(id, lease.fence) => {} // disposed or stopped meanwhile
                Ok(false) => {
                    metrics::cluster_snapshot("fenced", len);
                    tracing::error!(room = %lease.name, "snapshot refused: lease is not ours any more; stopping the room");
                    self.stop_room(id, "taken", "room moved to another node: reconnect");
                }
                Err(_) => {
                    metrics::cluster_snapshot("error", len);
                    self.snapshots.lock().entry(id).or_insert(bytes);
                }
            }
        }
    }

    /// Adopts up to `max` rooms whose lease expired but whose snapshot waits (their
    /// node died), and forgets names that have neither.
    pub(super) async fn adopt_orphans(&self, max: usize) {
        let rooms = self.store.rooms().await;
        self.note(&rooms);
        let Ok((_, orphans)) = rooms else { return };
        let mut adopted = 0;
        for (name, _) in orphans {
            let found = self.store.room(&name).await;
            self.note(&found);
            match found {
                Ok((None, Some(_))) if adopted < max && self.adopt(&name).await => {
                    adopted += 1;
                    tracing::info!(room = %name, "adopted a room whose node is gone");
                }
                Ok((None, None)) => {
                    let _ = self.store.drop_orphan(&name).await;
                }
                _ => {}
            }
        }
    }

    /// Stops every room whose lease could expire in Redis before `deadline` (it was
    /// not renewed: Redis is unreachable), so it never runs here while another node
    /// may claim it.
    pub(super) fn stop_expiring(&self, deadline: Instant) {
        let expiring: Vec<(RoomId, Arc<str>)> = self
            .leases
            .lock()
            .iter()
            .filter(|(_, l)| l.valid_until <= deadline)
            .map(|(id, l)| (*id, l.name.clone()))
            .collect();
        for (id, name) in expiring {
            tracing::error!(room = %name, "lease about to expire without renewal (Redis unreachable): stopping the room");
            self.stop_room(id, "expiring", "lost contact with the cluster directory: reconnect");
        }
    }
}

impl ClusterDirectory {
    /// Polite shutdown: hands every room over to the rest of the cluster. Each room's
    /// game is taken out of the world at its last tick and written as a final snapshot,
    /// its lease is released with the snapshot kept, and its sessions are closed with
    /// 1012 so clients reconnect through matchmaking; another node's sweep adopts the
    /// room within a third of the lease TTL, and players resume with nothing lost but
    /// the moments of the move. If Redis is unreachable the rooms just stop (their
    /// leases expire and their last periodic snapshots are restored instead).
    pub async fn hand_off(&self) {
        self.draining.store(true, Ordering::Release);
        // Wait for a claim in flight, so its room is in the lease table below.
        drop(self.claims.lock().await);
        let leases: Vec<Lease> = self.leases.lock().drain().map(|(_, l)| l).collect();
        metrics::cluster_leases(0);
        // All rooms at once: their leases are no longer renewed from here on, so the
        // hand-off must end well within a lease's life however many rooms there are.
        join_all(leases.into_iter().map(|lease| self.hand_off_room(lease))).await;
        let gone = self.store.unregister_node(&self.node).await;
        self.note(&gone);
    }

    /// Hands one room over: final snapshot, lease released, sessions closed with 1012.
    async fn hand_off_room(&self, lease: Lease) {
        let handle = &lease.handle;
        // A periodic snapshot not yet written is older than the final one: drop it.
        self.snapshots.lock().remove(&handle.id);
        self.seated.lock().remove(&handle.id);
        let snapshot_ttl = Duration::from_secs(self.settings.cluster.snapshot_ttl_s);
        let mut kept = false;
        if let Ok(Some((tick, saved))) = self.local.world().send(HandOffRoom { id: handle.id }).await {
            if let Ok(bytes) = handle.addr.send(EncodeSnapshot { tick, saved }).await {
                let len = bytes.len();
                let written = self.store.save_snapshot(&lease.name, &self.node, lease.fence, bytes, snapshot_ttl).await;
                self.note(&written);
                if matches!(written, Ok(true)) {
                    metrics::cluster_snapshot("ok", len);
                    kept = true;
                }
            }
        }
        let released = self.store.release(&lease.name, &self.node, lease.fence, false).await;
        self.note(&released);
        tracing::info!(room = %lease.name, final_snapshot = kept, released = matches!(released, Ok(true)), "room handed off");
        self.local.stop(
            handle.id,
            close_code::TRY_AGAIN,
            "server restarting: the room moves to another node, reconnect",
        );
    }
}

impl RoomDirectory for ClusterDirectory {
    fn place(&self, request: PlacementRequest) -> BoxFuture<'_, Result<Placement, PlacementError>> {
        Box::pin(held_seats::place(self, request))
    }

    fn locate<'a>(&'a self, name: &'a str, uid: Option<RoomUid>) -> BoxFuture<'a, Result<Located, PlacementError>> {
        Box::pin(self.locate_room(name, uid))
    }

    fn list(&self) -> BoxFuture<'_, Result<Vec<RoomListing>, PlacementError>> {
        Box::pin(async move {
            let rooms = self.store.rooms().await;
            self.note(&rooms);
            let (records, _) = rooms.map_err(Self::unavailable)?;
            Ok(records
                .into_iter()
                .map(|r| {
                    // Our own rooms: the live counters, not the last renewal's.
                    let live = (r.node == self.node).then(|| self.local.find(&r.name)).flatten();
                    let (players, tick) = match live {
                        Some(h) => (h.shared.seats.load(Ordering::Acquire), h.shared.tick.load(Ordering::Acquire)),
                        None => (r.seats.min(r.capacity), r.tick),
                    };
                    RoomListing { name: r.name, players, capacity: r.capacity, tick, node: r.node }
                })
                .collect())
        })
    }

    fn find(&self, name: &str) -> Option<RoomHandle> {
        self.local.find(name)
    }

    fn local_rooms(&self) -> Vec<RoomHandle> {
        self.local.local_rooms()
    }
}

/// The steps of [`held_seats`]'s rules.
impl SeatSteps for ClusterDirectory {
    fn named<'a>(
        &'a self,
        name: &'a str,
        held: Option<u64>,
        who: &'a Requester,
    ) -> impl Future<Output = Result<Placement, PlacementError>> + Send + 'a {
        self.reserve_named(name, held, who)
    }

    async fn any(&self, who: &Requester) -> Result<Placement, PlacementError> {
        if !self.redis_up() {
            return Err(PlacementError::Unavailable("Redis unreachable".into()));
        }
        self.reserve_any(who).await
    }

    fn any_here<'a>(
        &'a self,
        who: &'a Requester,
    ) -> impl Future<Output = Result<Placement, PlacementError>> + Send + 'a {
        self.reserve_any_here_now(who)
    }

    fn release(&self, room: &str, nonce: u64) {
        self.release_hold(room, nonce);
    }

    fn take_held_here(&self, nonce: u64, room: &str) -> Option<Reservation> {
        self.local.take_held_seat(nonce, room)
    }

    fn hold_here(&self, reservation: Reservation) -> Result<Placement, PlacementError> {
        self.local.hold_seat(reservation).map(Placement::Held)
    }
}

impl RoomReports for ClusterDirectory {
    fn dispose_if_unused(&self, id: RoomId) -> bool {
        if !self.local.dispose_if_unused(id) {
            return false;
        }
        self.snapshots.lock().remove(&id);
        self.seated.lock().remove(&id);
        let lease = {
            let mut leases = self.leases.lock();
            let lease = leases.remove(&id);
            metrics::cluster_leases(leases.len());
            lease
        };
        if let Some(lease) = lease {
            let (store, node) = (self.store.clone(), self.node.clone());
            // Not awaited: the room's thread must not wait on Redis. If this fails the
            // lease just expires, and the sweep forgets the name once the snapshot does.
            actix::spawn(async move {
                if let Err(e) = store.release(&lease.name, &node, lease.fence, true).await {
                    tracing::warn!(room = %lease.name, error = %e, "lease release failed; it will expire");
                }
            });
        }
        true
    }

    fn save_snapshot(&self, id: RoomId, snapshot: Vec<u8>) {
        if snapshot.len() > self.settings.cluster.max_snapshot_bytes {
            metrics::cluster_snapshot("too_big", snapshot.len());
            tracing::warn!(
                id,
                bytes = snapshot.len(),
                max = self.settings.cluster.max_snapshot_bytes,
                "room snapshot larger than cluster.max_snapshot_bytes: not written"
            );
            return;
        }
        // Only the latest matters: an unwritten older one is replaced.
        self.snapshots.lock().insert(id, snapshot);
    }
}

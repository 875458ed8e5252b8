//! Everything tickcast keeps in Redis, and the only code that talks to it.
//!
//! Keys (all under `cluster.key_prefix`, `P` below):
//! - `P:node:<id>`: a node's registry entry (JSON: url, load), expiring after
//!   `cluster.node_ttl_s` unless refreshed; `P:nodes` is the set of ids seen, pruned
//!   when their entry is gone.
//! - `P:room:<name>`: a room's **lease**, a hash (owner node, its url, fencing number,
//!   uid, seats, capacity, tick, matchmade) expiring after `cluster.lease_ttl_s`
//!   unless its owner renews it. A lease may be **opened for** another node by a
//!   matchmaker (`pending` = 1, lapsing like any lease unless claimed): it names the
//!   node that will run the room, and that node claims it when the player arrives.
//! - `P:held:<name>`: seats held in the room (a sorted set: seat nonce → expiry, Redis
//!   time), for players on their way from another node's matchmaker and for players
//!   the owner seated since its last renewal, which releases them. A room's seats
//!   taken are its owner's count plus these, so every matchmaker sees seats in flight.
//! - `P:rooms`: every known room name → its uid, including rooms whose lease expired
//!   but whose snapshot waits to be restored.
//! - `P:snap:<name>`: the room's latest snapshot, expiring after `cluster.snapshot_ttl_s`.
//! - `P:fence`, `P:uid`, `P:mm`: counters for fencing numbers, room uids and
//!   matchmade room names.
//!
//! Every write that only an owner may make (renew, snapshot, release) is a Lua script
//! that first checks the caller's node id **and fencing number** against the lease, so
//! a stale owner — one whose lease expired and was claimed by another node — is refused
//! even if its write arrives late. Claims are a script too: of two nodes claiming one
//! name at once, exactly one wins.
//!
//! All I/O runs on one dedicated thread (the cluster arbiter) with a deadline
//! (`cluster.redis_timeout_ms`), so neither the tick nor an HTTP worker ever waits on
//! Redis beyond that bound, and a Redis outage is an error value, never a hang.

use crate::metrics;
use actix::ArbiterHandle;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncCommands, Script};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, LazyLock};
use std::time::{Duration, Instant};

/// Why a Redis operation failed.
#[derive(Debug)]
pub enum StoreError {
    /// No answer within `cluster.redis_timeout_ms`.
    Timeout,
    /// Redis answered with an error, or the connection failed.
    Redis(redis::RedisError),
    /// The cluster thread is gone (shutting down).
    Stopped,
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Timeout => f.write_str("Redis did not answer in time"),
            StoreError::Redis(e) => write!(f, "Redis error: {e}"),
            StoreError::Stopped => f.write_str("cluster thread stopped"),
        }
    }
}

impl std::error::Error for StoreError {}

/// A node's registry entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// `cluster.node_id`.
    pub id: String,
    /// `cluster.public_url`.
    pub url: String,
    /// Players seated on the node.
    pub players: usize,
    /// Rooms it runs.
    pub rooms: usize,
    /// Rooms it may run (`room.max_rooms`).
    pub max_rooms: usize,
}

/// A room's lease as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomRecord {
    /// Room name.
    pub name: String,
    /// Owning node.
    pub node: String,
    /// The owner's public URL.
    pub url: String,
    /// Cluster-wide room id.
    pub uid: u64,
    /// Fencing number of the current lease.
    pub fence: u64,
    /// Seats taken: the owner's count plus seats held for players on their way.
    pub seats: usize,
    /// Seats in all.
    pub capacity: usize,
    /// Last tick reported by the owner.
    pub tick: u64,
    /// Created by join-or-create matchmaking.
    pub matchmade: bool,
}

/// What an owner reports of a room at each lease renewal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoomLoad {
    /// Seats taken in the room, as the owner counts them.
    pub seats: usize,
    /// The room's tick.
    pub tick: u64,
    /// Nonces of held seats whose players the owner has seated since its last
    /// renewal: `seats` counts them now, so their holds are released in the same step
    /// (read together with `seats`, so no seat is counted twice or not at all).
    pub seated: Vec<u64>,
}

/// The outcome of a claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// This node now owns the room.
    Won {
        /// The lease's fencing number (greater than any earlier lease's).
        fence: u64,
        /// The room's uid: the old one if a snapshot is to be restored, else new.
        uid: u64,
        /// A snapshot exists and should be restored.
        restore: bool,
    },
    /// Another node (or this one, concurrently) owns it.
    Owned {
        /// The owner.
        node: String,
        /// Its public URL.
        url: String,
    },
}

/// The outcome of a matchmaking seat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeatTaken {
    /// Held; the room is on `node` at `url`.
    Yes {
        /// The owner.
        node: String,
        /// Its public URL.
        url: String,
    },
    /// The room is full.
    Full,
    /// The room has no lease.
    Gone,
}

static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local owner = redis.call('HMGET', KEYS[1], 'node', 'url', 'pending', 'fence', 'uid')
if owner[1] then
  if owner[1] == ARGV[2] and owner[3] == '1' then
    -- Opened for this node by a matchmaker: start it under that lease, as this node
    -- describes itself (its URL, its room size).
    redis.call('HSET', KEYS[1], 'pending', 0, 'url', ARGV[3], 'capacity', ARGV[5])
    redis.call('PEXPIRE', KEYS[1], ARGV[4])
    return {1, ARGV[2], ARGV[3], tonumber(owner[4]), tonumber(owner[5]), 0}
  end
  return {0, owner[1], owner[2], 0, 0, 0}
end
redis.call('DEL', KEYS[6])
local fence = redis.call('INCR', KEYS[3])
local uid = redis.call('HGET', KEYS[2], ARGV[1])
local restore = 0
if uid and redis.call('EXISTS', KEYS[5]) == 1 then
  restore = 1
else
  uid = redis.call('INCR', KEYS[4])
  redis.call('DEL', KEYS[5])
  redis.call('HSET', KEYS[2], ARGV[1], uid)
end
redis.call('HSET', KEYS[1], 'node', ARGV[2], 'url', ARGV[3], 'fence', fence, 'uid', uid,
  'seats', 0, 'capacity', ARGV[5], 'tick', 0, 'matchmade', ARGV[6])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return {1, ARGV[2], ARGV[3], fence, tonumber(uid), restore}
",
    )
});

/// Redis's clock in milliseconds (scripts replicate their effects, so reading it in a
/// script is allowed), for the expiry of held seats: one clock for every node.
const NOW_MS: &str = "local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
";

static RENEW: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"
local cur = redis.call('HMGET', KEYS[1], 'node', 'fence')
if cur[1] ~= ARGV[1] or cur[2] ~= ARGV[2] then return 0 end
{NOW_MS}
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
for i = 6, #ARGV do redis.call('ZREM', KEYS[2], ARGV[i]) end
redis.call('HSET', KEYS[1], 'seats', ARGV[4], 'tick', ARGV[5])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"
    ))
});

static SAVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local cur = redis.call('HMGET', KEYS[1], 'node', 'fence')
if cur[1] ~= ARGV[1] or cur[2] ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
return 1
",
    )
});

static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local cur = redis.call('HMGET', KEYS[1], 'node', 'fence')
if cur[1] ~= ARGV[1] or cur[2] ~= ARGV[2] then return 0 end
redis.call('DEL', KEYS[1], KEYS[4])
if ARGV[4] == '1' then
  redis.call('DEL', KEYS[3])
  redis.call('HDEL', KEYS[2], ARGV[3])
end
return 1
",
    )
});

/// Holds a seat for a player: seats taken (the owner's count plus held seats still in
/// time) must be under capacity. Held for players on their way from another node, and
/// for players the owner seated since its last renewal, which then releases them.
static SEAT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"
local v = redis.call('HMGET', KEYS[1], 'node', 'url', 'seats', 'capacity')
if not v[1] then return {{0, '', ''}} end
{NOW_MS}
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
if tonumber(v[3]) + redis.call('ZCARD', KEYS[2]) >= tonumber(v[4]) then return {{-1, v[1], v[2]}} end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return {{1, v[1], v[2]}}
"
    ))
});

/// Opens a new matchmade room's lease for another node, with the first player's seat
/// held; unclaimed, the lease lapses like any other (`cluster.lease_ttl_s`). A name
/// already in the index (a room waiting to be restored) is refused.
static OPEN_FOR: LazyLock<Script> = LazyLock::new(|| {
    Script::new(&format!(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 0 end
local fence = redis.call('INCR', KEYS[3])
local uid = redis.call('INCR', KEYS[4])
redis.call('DEL', KEYS[5], KEYS[6])
redis.call('HSET', KEYS[2], ARGV[1], uid)
redis.call('HSET', KEYS[1], 'node', ARGV[2], 'url', ARGV[3], 'fence', fence, 'uid', uid,
  'seats', 0, 'capacity', ARGV[5], 'tick', 0, 'matchmade', 1, 'pending', 1)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
{NOW_MS}
redis.call('ZADD', KEYS[6], now + tonumber(ARGV[7]), ARGV[6])
redis.call('PEXPIRE', KEYS[6], ARGV[7])
return 1
"
    ))
});

static DROP_ORPHAN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('HDEL', KEYS[3], ARGV[1])
return 1
",
    )
});

/// The cluster's Redis keys and the operations on them.
#[derive(Clone)]
pub struct Store {
    conn: ConnectionManager,
    prefix: Arc<str>,
    thread: ArbiterHandle,
    timeout: Duration,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("prefix", &self.prefix).finish()
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis().max(1) as u64
}

impl Store {
    /// A store for `redis_url` whose I/O runs on `thread`. The connection is made
    /// lazily and remade after failures, so a node starts (and keeps running) while
    /// Redis is away; each call then fails fast with an error.
    pub fn new(redis_url: &str, prefix: &str, thread: ArbiterHandle, timeout: Duration) -> Result<Self, StoreError> {
        let client = redis::Client::open(redis_url).map_err(StoreError::Redis)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(timeout))
            .set_response_timeout(Some(timeout))
            .set_number_of_retries(1)
            .set_max_delay(timeout);
        // The manager spawns its connection task on the runtime it is created in: build
        // it on the cluster thread so that task lives there, not on a caller's thread.
        let (tx, rx) = std::sync::mpsc::channel();
        let spawned = thread.spawn(async move {
            let _ = tx.send(ConnectionManager::new_lazy_with_config(client, config));
        });
        if !spawned {
            return Err(StoreError::Stopped);
        }
        let conn = rx.recv().map_err(|_| StoreError::Stopped)?.map_err(StoreError::Redis)?;
        Ok(Store { conn, prefix: Arc::from(prefix), thread, timeout })
    }

    fn key(&self, parts: &[&str]) -> String {
        let mut k = String::with_capacity(self.prefix.len() + 32);
        k.push_str(&self.prefix);
        for p in parts {
            k.push(':');
            k.push_str(p);
        }
        k
    }

    /// The keys a new lease is written under, for [`CLAIM`] and [`OPEN_FOR`]: the lease,
    /// the index, the fence and uid counters, the snapshot and the held seats.
    fn creation_keys(&self, name: &str) -> [String; 6] {
        [
            self.key(&["room", name]),
            self.key(&["rooms"]),
            self.key(&["fence"]),
            self.key(&["uid"]),
            self.key(&["snap", name]),
            self.key(&["held", name]),
        ]
    }

    /// Runs `f` on the cluster thread with the deadline, and meters it as `op`.
    async fn run<T, F, Fut>(&self, op: &'static str, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(ConnectionManager) -> Fut + Send + 'static,
        Fut: Future<Output = redis::RedisResult<T>> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let conn = self.conn.clone();
        let timeout = self.timeout;
        let started = Instant::now();
        let spawned = self.thread.spawn(async move {
            let _ = tx.send(tokio::time::timeout(timeout, f(conn)).await);
        });
        let result = if !spawned {
            Err(StoreError::Stopped)
        } else {
            match rx.await {
                Err(_) => Err(StoreError::Stopped),
                Ok(Err(_)) => Err(StoreError::Timeout),
                Ok(Ok(Err(e))) => Err(StoreError::Redis(e)),
                Ok(Ok(Ok(v))) => Ok(v),
            }
        };
        let outcome = match &result {
            Ok(_) => "ok",
            Err(StoreError::Timeout) => "timeout",
            Err(_) => "error",
        };
        metrics::cluster_op(op, outcome, started.elapsed());
        result
    }

    /// Writes this node's registry entry with a TTL.
    pub async fn register_node(&self, node: &NodeInfo, ttl: Duration) -> Result<(), StoreError> {
        let (key, set) = (self.key(&["node", &node.id]), self.key(&["nodes"]));
        let json = serde_json::to_string(node).unwrap_or_default();
        let id = node.id.clone();
        self.run("register", move |mut c| async move {
            redis::pipe().atomic().set_options(&key, json, px(ttl)).sadd(&set, id).query_async::<()>(&mut c).await
        })
        .await
    }

    /// Removes this node's registry entry (polite shutdown).
    pub async fn unregister_node(&self, id: &str) -> Result<(), StoreError> {
        let (key, set, id) = (self.key(&["node", id]), self.key(&["nodes"]), id.to_string());
        self.run("unregister", move |mut c| async move {
            redis::pipe().atomic().del(&key).srem(&set, id).query_async::<()>(&mut c).await
        })
        .await
    }

    /// Live nodes (entries not expired); ids whose entry expired are pruned.
    pub async fn nodes(&self) -> Result<Vec<NodeInfo>, StoreError> {
        let set = self.key(&["nodes"]);
        let prefix = self.key(&["node"]);
        self.run("nodes", move |mut c| async move {
            let ids: Vec<String> = c.smembers(&set).await?;
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            let keys: Vec<String> = ids.iter().map(|id| format!("{prefix}:{id}")).collect();
            let values: Vec<Option<String>> = redis::cmd("MGET").arg(&keys).query_async(&mut c).await?;
            let mut live = Vec::new();
            for (id, value) in ids.iter().zip(values) {
                match value.and_then(|v| serde_json::from_str::<NodeInfo>(&v).ok()) {
                    Some(info) => live.push(info),
                    None => {
                        let _: i64 = c.srem(&set, id).await?;
                    }
                }
            }
            Ok(live)
        })
        .await
    }

    /// Claims room `name` for `node` if no lease exists.
    pub async fn claim(
        &self,
        name: &str,
        node: &str,
        url: &str,
        ttl: Duration,
        capacity: usize,
        matchmade: bool,
    ) -> Result<Claim, StoreError> {
        let keys = self.creation_keys(name);
        let args = (name.to_string(), node.to_string(), url.to_string(), ms(ttl), capacity, matchmade as u8);
        let (won, owner, owner_url, fence, uid, restore): (i64, String, String, u64, u64, i64) = self
            .run("claim", move |mut c| async move {
                CLAIM
                    .key(&keys[..])
                    .arg(args) // a tuple: one argument per field, in order
                    .invoke_async(&mut c)
                    .await
            })
            .await?;
        Ok(if won == 1 {
            Claim::Won { fence, uid, restore: restore == 1 }
        } else {
            Claim::Owned { node: owner, url: owner_url }
        })
    }

    /// Extends a lease this node holds with `fence`, publishing the room's `load`;
    /// false if the lease is gone or another node's.
    pub async fn renew(
        &self,
        name: &str,
        node: &str,
        fence: u64,
        ttl: Duration,
        load: RoomLoad,
    ) -> Result<bool, StoreError> {
        let keys = [self.key(&["room", name]), self.key(&["held", name])];
        let node = node.to_string();
        self.run("renew", move |mut c| async move {
            let ok: i64 = RENEW
                .key(&keys[..])
                .arg(node)
                .arg(fence)
                .arg(ms(ttl))
                .arg(load.seats)
                .arg(load.tick)
                .arg(&load.seated)
                .invoke_async(&mut c)
                .await?;
            Ok(ok == 1)
        })
        .await
    }

    /// Writes a snapshot under the lease `fence`; false if the lease is not ours.
    pub async fn save_snapshot(
        &self,
        name: &str,
        node: &str,
        fence: u64,
        bytes: Vec<u8>,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let keys = [self.key(&["room", name]), self.key(&["snap", name])];
        let node = node.to_string();
        self.run("snapshot", move |mut c| async move {
            let ok: i64 = SAVE.key(&keys[..]).arg(node).arg(fence).arg(bytes).arg(ms(ttl)).invoke_async(&mut c).await?;
            Ok(ok == 1)
        })
        .await
    }

    /// The room's snapshot, if any.
    pub async fn load_snapshot(&self, name: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let key = self.key(&["snap", name]);
        self.run("load", move |mut c| async move { c.get(key).await }).await
    }

    /// Gives a lease up. With `dispose`, the room is forgotten (snapshot and index
    /// entry deleted); without, its snapshot stays for another node to restore.
    pub async fn release(&self, name: &str, node: &str, fence: u64, dispose: bool) -> Result<bool, StoreError> {
        let keys =
            [self.key(&["room", name]), self.key(&["rooms"]), self.key(&["snap", name]), self.key(&["held", name])];
        let (node, name) = (node.to_string(), name.to_string());
        self.run("release", move |mut c| async move {
            let ok: i64 =
                RELEASE.key(&keys[..]).arg(node).arg(fence).arg(name).arg(dispose as u8).invoke_async(&mut c).await?;
            Ok(ok == 1)
        })
        .await
    }

    /// Holds a seat in another node's room for a player on the way with seat `nonce`,
    /// for `ttl` (the seat token's life) or until the owner sees the player arrive.
    pub async fn take_seat(&self, name: &str, nonce: u64, ttl: Duration) -> Result<SeatTaken, StoreError> {
        let keys = [self.key(&["room", name]), self.key(&["held", name])];
        let (code, node, url): (i64, String, String) =
            self.run("seat", move |mut c| async move {
                SEAT.key(&keys[..]).arg(nonce).arg(ms(ttl)).invoke_async(&mut c).await
            })
            .await?;
        Ok(match code {
            1 => SeatTaken::Yes { node, url },
            -1 => SeatTaken::Full,
            _ => SeatTaken::Gone,
        })
    }

    /// Releases the seat held under `nonce` in room `name`: its player will not come,
    /// or was placed in another room.
    pub async fn release_hold(&self, name: &str, nonce: u64) -> Result<(), StoreError> {
        let key = self.key(&["held", name]);
        self.run("release_hold", move |mut c| async move { c.zrem(key, nonce).await }).await
    }

    /// Opens the lease of new matchmade room `name` for `node` (at `url`) for
    /// `lease_ttl`, holding seat `nonce` in it for `hold_ttl`: the node claims it when
    /// that player arrives. False if the name is taken.
    pub async fn open_for(
        &self,
        name: &str,
        (node, url): (&str, &str),
        capacity: usize,
        nonce: u64,
        (lease_ttl, hold_ttl): (Duration, Duration),
    ) -> Result<bool, StoreError> {
        let keys = self.creation_keys(name);
        let args = (name.to_string(), node.to_string(), url.to_string(), ms(lease_ttl), capacity, nonce, ms(hold_ttl));
        self.run("open_for", move |mut c| async move {
            let ok: i64 = OPEN_FOR.key(&keys[..]).arg(args).invoke_async(&mut c).await?;
            Ok(ok == 1)
        })
        .await
    }

    /// A fresh, cluster-unique number for a matchmade room (named `mm-<n>`).
    pub async fn next_matchmade_number(&self) -> Result<u64, StoreError> {
        let key = self.key(&["mm"]);
        self.run("mm_name", move |mut c| async move { c.incr(key, 1).await }).await
    }

    /// Every known room: leases, and names whose lease expired (orphans) with their uid.
    pub async fn rooms(&self) -> Result<(Vec<RoomRecord>, Vec<(String, u64)>), StoreError> {
        let index = self.key(&["rooms"]);
        let room_prefix = self.key(&["room"]);
        let held_prefix = self.key(&["held"]);
        self.run("rooms", move |mut c| async move {
            let names: HashMap<String, u64> = c.hgetall(&index).await?;
            let mut pipe = redis::pipe();
            let names: Vec<(String, u64)> = names.into_iter().collect();
            for (name, _) in &names {
                pipe.hgetall(format!("{room_prefix}:{name}"));
                pipe.zcard(format!("{held_prefix}:{name}"));
            }
            let leases: Vec<(HashMap<String, String>, usize)> =
                if names.is_empty() { Vec::new() } else { pipe.query_async(&mut c).await? };
            let mut records = Vec::new();
            let mut orphans = Vec::new();
            for ((name, uid), (fields, held)) in names.into_iter().zip(leases) {
                match record(&name, &fields) {
                    // Held seats not yet purged may have expired: at worst a room looks
                    // fuller than it is until the next renewal purges them.
                    Some(r) => records.push(RoomRecord { seats: r.seats + held, ..r }),
                    None => orphans.push((name, uid)),
                }
            }
            records.sort_by(|a, b| a.name.cmp(&b.name));
            Ok((records, orphans))
        })
        .await
    }

    /// One room's lease, if any, and else its uid if it is a known orphan.
    pub async fn room(&self, name: &str) -> Result<(Option<RoomRecord>, Option<u64>), StoreError> {
        let (key, index, snap) = (self.key(&["room", name]), self.key(&["rooms"]), self.key(&["snap", name]));
        let name = name.to_string();
        self.run("room", move |mut c| async move {
            let fields: HashMap<String, String> = c.hgetall(&key).await?;
            if let Some(r) = record(&name, &fields) {
                return Ok((Some(r), None));
            }
            let uid: Option<u64> = c.hget(&index, &name).await?;
            let has_snapshot: bool = c.exists(&snap).await?;
            Ok((None, uid.filter(|_| has_snapshot)))
        })
        .await
    }

    /// Forgets an orphan that has no snapshot left.
    pub async fn drop_orphan(&self, name: &str) -> Result<bool, StoreError> {
        let keys = [self.key(&["room", name]), self.key(&["snap", name]), self.key(&["rooms"])];
        let name = name.to_string();
        self.run("drop_orphan", move |mut c| async move {
            let ok: i64 = DROP_ORPHAN.key(&keys[..]).arg(name).invoke_async(&mut c).await?;
            Ok(ok == 1)
        })
        .await
    }

    /// Expires a lease now, as if its owner had died (tests of fencing).
    pub async fn expire_lease(&self, name: &str) -> Result<(), StoreError> {
        let key = self.key(&["room", name]);
        self.run("expire", move |mut c| async move { c.del(key).await }).await
    }
}

fn px(ttl: Duration) -> redis::SetOptions {
    redis::SetOptions::default().with_expiration(redis::SetExpiry::PX(ms(ttl)))
}

fn record(name: &str, f: &HashMap<String, String>) -> Option<RoomRecord> {
    let num = |k: &str| f.get(k).and_then(|v| v.parse::<u64>().ok());
    Some(RoomRecord {
        name: name.to_string(),
        node: f.get("node")?.clone(),
        url: f.get("url")?.clone(),
        uid: num("uid")?,
        fence: num("fence")?,
        seats: num("seats").unwrap_or(0) as usize,
        capacity: num("capacity").unwrap_or(0) as usize,
        tick: num("tick").unwrap_or(0),
        matchmade: f.get("matchmade").is_some_and(|v| v == "1"),
    })
}

//! The cluster keeper: the background loops that keep this node's part of the directory
//! true. On the cluster thread, each on its own timer (so a slow one never delays a
//! lease renewal), every fraction of a TTL:
//! - refresh the node's registry entry;
//! - renew every lease this node holds (a lease found taken by another fence stops its
//!   room at once);
//! - write the rooms' latest snapshots, fenced;
//! - sweep: adopt rooms whose lease expired but whose snapshot waits (their node died),
//!   and forget names that have neither.
//!
//! A separate watchdog, which needs no Redis, stops any room whose lease could expire
//! within a sixth of its TTL — the lease was not renewed because Redis is unreachable —
//! so a room never runs on two nodes at once: it stops here before another node can
//! claim it. Its players get 1012 and reconnect through matchmaking.

use super::directory::ClusterDirectory;
use crate::actors::directory::RoomId;
use crate::config::secs;
use crate::metrics;
use actix::ArbiterHandle;
use futures_util::future::join_all;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use tokio::time::MissedTickBehavior;

/// How often the watchdog looks at lease deadlines.
const WATCH_EVERY: Duration = Duration::from_millis(100);

/// Most orphaned rooms one node adopts per sweep, so a dead node's rooms spread over the
/// live ones instead of all landing on the first to sweep.
const ADOPT_PER_SWEEP: usize = 4;

/// Starts the keeper and the watchdog on `thread`; they end when `dir` is dropped.
pub fn start(dir: &Arc<ClusterDirectory>, thread: &ArbiterHandle) {
    thread.spawn(keep(Arc::downgrade(dir)));
    thread.spawn(watch(Arc::downgrade(dir)));
}

async fn watch(dir: Weak<ClusterDirectory>) {
    let mut every = tokio::time::interval(WATCH_EVERY);
    every.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some(dir) = dir.upgrade() else { return };
        let margin = dir.lease_ttl() / 6;
        let deadline = Instant::now() + margin;
        let expiring: Vec<(RoomId, Arc<str>)> = dir
            .leases
            .lock()
            .iter()
            .filter(|(_, l)| l.valid_until <= deadline)
            .map(|(id, l)| (*id, l.name.clone()))
            .collect();
        for (id, name) in expiring {
            tracing::error!(room = %name, "lease about to expire without renewal (Redis unreachable): stopping the room");
            dir.stop_room(id, "expiring", "lost contact with the cluster directory: reconnect");
        }
    }
}

/// Starts the four loops. Each has its own timer, so a slow sweep or a burst of
/// snapshot writes never delays a lease renewal (and a renewal never waits for a sweep
/// that waits on a claim).
async fn keep(dir: Weak<ClusterDirectory>) {
    let Some(first) = dir.upgrade() else { return };
    let c = &first.settings.cluster;
    let renew_every = secs(c.lease_ttl_s / 3.0);
    let register_every = secs(c.node_ttl_s / 3.0);
    let snapshot_every = secs(c.snapshot_interval_s);
    let node_ttl = secs(c.node_ttl_s);
    let snapshot_ttl = Duration::from_secs(c.snapshot_ttl_s);
    drop(first);
    actix::spawn(every(dir.clone(), register_every, move |dir| async move {
        let result = dir.store.register_node(&dir.node_info(), node_ttl).await;
        dir.note(&result);
        if let Ok(nodes) = dir.store.nodes().await {
            metrics::cluster_nodes(nodes.len());
            dir.set_peers(nodes.into_iter().map(|n| n.url));
        }
    }));
    actix::spawn(every(dir.clone(), renew_every, |dir| async move { renew_all(&dir).await }));
    actix::spawn(every(
        dir.clone(),
        snapshot_every,
        move |dir| async move { write_snapshots(&dir, snapshot_ttl).await },
    ));
    every(dir, renew_every, |dir| async move { sweep(&dir).await }).await;
}

/// Runs `job` every `period` (a late run delays the next, never doubles up) until the
/// directory is dropped.
async fn every<F, Fut>(dir: Weak<ClusterDirectory>, period: Duration, mut job: F)
where
    F: FnMut(Arc<ClusterDirectory>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut timer = tokio::time::interval(period.max(Duration::from_millis(50)));
    timer.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        timer.tick().await;
        let Some(dir) = dir.upgrade() else { return };
        job(dir).await;
    }
}

async fn renew_all(dir: &ClusterDirectory) {
    dir.forget_seated_of_gone_rooms();
    let leases: Vec<_> = dir.leases.lock().iter().map(|(id, l)| (*id, l.clone())).collect();
    let ttl = dir.lease_ttl();
    let renewals = leases.into_iter().map(|(id, lease)| async move {
        let sent = Instant::now();
        let load = dir.take_load(&lease);
        let result = dir.store.renew(&lease.name, &dir.node, lease.fence, ttl, load.clone()).await;
        (id, lease, sent, load, result)
    });
    for (id, lease, sent, load, result) in join_all(renewals).await {
        dir.note(&result);
        if result.is_err() && dir.holds(id, lease.fence) {
            // Not known to have reached Redis: the next renewal releases those holds.
            dir.untake_load(&lease, load);
        }
        match result {
            Ok(true) => {
                if let Some(l) = dir.leases.lock().get_mut(&id).filter(|l| l.fence == lease.fence) {
                    l.valid_until = sent + ttl;
                }
            }
            // Refused, and still ours here (not disposed or stopped meanwhile): another
            // node holds the lease now.
            Ok(false) if dir.holds(id, lease.fence) => {
                tracing::error!(room = %lease.name, fence = lease.fence, "lease taken by another node: stopping the room");
                dir.stop_room(id, "taken", "room moved to another node: reconnect");
            }
            Ok(false) => {}
            Err(_) => {} // logged by note(); the watchdog stops the room if this lasts
        }
    }
}

async fn write_snapshots(dir: &ClusterDirectory, ttl: Duration) {
    let pending = std::mem::take(&mut *dir.snapshots.lock());
    for (id, bytes) in pending {
        let Some(lease) = dir.leases.lock().get(&id).cloned() else { continue };
        let len = bytes.len();
        let result = dir.store.save_snapshot(&lease.name, &dir.node, lease.fence, bytes.clone(), ttl).await;
        dir.note(&result);
        match result {
            Ok(true) => metrics::cluster_snapshot("ok", len),
            Ok(false) if !dir.holds(id, lease.fence) => {} // disposed or stopped meanwhile
            Ok(false) => {
                metrics::cluster_snapshot("fenced", len);
                tracing::error!(room = %lease.name, "snapshot refused: lease is not ours any more; stopping the room");
                dir.stop_room(id, "taken", "room moved to another node: reconnect");
            }
            Err(_) => {
                metrics::cluster_snapshot("error", len);
                // Keep it for the next round unless a newer one arrived meanwhile.
                dir.snapshots.lock().entry(id).or_insert(bytes);
            }
        }
    }
}

async fn sweep(dir: &ClusterDirectory) {
    let rooms = dir.store.rooms().await;
    dir.note(&rooms);
    let Ok((_, orphans)) = rooms else { return };
    let mut adopted = 0;
    for (name, _) in orphans {
        let found = dir.store.room(&name).await;
        dir.note(&found);
        match found {
            Ok((None, Some(_))) if adopted < ADOPT_PER_SWEEP && dir.adopt(&name).await => {
                adopted += 1;
                tracing::info!(room = %name, "adopted a room whose node is gone");
            }
            Ok((None, None)) => {
                let _ = dir.store.drop_orphan(&name).await;
            }
            _ => {}
        }
    }
}

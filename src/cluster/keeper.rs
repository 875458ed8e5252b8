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
use crate::config::secs;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};
use tokio::time::MissedTickBehavior;

/// How often the watchdog looks at lease deadlines.
const WATCH_EVERY: Duration = Duration::from_millis(100);

/// Most orphaned rooms one node adopts per sweep, so a dead node's rooms spread over the
/// live ones instead of all landing on the first to sweep.
const ADOPT_PER_SWEEP: usize = 4;

/// Starts the keeper and the watchdog on `thread`; they end when `dir` is dropped.
pub fn start(dir: &Arc<ClusterDirectory>, thread: &actix::ArbiterHandle) {
    thread.spawn(keep(Arc::downgrade(dir)));
    thread.spawn(watch(Arc::downgrade(dir)));
}

async fn watch(dir: Weak<ClusterDirectory>) {
    let mut every = tokio::time::interval(WATCH_EVERY);
    every.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let Some(dir) = dir.upgrade() else { return };
        // A sixth of the TTL left: well before Redis can expire the lease.
        dir.stop_expiring(Instant::now() + dir.lease_ttl() / 6);
    }
}

/// Starts the four loops. Each has its own timer, so a slow sweep or a burst of
/// snapshot writes never delays a lease renewal (and a renewal never waits for a sweep
/// that waits on a claim).
async fn keep(dir: Weak<ClusterDirectory>) {
    let Some(first) = dir.upgrade() else { return };
    let c = &first.settings().cluster;
    let renew_every = secs(c.lease_ttl_s / 3.0);
    let register_every = secs(c.node_ttl_s / 3.0);
    let snapshot_every = secs(c.snapshot_interval_s);
    let node_ttl = secs(c.node_ttl_s);
    let snapshot_ttl = Duration::from_secs(c.snapshot_ttl_s);
    drop(first);
    actix::spawn(every(dir.clone(), register_every, move |dir| async move { dir.refresh_registry(node_ttl).await }));
    actix::spawn(every(dir.clone(), renew_every, |dir| async move { dir.renew_leases().await }));
    actix::spawn(every(dir.clone(), snapshot_every, move |dir| async move { dir.write_snapshots(snapshot_ttl).await }));
    every(dir, renew_every, |dir| async move { dir.adopt_orphans(ADOPT_PER_SWEEP).await }).await;
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

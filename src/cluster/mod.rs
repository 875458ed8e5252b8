//! Cluster mode: several tickcast nodes sharing one room namespace through Redis
//! (`cluster.redis_url`). See docs/CLUSTER.md for the design and its failure cases.
//!
//! - [`store`]: the Redis keys and the fenced Lua scripts; the only code that talks to
//!   Redis, all of it on one cluster thread with a deadline per call.
//! - [`ClusterDirectory`]: the distributed [`crate::actors::directory::RoomDirectory`]:
//!   placement anywhere in the cluster, room leases, restores from snapshots.
//! - `held_seats`: the rules for seats held for players on their way (which a
//!   placement uses, falls back from, or releases), over the directory's Redis steps.
//! - [`keeper`]: the loops that refresh the node's registry entry, renew leases, write
//!   snapshots, adopt orphaned rooms, and stop rooms before their lease can expire.
//! - [`RoomSnapshot`]: the bytes a room's owner writes every `cluster.snapshot_interval_s`.
//!
//! Without `cluster.redis_url`, none of this runs and no Redis is needed.

mod directory;
mod held_seats;
pub mod keeper;
pub mod store;

pub use crate::game::snapshot::{RoomSnapshot, SnapshotPlayer, SNAPSHOT_VERSION};
pub use directory::ClusterDirectory;
pub use store::{Store, StoreError};

use crate::actors::directory::LocalDirectory;
use crate::config::Settings;
use actix::ArbiterHandle;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// This node's id: `cluster.node_id`, or a random one.
pub fn node_id(settings: &Settings) -> String {
    if !settings.cluster.node_id.is_empty() {
        return settings.cluster.node_id.clone();
    }
    let mut bytes = [0u8; 4];
    let _ = getrandom::fill(&mut bytes);
    format!("node-{:08x}", u32::from_le_bytes(bytes))
}

/// The URL clients use to reach this node: `cluster.public_url`, or `ws://<bound address>`.
pub fn public_url(settings: &Settings, bound: SocketAddr) -> String {
    if settings.cluster.public_url.is_empty() {
        format!("ws://{bound}")
    } else {
        settings.cluster.public_url.clone()
    }
}

/// Starts cluster mode over `local`: connects the store (lazily), starts the keeper on
/// `thread`, and returns the directory the HTTP layer places players through.
pub fn start(
    local: Arc<LocalDirectory>,
    settings: &Settings,
    bound: SocketAddr,
    thread: ArbiterHandle,
) -> Result<Arc<ClusterDirectory>, StoreError> {
    let c = &settings.cluster;
    let store = Store::new(&c.redis_url, &c.key_prefix, thread.clone(), Duration::from_millis(c.redis_timeout_ms))?;
    let (id, url) = (node_id(settings), public_url(settings, bound));
    tracing::info!(node = %id, %url, redis = %redacted(&c.redis_url), "cluster mode");
    let dir = ClusterDirectory::new(local, store, id, url);
    keeper::start(&dir, &thread);
    Ok(dir)
}

/// The Redis URL without its password, for logs.
fn redacted(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://***{}", &url[..scheme], &url[at..]),
        _ => url.to_string(),
    }
}

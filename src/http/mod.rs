//! The HTTP side: routes, handshake checks, tokens, connection limits, and the
//! connection plumbing (socket handle, metered body) under each session.

pub mod accept;
pub mod admin;
pub mod bans;
pub mod handshake;
pub mod request_limits;
pub mod routes;
pub mod upgrade;

/// Kept at its old path for games that import `tickcast::http::tokens::Authenticator`.
pub use crate::tokens;

use crate::actors::directory::RoomDirectory;
use crate::actors::world::WorldActor;
use crate::config::Settings;
use crate::net::{ConnectionLimits, SubjectLimits};
use crate::tokens::{Authenticator, TokenKeys};
use actix::Addr;
use bans::Bans;
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Arc;

/// What every HTTP worker shares.
pub struct AppState {
    /// Settings.
    pub settings: Arc<Settings>,
    /// Room placement.
    pub directory: Arc<dyn RoomDirectory>,
    /// The world actor.
    pub world: Addr<WorldActor>,
    /// Verifies session tokens.
    pub auth: Arc<dyn Authenticator>,
    /// Signs guest and resume tokens.
    pub keys: TokenKeys,
    /// Connection limits.
    pub connections: Arc<ConnectionLimits>,
    /// TCP connections per IP that are not sessions (slots are taken in `on_connect`).
    pub http_connections: Arc<accept::HttpConnections>,
    /// The origins this server's own pages have (`server.public_origins`, the bound
    /// address, `cluster.public_url`); never taken from the request's `Host`.
    pub own_origins: Vec<String>,
    /// `POST /api/session` per IP.
    pub mint_limiter: DefaultKeyedRateLimiter<IpAddr>,
    /// Token subjects and client IPs banned by an admin (until restart; IPs for
    /// `security.ban_ip_s`).
    pub bans: Bans,
    /// Players per token subject (`security.max_sessions_per_token`).
    pub subjects: Arc<SubjectLimits>,
    /// `GET /api/matchmake` per IP.
    pub matchmake_limiter: DefaultKeyedRateLimiter<IpAddr>,
    /// This node's id in answers (`cluster.node_id`, "local" on a single node without one).
    pub node: String,
    /// The WebSocket base URL of this node (`cluster.public_url`, or derived); `None`
    /// on a single node without one: answers then use the request's `Host`.
    pub public_url: Option<String>,
    /// The address the server is bound to: this node's host for a request that names
    /// none (no `Host` header).
    pub bound: Option<std::net::SocketAddr>,
    /// The cluster directory, in cluster mode (its nodes' origins are trusted).
    #[cfg(feature = "cluster")]
    pub cluster: Option<Arc<crate::cluster::ClusterDirectory>>,
}

impl AppState {
    /// Origins allowed: the server's own, `security.allowed_origins`, and in a cluster
    /// the other nodes' origins (a page served by one node plays on another).
    pub fn allowed_origins(&self) -> Vec<String> {
        let mut allowed = self.own_origins.clone();
        allowed.extend(self.settings.security.allowed_origins.iter().cloned());
        #[cfg(feature = "cluster")]
        if let Some(cluster) = &self.cluster {
            allowed.extend(cluster.peer_origins());
        }
        allowed
    }
}

impl AppState {
    /// Shared state for the given parts.
    pub fn new(
        settings: Arc<Settings>,
        directory: Arc<dyn RoomDirectory>,
        world: Addr<WorldActor>,
        auth: Arc<dyn Authenticator>,
        keys: TokenKeys,
    ) -> Self {
        let per_minute = NonZeroU32::new(settings.security.mint_per_minute).unwrap_or(NonZeroU32::MIN);
        let matchmake_per_minute = NonZeroU32::new(settings.security.matchmake_per_minute).unwrap_or(NonZeroU32::MIN);
        let connections =
            ConnectionLimits::new(settings.limits.max_connections, settings.limits.max_connections_per_ip);
        let http_connections = accept::HttpConnections::new(
            settings.limits.max_http_connections_per_ip,
            settings.security.trusted_proxies.clone(),
        );
        let bans = Bans::new(settings.security.max_bans, std::time::Duration::from_secs(settings.security.ban_ip_s));
        let subjects = SubjectLimits::new(settings.security.max_sessions_per_token);
        AppState {
            mint_limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
            matchmake_limiter: RateLimiter::keyed(Quota::per_minute(matchmake_per_minute)),
            node: String::from("local"),
            public_url: None,
            bound: None,
            #[cfg(feature = "cluster")]
            cluster: None,
            settings,
            directory,
            world,
            auth,
            keys,
            connections,
            http_connections,
            own_origins: Vec::new(),
            bans,
            subjects,
        }
    }
}

//! # tickcast
//!
//! An authoritative multiplayer game update server: browsers and game clients connect over
//! WebSocket, a world actor runs every room's simulation on a fixed tick, and room actors
//! encode each tick once and stream compact binary deltas to their players.
//!
//! # Layout
//! - [`protocol`]: the wire messages and the one codec module (bincode). Pure.
//! - [`game`]: the [`game::Game`] trait a game implements, the state derives, the demo
//!   arena. Pure.
//! - [`sync`]: entity state, deltas and snapshots, baselines, input queues. Pure.
//! - [`tokens`]: who a player is (guest tokens, a game's [`tokens::Authenticator`]) and
//!   which player a reconnecting client takes back (resume tokens).
//! - [`net`]: what a session needs of its connection: the socket handle, session slots.
//! - [`actors`]: world, rooms, sessions, room directory. They only move messages.
//! - `cluster`: cluster mode: the room directory, leases and snapshots in Redis (the
//!   `cluster` cargo feature, on by default; without it the crate needs no Redis client).
//! - [`http`]: routes, handshake checks, request and connection limits, the admin API.
//! - [`limits`]: the per-session input rate limit.
//! - [`config`]: settings from the embedded `config.yaml`, a file and the environment.
//! - [`metrics`]: Prometheus metrics.
//! - [`server`]: putting it together; [`Server`] is what a game links to, and [`run`]
//!   is a whole `main` (config, logs, signals, graceful shutdown) in one call.
//!
//! ```no_run
//! let settings = tickcast::config::Settings::defaults();
//! let server = tickcast::Server::new(settings).start().unwrap();
//! println!("listening on {}", server.addr());
//! server.shutdown();
//! ```

// The derives of `tickcast-derive` name `::tickcast::…`; this lets the crate's own games
// (the arena) use them too.
extern crate self as tickcast;

pub mod actors;
#[cfg(feature = "cluster")]
pub mod cluster;
pub mod config;
pub mod game;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod net;
pub mod protocol;
mod run;
pub mod server;
pub mod sync;
pub mod tokens;

pub use run::run;
pub use server::{RunningServer, Server};

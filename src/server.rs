//! Assembling and running a tickcast server: the world on its own thread, rooms on
//! theirs, HTTP workers, and graceful shutdown.

use crate::actors::directory::{LocalDirectory, RoomDirectory};
use crate::actors::room::CloseAll;
use crate::actors::world::{StopWorld, WorldActor};
#[cfg(feature = "cluster")]
use crate::cluster;
use crate::config::Settings;
use crate::game::{arena_factory, GameFactory};
use crate::http::{admin, request_limits, routes, upgrade, AppState};
use crate::net::SocketHandle;
use crate::protocol::close_code;
use crate::tokens::{Authenticator, GuestAuthenticator, TokenKeys};
use actix::{Actor, Arbiter};
use actix_http::HttpService;
use actix_service::{IntoServiceFactory, ServiceFactory, ServiceFactoryExt};
use actix_web::dev::AppConfig;
use actix_web::middleware::from_fn;
use actix_web::rt::net::TcpStream;
use actix_web::{web, App, HttpServer};
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A server to be started: settings, the game, and optionally a game's own
/// [`Authenticator`].
pub struct Server {
    settings: Settings,
    factory: GameFactory,
    auth: Option<Arc<dyn Authenticator>>,
}

/// A running server.
pub struct RunningServer {
    addr: SocketAddr,
    admin_addr: Option<SocketAddr>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    /// A server running the arena demo game.
    pub fn new(settings: Settings) -> Self {
        Server { settings, factory: arena_factory(), auth: None }
    }

    /// Uses `factory` to create each room's game.
    pub fn game(mut self, factory: GameFactory) -> Self {
        self.factory = factory;
        self
    }

    /// Verifies session tokens with `auth` instead of the built-in guest tokens.
    pub fn authenticator(mut self, auth: Arc<dyn Authenticator>) -> Self {
        self.auth = Some(auth);
        self
    }

    /// Starts the server on its own threads; returns once it listens.
    pub fn start(self) -> io::Result<RunningServer> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel();
        let thread = std::thread::Builder::new().name("tickcast".into()).spawn(move || {
            let system = actix::System::new();
            system.block_on(self.serve(ready_tx, stop_rx));
        })?;
        match ready_rx.recv() {
            Ok(Ok((addr, admin_addr))) => {
                Ok(RunningServer { addr, admin_addr, stop: Some(stop_tx), thread: Some(thread) })
            }
            Ok(Err(e)) => Err(e),
            Err(_) => Err(io::Error::other("server thread ended before listening")),
        }
    }

    async fn serve(
        self,
        ready: std::sync::mpsc::Sender<io::Result<(SocketAddr, Option<SocketAddr>)>>,
        stop: tokio::sync::oneshot::Receiver<()>,
    ) {
        crate::metrics::install();
        if let Err(e) = cluster_available(&self.settings) {
            let _ = ready.send(Err(e));
            return;
        }
        let settings = Arc::new(self.settings);
        if settings.security.token_secret.is_empty() {
            tracing::warn!("security.token_secret is empty: using a random secret; tokens will not survive a restart");
        }
        let keys = TokenKeys::new(&settings.security.token_secret);
        let auth = self.auth.unwrap_or_else(|| Arc::new(GuestAuthenticator(keys.clone())));

        // Bind first: in a cluster the node's public URL defaults to the bound address.
        let listener = match std::net::TcpListener::bind(&settings.server.bind) {
            Ok(l) => l,
            Err(e) => {
                let _ = ready.send(Err(io::Error::new(e.kind(), format!("cannot bind {}: {e}", settings.server.bind))));
                return;
            }
        };
        let addr = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };

        let world_arbiter = Arbiter::new();
        let (rate, max_events) = (settings.tick.rate_hz, settings.sync.max_events_per_tick);
        let world = WorldActor::start_in_arbiter(&world_arbiter.handle(), move |_| WorldActor::new(rate, max_events));
        let room_arbiters: Vec<Arbiter> = (0..settings.server.room_threads).map(|_| Arbiter::new()).collect();
        let local = LocalDirectory::new(
            settings.clone(),
            world.clone(),
            room_arbiters.iter().map(|a| a.handle()).collect(),
            self.factory,
            keys.clone(),
        );
        // Matchmade seats nobody came for go back to their rooms.
        let held_seats = Arc::downgrade(&local);
        actix::spawn(async move {
            let mut every = tokio::time::interval(Duration::from_secs(1));
            loop {
                every.tick().await;
                let Some(local) = held_seats.upgrade() else { return };
                local.sweep_held_seats();
            }
        });
        let placing = match Placing::start(local, &settings, addr) {
            Ok(p) => p,
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let directory = placing.directory.clone();
        let mut app_state = AppState::new(settings.clone(), directory.clone(), world.clone(), auth, keys);
        app_state.node = placing.node.clone();
        app_state.public_url = placing.public_url.clone();
        app_state.bound = Some(addr);
        #[cfg(feature = "cluster")]
        {
            app_state.cluster = placing.cluster.as_ref().map(|(dir, _)| dir.clone());
        }
        let own_url = settings.cluster.enabled().then(|| app_state.public_url.clone()).flatten();
        app_state.own_origins =
            crate::http::handshake::own_origins(addr, &settings.server.public_origins, own_url.as_deref());
        tracing::info!(origins = ?app_state.own_origins, "pages from these origins may connect (and security.allowed_origins)");
        let state = web::Data::new(app_state);

        let app_state = state.clone();
        let make_app = move || {
            App::new()
                .app_data(app_state.clone())
                .wrap(from_fn(request_limits::limit_requests))
                .configure(routes::configure)
        };
        let send_buffer = settings.server.socket_send_buffer_bytes;
        let notsent_lowat = settings.server.socket_notsent_lowat_bytes;
        let http_connections = state.http_connections.clone();
        let server_settings = settings.server.clone();
        let upgrade_state = state.clone();
        // HttpServer has no upgrade hook, so the HTTP service is assembled here as
        // HttpServer would, plus `upgrade`: every `Upgrade: websocket` request (any
        // path) goes through `http::upgrade`, which after a 101 hands the raw socket to
        // the session.
        let mut http =
            actix_server::Server::build().shutdown_timeout(settings.server.shutdown_grace_s.max(1)).disable_signals();
        if settings.server.workers > 0 {
            http = http.workers(settings.server.workers);
        }
        let http = http.listen("tickcast", listener, move || {
            let upgrade_app = make_app.clone();
            let upgrade_state = upgrade_state.clone();
            let http_connections = http_connections.clone();
            let upgrade = actix_service::fn_factory(move || {
                let app = upgrade_app().into_factory();
                let state = upgrade_state.clone();
                async move {
                    let app = Rc::new(app.new_service(AppConfig::default()).await?);
                    Ok::<_, ()>(actix_service::fn_service(move |(req, framed)| {
                        let (app, state) = (app.clone(), state.clone());
                        async move {
                            // A failed write here means the client went away mid-answer.
                            if let Err(e) = upgrade::serve(app, state, req, framed).await {
                                tracing::debug!(error = %e, "upgrade request ended early");
                            }
                            Ok::<(), actix_web::Error>(())
                        }
                    }))
                }
            });
            HttpService::build()
                .client_request_timeout(Duration::from_millis(server_settings.request_timeout_ms))
                .client_disconnect_timeout(Duration::from_millis(server_settings.disconnect_timeout_ms))
                .h1_write_buffer_size(server_settings.write_buffer_bytes)
                .tcp_nodelay(true)
                .local_addr(addr)
                .on_connect_ext(move |tcp: &TcpStream, ext| {
                    let Some(socket) = SocketHandle::from_tcp(tcp) else { return };
                    if send_buffer > 0 {
                        socket.set_send_buffer(send_buffer);
                    }
                    if notsent_lowat > 0 {
                        socket.set_notsent_lowat(notsent_lowat);
                    }
                    if let Some(accepted) = http_connections.admit(socket.clone()) {
                        ext.insert(accepted);
                        ext.insert(socket);
                    }
                })
                .upgrade(upgrade)
                .finish(actix_service::map_config(make_app().into_factory().map_err(|e| e.error_response()), |_| {
                    AppConfig::default()
                }))
                .tcp()
        });
        let http = match http {
            Ok(h) => h,
            Err(e) => {
                let _ = ready.send(Err(io::Error::new(e.kind(), format!("cannot listen on {addr}: {e}"))));
                return;
            }
        };
        let mut admin_addr = None;
        let admin = if settings.admin.token.is_empty() {
            None
        } else {
            let admin_state = state.clone();
            let bound = HttpServer::new(move || {
                App::new()
                    .app_data(admin_state.clone())
                    .wrap(from_fn(request_limits::limit_requests))
                    .configure(admin::configure)
            })
            .workers(1)
            .disable_signals()
            .bind(&settings.admin.bind);
            match bound {
                Ok(server) => {
                    admin_addr = server.addrs().first().copied();
                    tracing::info!(addr = ?admin_addr, "admin API listening");
                    let server = server.run();
                    let handle = server.handle();
                    actix::spawn(server);
                    Some(handle)
                }
                Err(e) => {
                    let msg = format!("cannot bind admin.bind {}: {e}", settings.admin.bind);
                    let _ = ready.send(Err(io::Error::new(e.kind(), msg)));
                    return;
                }
            }
        };
        let running = http.run();
        let handle = running.handle();
        let server_task = actix::spawn(running);
        tracing::info!(%addr, tick_rate_hz = settings.tick.rate_hz, "tickcast listening");
        let _ = ready.send(Ok((addr, admin_addr)));

        let _ = stop.await;
        handle.pause().await;
        placing.hand_off().await;
        tracing::info!("shutting down: closing sessions with 1001");
        for room in directory.local_rooms() {
            room.addr.do_send(CloseAll { code: close_code::GOING_AWAY, reason: "server shutting down".into() });
        }
        let deadline = Instant::now() + Duration::from_secs(settings.server.shutdown_grace_s);
        while state.connections.total() > 0 && Instant::now() < deadline {
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
        }
        handle.stop(true).await;
        if let Some(admin) = admin {
            admin.stop(true).await;
        }
        let _ = server_task.await;
        world.do_send(StopWorld);
        world_arbiter.stop();
        for a in room_arbiters {
            a.stop();
        }
        placing.stop();
        tracing::info!("shutdown complete");
    }
}

/// Cluster mode needs the `cluster` feature. Without it a `cluster.redis_url` is refused
/// at start, naming the key and the feature, rather than ignored: a node that silently
/// ran alone would split the game its operator meant to share.
fn cluster_available(settings: &Settings) -> io::Result<()> {
    if settings.cluster.enabled() && !cfg!(feature = "cluster") {
        return Err(io::Error::other(
            "cluster.redis_url is set, but this tickcast was built without its `cluster` cargo feature (on by \
             default): build with `--features cluster`, or leave cluster.redis_url empty for a single node",
        ));
    }
    Ok(())
}

/// The directory players are placed through, and cluster mode's parts when it is on.
struct Placing {
    directory: Arc<dyn RoomDirectory>,
    /// This node's id in answers.
    node: String,
    /// This node's WebSocket base URL, when known.
    public_url: Option<String>,
    /// The cluster directory and the thread its Redis calls and keeper run on.
    #[cfg(feature = "cluster")]
    cluster: Option<(Arc<cluster::ClusterDirectory>, Arbiter)>,
}

impl Placing {
    /// A single node's placement over `local`, or with `cluster.redis_url` the
    /// cluster's (whose public URL defaults to the `bound` address).
    fn start(local: Arc<LocalDirectory>, settings: &Settings, bound: SocketAddr) -> io::Result<Self> {
        let node = local.node().to_string();
        let public_url = (!settings.cluster.public_url.is_empty()).then(|| settings.cluster.public_url.clone());
        #[cfg(feature = "cluster")]
        if settings.cluster.enabled() {
            let thread = Arbiter::new();
            let dir = cluster::start(local, settings, bound, thread.handle())
                .map_err(|e| io::Error::other(format!("cluster.redis_url: {e}")))?;
            return Ok(Placing {
                directory: dir.clone(),
                node: dir.node().to_string(),
                public_url: Some(dir.url().to_string()),
                cluster: Some((dir, thread)),
            });
        }
        // Without the feature, `cluster_available` refused a cluster.redis_url already.
        let _ = bound;
        Ok(Placing {
            directory: local,
            node,
            public_url,
            #[cfg(feature = "cluster")]
            cluster: None,
        })
    }

    /// Polite shutdown in a cluster: every room is handed over to the other nodes.
    async fn hand_off(&self) {
        #[cfg(feature = "cluster")]
        if let Some((cluster, _)) = &self.cluster {
            tracing::info!("shutting down: handing rooms over to the cluster (sessions close with 1012)");
            cluster.hand_off().await;
        }
    }

    /// Stops the cluster thread, if any.
    fn stop(self) {
        #[cfg(feature = "cluster")]
        if let Some((_, thread)) = self.cluster {
            thread.stop();
        }
    }
}

impl RunningServer {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The admin API's address, when `admin.token` is set.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// Closes every session with 1001, waits up to `server.shutdown_grace_s` for them to
    /// go, stops, and returns when every thread has ended.
    pub fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_redis_url_needs_the_cluster_feature_and_says_so() {
        let mut settings = Settings::defaults();
        assert!(cluster_available(&settings).is_ok(), "a single node needs no feature");
        settings.cluster.redis_url = "redis://127.0.0.1:6379".into();
        let refused = cluster_available(&settings);
        if cfg!(feature = "cluster") {
            assert!(refused.is_ok());
        } else {
            let why = refused.unwrap_err().to_string();
            assert!(why.contains("cluster.redis_url") && why.contains("`cluster` cargo feature"), "{why}");
        }
    }
}

//! Shared test helpers: an in-process server on an ephemeral port with test-friendly
//! settings, a token helper, and a WebSocket test client. The client keeps its own
//! transport (tokio-tungstenite, for raw control: small receive buffers, raw frames,
//! malformed messages) but decodes and keeps the state with the `tickcast-client` crate,
//! the one Rust implementation of the client side.
#![allow(dead_code)]

#[cfg(feature = "cluster")]
pub mod cluster;
pub mod plaza;

use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::time::Duration;
use tickcast::config::Settings;
use tickcast::{RunningServer, Server};
use tickcast_client::message::{Frame, UpdateHeader};
use tickcast_client::{ClientMessage, Event, RoomState, Schema, Welcome, World};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Generous bound for anything a test waits for; tests assert what happens, not how fast.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Settings for tests: ephemeral port, one worker, fast closes, 50 Hz.
pub fn settings() -> Settings {
    let mut s = Settings::defaults();
    s.server.bind = "127.0.0.1:0".into();
    s.server.workers = 1;
    s.server.disconnect_timeout_ms = 50;
    s.server.shutdown_grace_s = 2;
    s.tick.rate_hz = 50;
    s.security.token_secret = "test-secret".into();
    s.security.mint_per_minute = 10_000;
    s.admin.bind = "127.0.0.1:0".into();
    s.admin.token = ADMIN_TOKEN.into();
    s
}

pub const ADMIN_TOKEN: &str = "admin-test-token";

/// Starts a server; it stops when the returned value is dropped.
pub fn start(settings: Settings) -> TestServer {
    start_with(Server::new(settings.clone()), settings)
}

/// Starts a server running the [`Churn`] test game.
pub fn start_churn(settings: Settings, entities: u32) -> TestServer {
    let factory: tickcast::game::GameFactory = std::sync::Arc::new(move |_: &tickcast::game::RoomInfo| {
        Box::new(Churn::new(entities)) as Box<dyn tickcast::game::Game>
    });
    start_with(Server::new(settings.clone()).game(factory), settings)
}

/// Starts a server running the game `factory` makes.
pub fn start_game(settings: Settings, factory: tickcast::game::GameFactory) -> TestServer {
    start_with(Server::new(settings.clone()).game(factory), settings)
}

fn start_with(server: Server, settings: Settings) -> TestServer {
    let server = server.start().expect("server starts");
    TestServer { addr: server.addr(), admin: server.admin_addr(), server: Some(server), settings }
}

/// A test game whose every entity changes every tick by a large step, so a room
/// produces a lot of bytes per tick (fills socket buffers quickly in slow-reader tests).
pub struct Churn {
    tick: i32,
    entities: u32,
    players: std::collections::BTreeSet<u32>,
}

impl Churn {
    pub fn new(entities: u32) -> Self {
        Churn { tick: 0, entities, players: Default::default() }
    }
}

impl tickcast::game::Game for Churn {
    fn schema(&self) -> tickcast::protocol::Schema {
        use tickcast::protocol::{EntityKind, FieldDef, InputField, Schema};
        Schema {
            game: "churn".into(),
            entity_kinds: vec![EntityKind {
                name: "blob".into(),
                fields: vec![FieldDef::new("a", 1), FieldDef::new("b", 1)],
            }],
            input: vec![InputField::new("v", -1, 1)],
            event_kinds: vec![],
        }
    }
    fn join(&mut self, player: u32, _: &str) {
        self.players.insert(player);
    }
    fn leave(&mut self, player: u32) {
        self.players.remove(&player);
    }
    fn apply_input(&mut self, _: u32, _: &[i32]) {}
    fn step(&mut self, _: &mut tickcast::game::StepContext<'_>) {
        self.tick += 1;
    }
    fn write_state(&self, out: &mut tickcast::sync::EntityState) {
        for p in &self.players {
            out.push(*p, 0, &[0, 0]);
        }
        for i in 0..self.entities {
            let v = self.tick.wrapping_mul(100_003).wrapping_add(i as i32 * 7919);
            out.push(1_000_000 + i, 0, &[v, -v]);
        }
    }
}

/// A running test server.
pub struct TestServer {
    pub addr: SocketAddr,
    pub admin: Option<SocketAddr>,
    pub settings: Settings,
    server: Option<RunningServer>,
}

impl TestServer {
    /// `ws://addr/ws` with an optional room.
    pub fn ws_url(&self, room: Option<&str>) -> String {
        match room {
            Some(r) => format!("ws://{}/ws?room={r}", self.addr),
            None => format!("ws://{}/ws", self.addr),
        }
    }

    /// Mints a guest token through `POST /api/session`.
    pub async fn token(&self, name: &str) -> String {
        let body = format!("{{\"name\":\"{name}\"}}");
        let (status, text) =
            http(self.addr, "POST", "/api/session", &[("Content-Type", "application/json")], &body).await;
        assert_eq!(status, 200, "token request failed: {text}");
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        v["token"].as_str().expect("token").to_string()
    }

    /// `POST /api/session` as if from client IP `ip` (through a trusted proxy: the
    /// server must list 127.0.0.1 in `security.trusted_proxies`): the token, or the
    /// refusal's status and body.
    pub async fn token_from(&self, name: &str, ip: &str) -> Result<String, (u16, String)> {
        let body = format!("{{\"name\":\"{name}\"}}");
        let headers = [("Content-Type", "application/json"), ("X-Forwarded-For", ip)];
        let (status, text) = http(self.addr, "POST", "/api/session", &headers, &body).await;
        if status != 200 {
            return Err((status, text));
        }
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        Ok(v["token"].as_str().expect("token").to_string())
    }

    /// Opens a session in `room` with session token `token`.
    pub async fn connect_token(&self, room: Option<&str>, token: &str) -> Client {
        Client::connect(&self.ws_url(room), &[&format!("tickcast.token.{token}")]).await.expect("connect")
    }

    /// Opens a session resuming with `resume_token`.
    pub async fn connect_resume(&self, resume_token: &str) -> Client {
        Client::connect(&self.ws_url(None), &[&format!("tickcast.resume.{resume_token}")]).await.expect("connect")
    }

    /// `POST /admin/kick` of `player` in `room`, with or without a ban; the JSON answer.
    pub async fn admin_kick(&self, room: &str, player: u32, ban: bool) -> serde_json::Value {
        let auth = format!("Bearer {ADMIN_TOKEN}");
        let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
        let body = format!(r#"{{"room":"{room}","player":{player},"ban":{ban}}}"#);
        let (status, text) = http(self.admin.expect("admin API on"), "POST", "/admin/kick", &headers, &body).await;
        assert_eq!(status, 200, "{text}");
        serde_json::from_str(&text).expect("json")
    }

    /// Seats taken in `room`, from `GET /api/rooms` (0 when the room is not listed).
    pub async fn seats(&self, room: &str) -> u64 {
        let (status, body) = http(self.addr, "GET", "/api/rooms", &[], "").await;
        assert_eq!(status, 200, "{body}");
        let rooms: Vec<serde_json::Value> = serde_json::from_str(&body).expect("json");
        rooms.iter().find(|r| r["name"] == room).and_then(|r| r["players"].as_u64()).unwrap_or(0)
    }

    /// Connects a player named `name` to `room` (None: matchmaking) and reads Welcome.
    pub async fn join(&self, name: &str, room: Option<&str>) -> Client {
        let token = self.token(name).await;
        let mut c = Client::connect(&self.ws_url(room), &[&format!("tickcast.token.{token}")]).await.expect("connect");
        c.expect_welcome().await;
        c
    }

    /// Like [`TestServer::join`], the upgrade request carrying `X-Forwarded-For:
    /// <forwarded_for>` (which a server trusting 127.0.0.1 as a proxy takes as the
    /// client's IP: how tests, all on loopback, stand for several addresses).
    pub async fn join_from(&self, name: &str, room: Option<&str>, forwarded_for: Option<&str>) -> Client {
        let token = self.token(name).await;
        self.join_with_token_from(&token, room, forwarded_for).await
    }

    /// Like [`TestServer::join_from`] with a token minted beforehand.
    pub async fn join_with_token_from(&self, token: &str, room: Option<&str>, forwarded_for: Option<&str>) -> Client {
        let mut c =
            Client::connect_with(&self.ws_url(room), &[&format!("tickcast.token.{token}")], &forwarded(forwarded_for))
                .await
                .expect("connect");
        c.expect_welcome().await;
        c
    }

    /// Connects a player named `name` to `room` expecting a refusal before the upgrade:
    /// its HTTP status and reason. Panics if the upgrade succeeds.
    pub async fn refused_upgrade(&self, name: &str, room: Option<&str>, forwarded_for: Option<&str>) -> (u16, String) {
        let token = self.token(name).await;
        self.refused_upgrade_with_token(&token, room, forwarded_for).await
    }

    /// Like [`TestServer::refused_upgrade`] with a token minted beforehand.
    pub async fn refused_upgrade_with_token(
        &self,
        token: &str,
        room: Option<&str>,
        forwarded_for: Option<&str>,
    ) -> (u16, String) {
        match Client::connect_with(&self.ws_url(room), &[&format!("tickcast.token.{token}")], &forwarded(forwarded_for))
            .await
        {
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => {
                let reason = r.body().as_deref().map(String::from_utf8_lossy).unwrap_or_default();
                (r.status().as_u16(), reason.trim().to_string())
            }
            Err(e) => panic!("expected an HTTP refusal, got {e}"),
            Ok(_) => panic!("expected a refusal before the upgrade, it was upgraded"),
        }
    }

    /// `GET /api/matchmake<query>` with `X-Forwarded-For` if given: status and body.
    pub async fn matchmake_from(&self, query: &str, forwarded_for: Option<&str>) -> (u16, String) {
        let headers: Vec<(&str, &str)> = forwarded_for.map(|ip| ("X-Forwarded-For", ip)).into_iter().collect();
        http(self.addr, "GET", &format!("/api/matchmake{query}"), &headers, "").await
    }

    /// The value of the metric line starting with `series` (0 when absent).
    pub async fn metric(&self, series: &str) -> f64 {
        let (_, text) = http(self.addr, "GET", "/metrics", &[], "").await;
        text.lines().find_map(|l| l.strip_prefix(series).and_then(|v| v.trim().parse().ok())).unwrap_or(0.0)
    }

    /// Names of the rooms `GET /api/rooms` lists.
    pub async fn room_names(&self) -> Vec<String> {
        let (status, body) = http(self.addr, "GET", "/api/rooms", &[], "").await;
        assert_eq!(status, 200, "{body}");
        let rooms: Vec<serde_json::Value> = serde_json::from_str(&body).expect("json");
        rooms.iter().filter_map(|r| r["name"].as_str().map(str::to_string)).collect()
    }

    /// Waits (polling, up to PATIENCE) until room `name` is no longer listed.
    pub async fn until_room_gone(&self, name: &str) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while self.room_names().await.iter().any(|n| n == name) {
            assert!(tokio::time::Instant::now() < deadline, "room {name} never disposed");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `GET /admin/sessions` as JSON rows.
    pub async fn admin_sessions(&self) -> Vec<serde_json::Value> {
        let auth = format!("Bearer {ADMIN_TOKEN}");
        let (status, body) =
            http(self.admin.expect("admin API on"), "GET", "/admin/sessions", &[("Authorization", &auth)], "").await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("json")
    }

    /// `POST /admin/<action>` with a JSON body; returns the status.
    pub async fn admin_post(&self, action: &str, body: &str) -> u16 {
        let auth = format!("Bearer {ADMIN_TOKEN}");
        let headers = [("Authorization", auth.as_str()), ("Content-Type", "application/json")];
        http(self.admin.expect("admin API on"), "POST", &format!("/admin/{action}"), &headers, body).await.0
    }

    /// The admin row of `player` in `room`.
    pub async fn member(&self, room: &str, player: u32) -> Option<serde_json::Value> {
        self.admin_sessions().await.into_iter().find(|r| r["room"] == room && r["player"] == player)
    }

    /// Polls the admin API until `player` of `room` is listed and `pred` holds of its
    /// row; panics after PATIENCE.
    pub async fn member_until(
        &self,
        room: &str,
        player: u32,
        mut pred: impl FnMut(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            if let Some(row) = self.member(room, player).await.filter(|r| pred(r)) {
                return row;
            }
            assert!(tokio::time::Instant::now() < deadline, "member {player} of {room} never matched");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Stops the server gracefully.
    pub fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            s.shutdown();
        }
    }
}

/// A minimal HTTP/1.1 request over a fresh connection; returns status and body.
pub async fn http(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).await.expect("connect");
    let mut req =
        format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).await.expect("write");
    let mut buf = Vec::new();
    tokio::time::timeout(PATIENCE, s.read_to_end(&mut buf)).await.expect("response in time").expect("read");
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    (status, body)
}

/// What a client received, decoded by `tickcast-client`. An update is a keyframe
/// (Snapshot) when its header has no `base_tick`.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    Welcome(Welcome),
    Update { header: UpdateHeader, events: Vec<Event> },
    Pong { client_time: u64 },
    Notice { code: u16, reason: String },
    Closed { code: u16, reason: String },
}

/// A WebSocket test client.
pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub welcome: Option<Welcome>,
    /// The room's state as this client holds it, kept from every update received.
    /// The room as the client holds it (a plain room, or a big one's cells).
    pub world: RoomState,
    pub updates: Vec<UpdateHeader>,
    pub events: Vec<Event>,
    /// The largest update frame received so far, in WebSocket frame bytes.
    pub largest_frame: usize,
}

impl Client {
    /// A client over an open WebSocket, before its Welcome.
    fn over(ws: WebSocketStream<MaybeTlsStream<TcpStream>>) -> Client {
        Client {
            ws,
            welcome: None,
            world: RoomState::default(),
            updates: Vec::new(),
            events: Vec::new(),
            largest_frame: 0,
        }
    }

    /// Like [`Client::connect`] over a socket with a small receive buffer, so that a
    /// client that pauses reading makes the server's writes back up quickly.
    pub async fn connect_small_rcvbuf(url: &str, extra: &[&str], rcvbuf: u32) -> Client {
        let mut req = url.into_client_request().unwrap();
        let mut protocols = vec!["tickcast.v1".to_string()];
        protocols.extend(extra.iter().map(|s| s.to_string()));
        req.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_str(&protocols.join(", ")).unwrap());
        let host = req.uri().authority().unwrap().as_str().to_string();
        let addr: SocketAddr = host.parse().unwrap();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(rcvbuf).unwrap();
        let tcp = socket.connect(addr).await.unwrap();
        let (ws, _) = tokio_tungstenite::client_async(req, MaybeTlsStream::Plain(tcp)).await.unwrap();
        Client::over(ws)
    }

    /// Opens a WebSocket offering `tickcast.v1` plus `extra` subprotocol entries.
    pub async fn connect(url: &str, extra: &[&str]) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
        Self::connect_with(url, extra, &[]).await
    }

    /// Like [`Client::connect`] as if from client IP `ip`, through a trusted proxy
    /// (`X-Forwarded-For`; the server must trust 127.0.0.1).
    pub async fn connect_from(url: &str, extra: &[&str], ip: &str) -> Client {
        Self::connect_with(url, extra, &[("X-Forwarded-For", ip)]).await.expect("connect")
    }

    /// Like [`Client::connect`] with extra request headers.
    pub async fn connect_with(
        url: &str,
        extra: &[&str],
        headers: &[(&str, &str)],
    ) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
        let mut req = url.into_client_request()?;
        for (k, v) in headers {
            let name = tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(k.as_bytes()).unwrap();
            req.headers_mut().insert(name, HeaderValue::from_str(v).unwrap());
        }
        let mut protocols = vec!["tickcast.v1".to_string()];
        protocols.extend(extra.iter().map(|s| s.to_string()));
        req.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_str(&protocols.join(", ")).unwrap());
        let (ws, _) =
            tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(req)).await.expect("connect in time")?;
        Ok(Client::over(ws))
    }

    pub fn schema(&self) -> &Schema {
        &self.welcome.as_ref().expect("welcome received").schema
    }

    pub fn player_id(&self) -> u32 {
        self.welcome.as_ref().expect("welcome received").player_id
    }

    /// Reads the next message (skipping WebSocket pings), applying updates to `world`;
    /// panics on bytes that do not decode or an update that does not apply (a broken
    /// delta chain).
    pub async fn recv(&mut self) -> Received {
        loop {
            let msg = tokio::time::timeout(PATIENCE, self.ws.next()).await.expect("message in time");
            let msg = match msg {
                None => return Received::Closed { code: 1006, reason: "stream ended".into() },
                Some(Err(e)) => return Received::Closed { code: 1006, reason: e.to_string() },
                Some(Ok(m)) => m,
            };
            match msg {
                Message::Binary(bytes) => {
                    return match Frame::parse(&bytes).expect("server message decodes") {
                        Frame::Welcome(w) => {
                            self.welcome = Some((*w).clone());
                            Received::Welcome(*w)
                        }
                        Frame::Update { header, body } => {
                            let update = header.decode_body(body, self.schema()).expect("update body decodes");
                            self.world.apply(&update).expect("update applies");
                            self.updates.push(header);
                            // Payload plus the server's 2-10 byte frame header.
                            self.largest_frame = self.largest_frame.max(bytes.len() + 10);
                            self.events.extend(update.events.iter().cloned());
                            Received::Update { header, events: update.events }
                        }
                        Frame::Pong { client_time, .. } => Received::Pong { client_time },
                        Frame::Notice { code, reason } => Received::Notice { code, reason },
                    };
                }
                Message::Close(frame) => {
                    let (code, reason) =
                        frame.map(|f| (u16::from(f.code), f.reason.to_string())).unwrap_or((1005, String::new()));
                    return Received::Closed { code, reason };
                }
                _ => continue,
            }
        }
    }

    /// Reads until Welcome; panics on anything else first.
    pub async fn expect_welcome(&mut self) -> Welcome {
        match self.recv().await {
            Received::Welcome(w) => w,
            other => panic!("expected Welcome, got {other:?}"),
        }
    }

    /// Reads the next update, skipping pongs: its header (`base_tick` is `None` for a
    /// keyframe).
    pub async fn next_update(&mut self) -> UpdateHeader {
        loop {
            match self.recv().await {
                Received::Update { header, .. } => return header,
                Received::Pong { .. } => continue,
                other => panic!("expected an update, got {other:?}"),
            }
        }
    }

    /// Reads until the connection closes; returns the close code and reason (a Notice
    /// before it is skipped).
    pub async fn expect_close(&mut self) -> (u16, String) {
        // Bounded as a whole: a session that is never closed keeps sending updates, and
        // must fail the test rather than hang it.
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            assert!(tokio::time::Instant::now() < deadline, "the session was not closed");
            if let Received::Closed { code, reason } = self.recv().await {
                return (code, reason);
            }
        }
    }

    /// Expects the server to refuse the session: a close (after its Notice), never a
    /// Welcome. Returns the close code and reason.
    pub async fn expect_refused(&mut self) -> (u16, String) {
        loop {
            match self.recv().await {
                Received::Closed { code, reason } => return (code, reason),
                Received::Notice { .. } | Received::Pong { .. } => continue,
                other => panic!("expected the session to be refused, got {other:?}"),
            }
        }
    }

    /// Reads until an event matching `pred` has arrived (or panics after PATIENCE).
    pub async fn until_event(&mut self, mut pred: impl FnMut(&Event) -> bool) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !self.events.iter().any(&mut pred) {
            assert!(tokio::time::Instant::now() < deadline, "event never arrived");
            self.next_update().await;
        }
    }

    /// Reads `n` more updates (skipping pongs): the session is still open and served.
    /// Panics on a close. Says nothing about which ticks they carry.
    pub async fn still_playing(&mut self, n: usize) {
        for _ in 0..n {
            self.next_update().await;
        }
    }

    /// Reads updates until `pred` holds on the state (or panics after PATIENCE).
    pub async fn until(&mut self, mut pred: impl FnMut(&World) -> bool) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !pred(&self.world) {
            assert!(tokio::time::Instant::now() < deadline, "condition not reached");
            self.next_update().await;
        }
    }

    /// Asserts the next few updates arrive in order: an honest member keeps playing
    /// whatever another session did. (Not consecutive ticks: by design a member whose
    /// previous frame is still on its way skips a tick, which a loaded machine shows.)
    pub async fn assert_keeps_ticking(&mut self) {
        let mut last = self.next_update().await;
        for _ in 0..5 {
            let h = self.next_update().await;
            assert_in_order(&last, &h);
            last = h;
        }
    }

    /// Sends a client message, encoded by `tickcast-client`. (A test that means to send
    /// bytes of its own, malformed or hostile, uses [`Client::send_raw`].)
    pub async fn send(&mut self, msg: &ClientMessage) {
        self.ws.send(Message::Binary(msg.encode().into())).await.expect("send");
    }

    pub async fn send_raw(&mut self, msg: Message) {
        let _ = self.ws.send(msg).await;
    }

    pub async fn input(&mut self, seq: u32, values: &[i32]) {
        self.send(&ClientMessage::Input { seq, values: values.to_vec() }).await;
    }

    /// The entity of player `id`'s fields, if present.
    pub fn entity(&self, id: u32) -> Option<&Vec<i32>> {
        self.world.entities.get(&id).map(|(_, f)| f)
    }
}

/// What the design guarantees of two updates one member received in a row: the tick
/// moves forward, and a delta is against the previous update's tick (the chain is
/// unbroken), however many ticks were skipped between them. A keyframe (no `base_tick`)
/// may follow anything older.
pub fn assert_in_order(previous: &UpdateHeader, next: &UpdateHeader) {
    assert!(next.tick > previous.tick, "tick {} after {}", next.tick, previous.tick);
    if let Some(base_tick) = next.base_tick {
        assert_eq!(base_tick, previous.tick, "delta {} is against the previous update", next.tick);
    }
}

/// A raw connection that completes the WebSocket handshake and then never reads: the
/// stalled reader of the slow-client tests. `rcvbuf` keeps the kernel from absorbing much.
pub async fn stalled_reader(server: &TestServer, room: &str, token: &str, rcvbuf: u32) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(rcvbuf).unwrap();
    let mut s = socket.connect(server.addr).await.unwrap();
    let req = format!(
        "GET /ws?room={room} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Protocol: tickcast.v1, tickcast.token.{token}\r\n\r\n",
        server.addr
    );
    s.write_all(req.as_bytes()).await.unwrap();
    // Read exactly the response head, byte by byte, and nothing after it.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut b = [0u8; 1];
        s.read_exact(&mut b).await.unwrap();
        head.push(b[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&head));
    s
}

/// Bytes the kernel holds in the send queue of the server's end of the connection
/// between `server_port` and `client_port` on loopback (`tx_queue` of /proc/net/tcp:
/// unsent plus unacknowledged), or `None` when that connection is gone.
pub fn server_send_queue(server_port: u16, client_port: u16) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let port = |addr: &str| addr.rsplit_once(':').and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (local, remote, queues) = (f.get(1)?, f.get(2)?, f.get(4)?);
        if port(local)? != server_port || port(remote)? != client_port {
            return None;
        }
        u64::from_str_radix(queues.split(':').next()?, 16).ok()
    })
}

/// A masked client ping frame (RFC 6455 §5.5.2) with an empty payload: what a stalled
/// reader that still writes sends to keep its heartbeat alive.
pub const RAW_PING: [u8; 6] = [0x89, 0x80, 1, 2, 3, 4];

/// The value of the first sample of `name` (with any labels: pass `name{label="x"}` to
/// pick one) in Prometheus text, or `None` when it is absent.
pub fn metric_value(metrics: &str, name: &str) -> Option<f64> {
    metrics.lines().find_map(|l| {
        let rest = l.strip_prefix(name)?;
        let value = if rest.starts_with('{') && !name.contains('{') { rest.rsplit_once(' ')?.1 } else { rest.trim() };
        if !(rest.starts_with(' ') || rest.starts_with('{')) {
            return None;
        }
        value.trim().parse().ok()
    })
}

/// The `X-Forwarded-For` header standing for client IP `ip`, if any.
fn forwarded(ip: Option<&str>) -> Vec<(&'static str, &str)> {
    ip.map(|ip| vec![("X-Forwarded-For", ip)]).unwrap_or_default()
}

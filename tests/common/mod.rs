//! Shared test helpers: an in-process server on an ephemeral port with test-friendly
//! settings, a token helper, and a WebSocket test client that decodes the protocol and
//! keeps the reconstructed state.
#![allow(dead_code)]

use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::time::Duration;
use tickcast::config::Settings;
use tickcast::protocol::{ClientMessage, Event, Schema, ServerMessage, UpdateHeader, Welcome};
use tickcast::sync::ClientState;
use tickcast::{RunningServer, Server};
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
    s
}

/// Starts a server; it stops when the returned value is dropped.
pub fn start(settings: Settings) -> TestServer {
    let server = Server::new(settings.clone()).start().expect("server starts");
    TestServer { addr: server.addr(), server: Some(server), settings }
}

/// A running test server.
pub struct TestServer {
    pub addr: SocketAddr,
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
        let (status, text) = http(self.addr, "POST", "/api/session", &[("Content-Type", "application/json")], &body).await;
        assert_eq!(status, 200, "token request failed: {text}");
        let v: serde_json::Value = serde_json::from_str(&text).expect("json");
        v["token"].as_str().expect("token").to_string()
    }

    /// Connects a player named `name` to `room` (None: matchmaking) and reads Welcome.
    pub async fn join(&self, name: &str, room: Option<&str>) -> Client {
        let token = self.token(name).await;
        let mut c = Client::connect(&self.ws_url(room), &[&format!("tickcast.token.{token}")]).await.expect("connect");
        c.expect_welcome().await;
        c
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
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n", body.len());
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

/// What a client received, decoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Received {
    Welcome(Welcome),
    Update { header: UpdateHeader, keyframe: bool, events: Vec<Event> },
    Pong { client_time: u64 },
    Notice { code: u16, reason: String },
    Closed { code: u16, reason: String },
}

/// A WebSocket test client.
pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub welcome: Option<Welcome>,
    pub state: ClientState,
    pub updates: Vec<UpdateHeader>,
    pub events: Vec<Event>,
}

impl Client {
    /// Opens a WebSocket offering `tickcast.v1` plus `extra` subprotocol entries.
    pub async fn connect(url: &str, extra: &[&str]) -> Result<Client, tokio_tungstenite::tungstenite::Error> {
        let mut req = url.into_client_request()?;
        let mut protocols = vec!["tickcast.v1".to_string()];
        protocols.extend(extra.iter().map(|s| s.to_string()));
        req.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_str(&protocols.join(", ")).unwrap());
        let (ws, _) = tokio::time::timeout(PATIENCE, tokio_tungstenite::connect_async(req))
            .await
            .expect("connect in time")?;
        Ok(Client { ws, welcome: None, state: ClientState::default(), updates: Vec::new(), events: Vec::new() })
    }

    pub fn schema(&self) -> &Schema {
        &self.welcome.as_ref().expect("welcome received").schema
    }

    pub fn player_id(&self) -> u32 {
        self.welcome.as_ref().expect("welcome received").player_id
    }

    /// Reads the next message (skipping WebSocket pings), applying updates to `state`.
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
                    let decoded = ServerMessage::decode(&bytes).expect("server message decodes");
                    return match decoded {
                        ServerMessage::Welcome(w) => {
                            self.welcome = Some(w.clone());
                            Received::Welcome(w)
                        }
                        ServerMessage::Snapshot { header, .. } | ServerMessage::Delta { header, .. } => {
                            let schema = self.schema().clone();
                            let events = self.state.apply(&decoded, &schema).expect("update applies");
                            self.updates.push(header);
                            self.events.extend(events.iter().cloned());
                            Received::Update { header, keyframe: matches!(decoded, ServerMessage::Snapshot { .. }), events }
                        }
                        ServerMessage::Pong { client_time, .. } => Received::Pong { client_time },
                        ServerMessage::Notice(n) => Received::Notice { code: n.code, reason: n.reason },
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

    /// Reads the next update, skipping pongs.
    pub async fn next_update(&mut self) -> (UpdateHeader, bool) {
        loop {
            match self.recv().await {
                Received::Update { header, keyframe, .. } => return (header, keyframe),
                Received::Pong { .. } => continue,
                other => panic!("expected an update, got {other:?}"),
            }
        }
    }

    /// Reads until the connection closes; returns the close code and reason (a Notice
    /// before it is skipped).
    pub async fn expect_close(&mut self) -> (u16, String) {
        loop {
            if let Received::Closed { code, reason } = self.recv().await {
                return (code, reason);
            }
        }
    }

    /// Reads updates until `pred` holds on the state (or panics after PATIENCE).
    pub async fn until(&mut self, mut pred: impl FnMut(&ClientState) -> bool) {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !pred(&self.state) {
            assert!(tokio::time::Instant::now() < deadline, "condition not reached");
            self.next_update().await;
        }
    }

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
        self.state.entities.get(&id).map(|(_, f)| f)
    }
}

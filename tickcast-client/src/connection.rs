//! One session with a tickcast server over a WebSocket (docs/PROTOCOL.md, "Transport
//! and handshake"): a guest token from `POST /api/session`, the handshake offering
//! every protocol version this crate speaks with the credentials in the subprotocol list
//! (never in the URL), then the Welcome, updates (Snapshots, Deltas and Cell updates)
//! applied to the [`RoomState`], inputs numbered and acknowledged, and pings measuring
//! the round trip.

use crate::message::{ClientMessage, ServerMessage, Update, Welcome, SUBPROTOCOLS};
use crate::room::RoomState;
use crate::world::ApplyError;
use futures_util::{SinkExt, StreamExt};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// Longest a handshake, or a wait for the Welcome, may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a session could not start or ended.
#[derive(Debug)]
pub enum ConnectError {
    /// The server refused before the upgrade: an HTTP status and its one-line reason.
    Refused {
        /// The status.
        status: u16,
        /// The reason.
        reason: String,
    },
    /// The server closed the session with a close code (after a Notice with the same).
    Closed {
        /// The close code (1006: the connection was lost without one).
        code: u16,
        /// Its reason.
        reason: String,
    },
    /// The server sent bytes this client cannot decode or apply.
    Protocol(String),
    /// A Delta did not apply on the state held (an update was lost): the chain is broken,
    /// and a resume starts again from a Snapshot (PROTOCOL.md, "Keeping the state").
    BrokenChain(String),
    /// The network failed (connect, read, write, timeout).
    Io(String),
    /// What the caller asked for cannot be done: a URL that is not one, a scheme this
    /// client does not speak. Retrying does not help.
    Config(String),
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConnectError::Refused { status, reason } => write!(f, "refused with {status}: {reason}"),
            ConnectError::Closed { code, reason } => write!(f, "closed with {code}: {reason}"),
            ConnectError::Protocol(why) => write!(f, "protocol error: {why}"),
            ConnectError::BrokenChain(why) => write!(f, "broken update chain: {why}"),
            ConnectError::Io(why) | ConnectError::Config(why) => write!(f, "{why}"),
        }
    }
}

impl std::error::Error for ConnectError {}

impl ConnectError {
    /// What the close-code table advises: whether to come back with the resume token
    /// (after a backoff): a lost connection, a server shutting down or restarting a room,
    /// an internal error, an eviction, the client's own close (`bye`), a network failure,
    /// or a broken update chain. Not 4426 (the room needs protocol version 3): this
    /// client offers it, so a server closing with it would close the retry the same way.
    pub fn resumable(&self) -> bool {
        match self {
            ConnectError::Closed { code, reason } => {
                matches!(code, 1001 | 1006 | 1008 | 1011 | 1012) || (*code == 1000 && reason == "bye")
            }
            ConnectError::Io(_) | ConnectError::BrokenChain(_) => true,
            _ => false,
        }
    }

    /// A 4421 close: the URL of the node that runs the room, to connect to at once.
    pub fn redirect(&self) -> Option<&str> {
        match self {
            ConnectError::Closed { code: 4421, reason } => Some(reason),
            _ => None,
        }
    }
}

fn io(e: impl std::fmt::Display) -> ConnectError {
    ConnectError::Io(e.to_string())
}

fn config(e: impl std::fmt::Display) -> ConnectError {
    ConnectError::Config(e.to_string())
}

/// Microseconds since the Unix epoch on this machine's clock.
fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// One HTTP/1.1 request to `http_base` (`http://HOST:PORT`); returns status and body.
async fn http_request(http_base: &str, method: &str, path: &str, body: &str) -> Result<(u16, String), ConnectError> {
    let host =
        http_base.strip_prefix("http://").ok_or_else(|| config(format!("{http_base}: only http:// is supported")))?;
    let host = host.trim_end_matches('/');
    let mut stream = TcpStream::connect(host).await.map_err(io)?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.map_err(io)?;
    let mut answer = Vec::new();
    tokio::time::timeout(HANDSHAKE_TIMEOUT, stream.read_to_end(&mut answer))
        .await
        .map_err(|_| io(format!("{method} {path}: no answer")))?
        .map_err(io)?;
    let text = String::from_utf8_lossy(&answer);
    let (head, body) = text.split_once("\r\n\r\n").ok_or_else(|| io(format!("{method} {path}: no HTTP answer")))?;
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    Ok((status, body.to_string()))
}

/// A guest token from `POST /api/session` at `http_base` (e.g. `http://127.0.0.1:8080`).
pub async fn guest_token(http_base: &str, name: &str) -> Result<String, ConnectError> {
    let body = serde_json::json!({ "name": name }).to_string();
    let (status, body) = http_request(http_base, "POST", "/api/session", &body).await?;
    if status != 200 {
        return Err(ConnectError::Refused { status, reason: body.trim().to_string() });
    }
    let v: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| ConnectError::Protocol(format!("token JSON: {e}")))?;
    v["token"].as_str().map(str::to_string).ok_or_else(|| ConnectError::Protocol("token JSON has no token".into()))
}

/// Where `GET /api/matchmake` says to play.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The WebSocket URL (perhaps another node's).
    pub url: String,
    /// The room.
    pub room: String,
    /// The seat token to offer with the session token (`tickcast.seat.<seat>`).
    pub seat: Option<String>,
}

/// Asks `GET /api/matchmake[?room=ROOM]` where to play (join-or-create without a room).
/// With `resume`, for a player that holds a seat already (`&resume=1`).
pub async fn matchmake(http_base: &str, room: Option<&str>, resume: bool) -> Result<Placement, ConnectError> {
    let mut path = String::from("/api/matchmake");
    let mut sep = '?';
    if let Some(room) = room {
        path.push_str(&format!("{sep}room={room}"));
        sep = '&';
    }
    if resume {
        path.push_str(&format!("{sep}resume=1"));
    }
    let (status, body) = http_request(http_base, "GET", &path, "").await?;
    if status != 200 {
        return Err(ConnectError::Refused { status, reason: body.trim().to_string() });
    }
    let v: serde_json::Value =
        serde_json::from_str(&body).map_err(|e| ConnectError::Protocol(format!("matchmake JSON: {e}")))?;
    let text = |k: &str| v[k].as_str().map(str::to_string);
    Ok(Placement {
        url: text("url").ok_or_else(|| ConnectError::Protocol("matchmake JSON has no url".into()))?,
        room: text("room").unwrap_or_default(),
        seat: text("seat"),
    })
}

/// A live session: the Welcome, the world it keeps, and what it sent.
pub struct Connection {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    /// The session's Welcome (its schema decodes the updates; its token resumes).
    pub welcome: Welcome,
    /// The room's state, as of the last update: it reads as the [`World`] of every
    /// entity the player sees (`world.entities`, `world.get(id)`), in a big room its
    /// room part and cells merged; `world.room()` and `world.cells()` are the parts.
    ///
    /// [`World`]: crate::world::World
    pub world: RoomState,
    /// The last input sequence number the server applied (0: none yet).
    pub acked: u32,
    /// The last sequence number sent.
    pub sent: u32,
    /// The round trip of the last Pong.
    pub rtt: Option<Duration>,
    /// The server clock minus this machine's, in µs, from the last Pong (halfway).
    pub clock_offset_us: Option<i64>,
    pings: Vec<(u64, Instant)>,
}

impl Connection {
    /// Joins as a new player with a session token (`tickcast.token.<token>`); `url` is
    /// `ws://HOST:PORT/ws[?room=NAME]`.
    pub async fn join(url: &str, token: &str) -> Result<Connection, ConnectError> {
        Self::open(url, &[format!("tickcast.token.{token}")], None).await
    }

    /// Takes back a dropped player with the resume token of its newest Welcome.
    pub async fn resume(url: &str, resume_token: &str) -> Result<Connection, ConnectError> {
        Self::open(url, &[format!("tickcast.resume.{resume_token}")], None).await
    }

    /// Opens a session offering `credentials` (subprotocol entries) and, if given, an
    /// `Origin` header; returns once the Welcome arrived.
    pub async fn open(url: &str, credentials: &[String], origin: Option<&str>) -> Result<Connection, ConnectError> {
        let mut req = url.into_client_request().map_err(config)?;
        let offered: Vec<&str> = SUBPROTOCOLS.iter().copied().chain(credentials.iter().map(String::as_str)).collect();
        let protocols = HeaderValue::from_str(&offered.join(", ")).map_err(config)?;
        req.headers_mut().insert("Sec-WebSocket-Protocol", protocols);
        if let Some(origin) = origin {
            req.headers_mut().insert("Origin", HeaderValue::from_str(origin).map_err(config)?);
        }
        let connected = tokio::time::timeout(HANDSHAKE_TIMEOUT, tokio_tungstenite::connect_async(req))
            .await
            .map_err(|_| io("handshake timed out"))?;
        let (ws, _) = connected.map_err(|e| match e {
            tokio_tungstenite::tungstenite::Error::Http(r) => ConnectError::Refused {
                status: r.status().as_u16(),
                reason: r.body().as_deref().map(String::from_utf8_lossy).unwrap_or_default().trim().to_string(),
            },
            tokio_tungstenite::tungstenite::Error::Url(e) => config(e),
            tokio_tungstenite::tungstenite::Error::Protocol(e) => ConnectError::Protocol(e.to_string()),
            other => io(other),
        })?;
        let mut ws = ws;
        let first = tokio::time::timeout(HANDSHAKE_TIMEOUT, read(&mut ws, None))
            .await
            .map_err(|_| io("no Welcome in time"))??;
        let welcome = match first {
            ServerMessage::Welcome(w) => *w,
            other => return Err(ConnectError::Protocol(format!("expected Welcome first, got {other:?}"))),
        };
        Ok(Connection {
            ws,
            welcome,
            world: RoomState::default(),
            acked: 0,
            sent: 0,
            rtt: None,
            clock_offset_us: None,
            pings: Vec::new(),
        })
    }

    /// Reads until the next update (Snapshot, Delta or Cell update), applies it to
    /// [`Connection::world`] and returns it; its `events` are every event it carries, in
    /// order. Pongs on the way update the RTT and the clock offset.
    pub async fn next_update(&mut self) -> Result<Update, ConnectError> {
        loop {
            match read(&mut self.ws, Some(&self.welcome.schema)).await? {
                ServerMessage::Update(update) => {
                    self.world.apply(&update).map_err(|e| match e {
                        ApplyError::BaseMismatch { .. } => ConnectError::BrokenChain(e.to_string()),
                        ApplyError::Malformed(_) | ApplyError::NeedsRoomState => ConnectError::Protocol(e.to_string()),
                    })?;
                    self.acked = update.ack_input;
                    return Ok(update);
                }
                ServerMessage::Pong { client_time, server_time_us } => self.on_pong(client_time, server_time_us),
                ServerMessage::Welcome(_) => return Err(ConnectError::Protocol("a second Welcome".into())),
                ServerMessage::Notice { .. } => {}
            }
        }
    }

    fn on_pong(&mut self, client_time: u64, server_time_us: u64) {
        let Some(i) = self.pings.iter().position(|(t, _)| *t == client_time) else { return };
        let (_, sent_at) = self.pings.swap_remove(i);
        let rtt = sent_at.elapsed();
        self.rtt = Some(rtt);
        // The server read its clock about halfway through the round trip. A server time
        // beyond i64 is hostile or broken: no offset from it.
        let half = i64::try_from(rtt.as_micros() / 2).unwrap_or(i64::MAX);
        let local_mid = i64::try_from(client_time).unwrap_or(i64::MAX).saturating_add(half);
        if let Ok(server) = i64::try_from(server_time_us) {
            self.clock_offset_us = Some(server.saturating_sub(local_mid));
        }
    }

    /// Sends one input (the schema's input fields, in order) numbered after the last
    /// one; returns its sequence number, which a later update's `ack_input` reaches
    /// once the server applied it.
    pub async fn send_input(&mut self, values: &[i32]) -> Result<u32, ConnectError> {
        self.sent += 1;
        self.send(&ClientMessage::Input { seq: self.sent, values: values.to_vec() }).await?;
        Ok(self.sent)
    }

    /// Sends a Ping; its Pong (read by [`Connection::next_update`]) sets the RTT.
    pub async fn ping(&mut self) -> Result<(), ConnectError> {
        let t = now_us();
        // At most a few outstanding: a Pong that never comes is forgotten.
        if self.pings.len() >= 8 {
            self.pings.remove(0);
        }
        self.pings.push((t, Instant::now()));
        self.send(&ClientMessage::Ping { client_time: t }).await
    }

    /// Sends a chat line.
    pub async fn chat(&mut self, text: &str) -> Result<(), ConnectError> {
        self.send(&ClientMessage::Chat { text: text.to_string() }).await
    }

    /// Leaves for good: the server removes the player and closes with 1000 `left`
    /// (updates still on their way before the close are read past).
    pub async fn leave(mut self) -> Result<(), ConnectError> {
        self.send(&ClientMessage::Leave).await?;
        loop {
            match read(&mut self.ws, Some(&self.welcome.schema)).await {
                Err(ConnectError::Closed { code: 1000, .. }) => return Ok(()),
                Err(e) => return Err(e),
                Ok(_) => continue,
            }
        }
    }

    /// Closes the connection without Leave: the server keeps the player for its grace
    /// window, and [`Connection::resume`] with `welcome.resume_token` takes it back.
    pub async fn close(mut self) {
        let frame = CloseFrame { code: 1000.into(), reason: "".into() };
        let _ = self.ws.close(Some(frame)).await;
    }

    async fn send(&mut self, msg: &ClientMessage) -> Result<(), ConnectError> {
        self.ws.send(Message::Binary(msg.encode().into())).await.map_err(io)
    }
}

/// The next server message on `ws`, decoded with `schema` (none before the Welcome).
/// Pings are answered by the WebSocket layer; a close ends with [`ConnectError::Closed`].
async fn read(
    ws: &mut WebSocketStream<MaybeTlsStream<TcpStream>>,
    schema: Option<&crate::message::Schema>,
) -> Result<ServerMessage, ConnectError> {
    let mut notice = None;
    loop {
        // A connection that ends without a close frame after a Notice (a server resets
        // a peer whose socket cannot take the close frame) ends with the Notice's code.
        let lost = |why: String, notice: Option<(u16, String)>| {
            let (code, reason) = notice.unwrap_or((1006, why));
            Err(ConnectError::Closed { code, reason })
        };
        let msg = match ws.next().await {
            None => return lost("connection lost".into(), notice),
            Some(Err(e)) => return lost(e.to_string(), notice),
            Some(Ok(m)) => m,
        };
        match msg {
            Message::Binary(bytes) => {
                let decoded =
                    ServerMessage::decode(&bytes, schema).map_err(|e| ConnectError::Protocol(e.to_string()))?;
                if let ServerMessage::Notice { code, reason } = &decoded {
                    // A close with the same code follows; report that.
                    notice = Some((*code, reason.clone()));
                    continue;
                }
                return Ok(decoded);
            }
            Message::Close(frame) => {
                let (code, reason) = frame
                    .map(|f| (u16::from(f.code), f.reason.to_string()))
                    .or(notice)
                    .unwrap_or((1005, String::new()));
                return Err(ConnectError::Closed { code, reason });
            }
            Message::Text(_) => return Err(ConnectError::Protocol("the server sent a text frame".into())),
            _ => continue,
        }
    }
}

//! One simulated player over a real WebSocket: handshake, then a loop that reads every
//! frame the server sends, counts updates, gaps, latency and bytes, and answers each
//! update with one input.
//!
//! The WebSocket client is hand-written on a tokio `TcpStream` (about 100 lines) rather
//! than tokio-tungstenite: the load generator must cost less per message than the server
//! it measures, and reading a buffer of frames with one `read`, then sending the inputs
//! with one `write`, is the least a client can do. Only the header of each update is
//! decoded; one client per room (the sampler) also walks its delta bodies to count the
//! bytes per moving entity. A Cell update (protocol version 3, a room with interest
//! management) is an update like the others: counted, timed and answered the same, a
//! keyframe when its room part arrives whole, and sampled over its room part and cells.

use crate::matchmake::{self, MatchError};
use crate::stats::{NodeStats, Placements, Shared};
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
// The client side of the protocol comes from tickcast-client, the one Rust client
// implementation: frames are parsed to their header only, bodies decoded where sampled.
use tickcast_client::message::{Frame as ServerFrame, Schema, UpdateHeader, SUBPROTOCOLS};
use tickcast_client::wire::Reader;
use tickcast_client::{ClientMessage, RoomState};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

/// A handshake must finish within this; beyond it the client counts as failed.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(15);
/// Largest HTTP response head accepted from the server.
const MAX_HEAD: usize = 16 * 1024;

/// How often one client asks `GET /api/matchmake` again after a 503 (waiting 200 ms,
/// then 400, 600) before it counts the failure.
const MATCHMAKE_RETRIES: u64 = 3;
/// Half the arena's side in position quanta (1000 units × `arena::POSITION_SCALE`).
const ARENA_MID: i32 = 5_000;

/// Where the clients connect.
pub struct Target {
    pub addr: SocketAddr,
    pub host: String,
    /// Path and query of the WebSocket endpoint (`/ws`, maybe with a query).
    pub path: String,
}

/// What one client does.
pub struct Plan {
    pub index: usize,
    pub room_index: usize,
    pub room: String,
    pub token: Option<String>,
    /// Walks delta bodies to measure bytes per moving entity (one client per room).
    pub sampler: bool,
    /// Input rate with its own timer; `None`: one input per update received.
    pub input_rate_hz: Option<f64>,
    /// `--matchmake`: ask this server where to play first.
    pub matchmake: Option<Matchmake>,
}

/// A matchmaking request: the server asked and the room asked for (`None`: join-or-create).
pub struct Matchmake {
    pub server: Arc<Target>,
    pub room: Option<String>,
    /// Room slots in [`Shared::rooms`] (rooms are numbered as clients first land in them).
    pub room_slots: usize,
}

/// Server wall clock in µs since the Unix epoch (same host, same clock as the server's).
pub fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// Connects, plays until the connection ends, records how it ended.
pub async fn run(target: Arc<Target>, plan: Plan, shared: Arc<Shared>) {
    if plan.matchmake.is_some() {
        return run_matchmade(plan, shared).await;
    }
    shared.clients[plan.index].room.store(plan.room_index, Relaxed);
    let sep = if target.path.contains('?') { '&' } else { '?' };
    let path = format!("{}{sep}room={}", target.path, plan.room);
    let protocols = subprotocols(plan.token.as_deref(), None);
    let connected =
        tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake(target.addr, &target.host, &path, plan.index, &protocols))
            .await;
    let (stream, leftover) = match connected {
        Ok(Ok(c)) => c,
        Ok(Err(e)) => {
            shared.connect_failed.fetch_add(1, Relaxed);
            shared.error(format!("client {}: {e}", plan.index));
            return;
        }
        Err(_) => {
            shared.connect_failed.fetch_add(1, Relaxed);
            shared.error(format!("client {}: handshake timed out", plan.index));
            return;
        }
    };
    play_out(stream, leftover, plan, None, shared).await;
}

/// Plays a connected client until the connection ends and records how it ended.
async fn play_out(
    mut stream: TcpStream,
    leftover: Vec<u8>,
    plan: Plan,
    node: Option<Arc<NodeStats>>,
    shared: Arc<Shared>,
) {
    let stats = &shared.clients[plan.index];
    stats.connected.store(true, Relaxed);
    shared.connected.fetch_add(1, Relaxed);
    let mut player = Player::new(&plan, shared.clone());
    player.node = node;
    let code = match player.play(&mut stream, leftover).await {
        Ok(code) => code,
        Err(e) => {
            shared.error(format!("client {}: {e}", plan.index));
            1006
        }
    };
    stats.closed.store(code as u32, Relaxed);
    shared.connected.fetch_sub(1, Relaxed);
    shared.disconnected.fetch_add(1, Relaxed);
}

/// `--matchmake`: asks where to play, joins there (following one 4421), then plays.
async fn run_matchmade(mut plan: Plan, shared: Arc<Shared>) {
    let joined = tokio::time::timeout(HANDSHAKE_TIMEOUT, matchmade_join(&plan, &shared)).await;
    let j = match joined {
        Ok(Ok(j)) => j,
        Ok(Err(e)) => {
            shared.connect_failed.fetch_add(1, Relaxed);
            shared.error(format!("client {}: {e}", plan.index));
            return;
        }
        Err(_) => {
            Placements::count(&shared.placements.join_errors, "timeout".into());
            shared.connect_failed.fetch_add(1, Relaxed);
            shared.error(format!("client {}: matchmaking and handshake timed out", plan.index));
            return;
        }
    };
    let slots = plan.matchmake.as_ref().map_or(0, |m| m.room_slots);
    let Some((room_index, sampler)) = shared.placements.room(&j.room, slots) else {
        // More distinct rooms than clients cannot happen; refuse rather than index out.
        Placements::count(&shared.placements.join_errors, "too many rooms".into());
        shared.connect_failed.fetch_add(1, Relaxed);
        return;
    };
    let (node_index, node) = shared.placements.node(&j.node);
    let stats = &shared.clients[plan.index];
    stats.room.store(room_index, Relaxed);
    stats.node.store(node_index, Relaxed);
    plan.room_index = room_index;
    plan.room = j.room;
    plan.sampler = sampler;
    play_out(j.stream, j.leftover, plan, Some(node), shared).await;
}

/// A matchmade client that joined: its socket, the bytes read past the handshake (its
/// first message at least), its node and its room.
struct Joined {
    stream: TcpStream,
    leftover: Vec<u8>,
    node: String,
    room: String,
}

/// Asks `GET /api/matchmake`, upgrades at the URL answered with the seat, and waits for
/// the first message: a 4421 close is followed once to the URL in its reason. Counts
/// every failure in [`Placements`] and returns why.
async fn matchmade_join(plan: &Plan, shared: &Shared) -> Result<Joined, String> {
    let places = &shared.placements;
    let join_error = |key: String, why: String| {
        Placements::count(&places.join_errors, key);
        why
    };
    let Some(mm) = &plan.matchmake else { return Err("no matchmaking server".into()) };
    let mut retries = 0;
    let (asked, answer) = loop {
        let asked = std::time::Instant::now();
        match matchmake::request(mm.server.addr, &mm.server.host, mm.room.as_deref()).await {
            Ok(a) => break (asked, a),
            // 503 is "not now" (a Redis call past its deadline, a room moving between
            // nodes): a client asks again after a pause, a few times, and so does this.
            Err(e @ MatchError::Status(503, _)) if retries < MATCHMAKE_RETRIES => {
                retries += 1;
                Placements::count(&places.retried, e.key());
                tokio::time::sleep(Duration::from_millis(200 * retries)).await;
            }
            Err(e) => {
                Placements::count(&places.errors, e.key());
                return Err(e.to_string());
            }
        }
    };
    places.latency.record(asked.elapsed().as_micros() as u64);
    places.learn(answer.url.base(), &answer.node);
    if let Some(want) = &mm.room {
        if *want != answer.room {
            shared.error(format!("client {}: asked for room {want}, matchmaking answered {}", plan.index, answer.room));
        }
    }
    let protocols = subprotocols(plan.token.as_deref(), Some(&answer.seat));
    let (mut url, mut node) = (answer.url.clone(), answer.node.clone());
    let mut redirected = false;
    loop {
        let addr = matchmake::resolve(&url.host).await.map_err(|e| join_error("resolve".into(), e))?;
        let (mut stream, mut buf) = handshake(addr, &url.host, &url.path, plan.index, &protocols)
            .await
            .map_err(|e| join_error(refusal_key(&e), format!("joining {}: {e}", url.base())))?;
        let first = first_frame(&mut stream, &mut buf)
            .await
            .map_err(|e| join_error("io".into(), format!("joining {}: {e}", url.base())))?;
        let payload = match first {
            // The Welcome names the room played in: a join-or-create seat whose room
            // filled up meanwhile is placed in another.
            FirstFrame::Started { room } => {
                let room = room.or_else(|| url.room().map(str::to_string)).unwrap_or(answer.room);
                return Ok(Joined { stream, leftover: buf, node, room });
            }
            FirstFrame::Closed(payload) => payload,
        };
        match matchmake::close_payload(&payload) {
            Some((matchmake::WRONG_NODE, reason)) if !redirected => {
                url = matchmake::redirect_target(&payload)
                    .map_err(|e| join_error("4421 unusable".into(), format!("4421 reason {reason:?}: {e}")))?;
                places.redirects.fetch_add(1, Relaxed);
                node = places.node_at(&url.base());
                redirected = true;
            }
            Some((matchmake::WRONG_NODE, reason)) => {
                places.redirect_loops.fetch_add(1, Relaxed);
                return Err(join_error("4421 again".into(), format!("4421 again after a redirect, to {reason}")));
            }
            Some((code, reason)) => {
                return Err(join_error(format!("close {code}"), format!("closed {code} before joining: {reason}")))
            }
            None => return Err(join_error("close".into(), "closed without a code before joining".into())),
        }
    }
}

/// Every protocol version the client speaks (newest first), then the token and the seat
/// when there are.
fn subprotocols(token: Option<&str>, seat: Option<&str>) -> String {
    let mut protocols = SUBPROTOCOLS.join(", ");
    for (prefix, value) in [("tickcast.token.", token), ("tickcast.seat.", seat)] {
        if let Some(v) = value {
            protocols.push_str(", ");
            protocols.push_str(prefix);
            protocols.push_str(v);
        }
    }
    protocols
}

/// The join-error key of a failed handshake: `http <status>` for a refused upgrade.
fn refusal_key(e: &io::Error) -> String {
    let msg = e.to_string();
    match msg.strip_prefix("upgrade refused: ").and_then(|s| s.split_whitespace().nth(1)) {
        Some(status) => format!("http {status}"),
        None => "io".into(),
    }
}

/// How a matchmade join began.
enum FirstFrame {
    /// Refused: the close frame's payload.
    Closed(Vec<u8>),
    /// Playing; the room the Welcome names, when the first message was one.
    Started { room: Option<String> },
}

/// Reads until the server has either started the game or refused the join (all of the
/// bytes are left in `buf` for [`Player::play`]). A refusing server sends a Notice
/// (code ≠ 0) before its close frame, so those Notices, pings and pongs are looked past.
async fn first_frame(stream: &mut TcpStream, buf: &mut Vec<u8>) -> io::Result<FirstFrame> {
    let mut pos = 0;
    loop {
        while let Some(frame) = parse_frame(&buf[pos..]) {
            let mut payload = buf[pos + frame.payload.start..pos + frame.payload.end].to_vec();
            if let Some(mask) = frame.mask {
                payload.iter_mut().enumerate().for_each(|(i, b)| *b ^= mask[i % 4]);
            }
            match frame.opcode {
                0x8 => return Ok(FirstFrame::Closed(payload)),
                0x2 if !is_refusal_notice(&payload) => {
                    let room = match ServerFrame::parse(&payload) {
                        Ok(ServerFrame::Welcome(w)) => Some(w.room),
                        _ => None,
                    };
                    return Ok(FirstFrame::Started { room });
                }
                0x2 | 0x9 | 0xA => pos += frame.payload.end,
                _ => return Ok(FirstFrame::Started { room: None }),
            }
        }
        if buf.len() > MAX_HEAD {
            return Err(io::Error::other("no game message in the first 16 KiB"));
        }
        buf.reserve(4096);
        if stream.read_buf(buf).await? == 0 {
            return Err(io::Error::other("connection closed before the first message"));
        }
    }
}

/// A Notice with a non-zero code: what a server sends just before closing.
fn is_refusal_notice(payload: &[u8]) -> bool {
    matches!(ServerFrame::parse(payload), Ok(ServerFrame::Notice { code, .. }) if code != 0)
}

/// `Sec-WebSocket-Accept` for `key` (RFC 6455 §4.2.2): base64 of SHA-1 of the key and the
/// protocol's GUID.
fn accept_key(key: &str) -> String {
    use base64::Engine;
    use sha1::Digest;
    let digest = sha1::Sha1::new().chain_update(key).chain_update("258EAFA5-E914-47DA-95CA-C5AB0DC85B11").finalize();
    base64::engine::general_purpose::STANDARD.encode(digest)
}

fn ws_key(index: usize) -> String {
    use base64::Engine;
    let mut bytes = [0u8; 16];
    let mut x = 0x9E37_79B9_7F4A_7C15u64 ^ index as u64;
    for chunk in bytes.chunks_mut(8) {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        chunk.copy_from_slice(&x.to_le_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Opens the TCP connection and upgrades it (`GET <path>` with `protocols`); returns the
/// stream and any frame bytes that arrived with the response head.
async fn handshake(
    addr: SocketAddr,
    host: &str,
    path: &str,
    index: usize,
    protocols: &str,
) -> io::Result<(TcpStream, Vec<u8>)> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let key = ws_key(index);
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Protocol: {protocols}\r\n\r\n"
    );
    write_all(&stream, request.as_bytes()).await?;
    let mut buf = Vec::with_capacity(1024);
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
        if buf.len() > MAX_HEAD {
            return Err(io::Error::other("response head too long"));
        }
        stream.readable().await?;
        match stream.try_read_buf(&mut buf) {
            Ok(0) => return Err(io::Error::other("connection closed during the handshake")),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]);
    let status = head.lines().next().unwrap_or_default();
    if !status.starts_with("HTTP/1.1 101") {
        return Err(io::Error::other(format!("upgrade refused: {status}")));
    }
    let accept = accept_key(&key);
    let accepted = head.lines().any(|l| {
        l.split_once(':').is_some_and(|(k, v)| k.eq_ignore_ascii_case("sec-websocket-accept") && v.trim() == accept)
    });
    if !accepted {
        return Err(io::Error::other("bad Sec-WebSocket-Accept"));
    }
    Ok((stream, buf.split_off(head_end)))
}

async fn write_all(stream: &TcpStream, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        match stream.try_write(bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => stream.writable().await?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// One parsed frame header: opcode, where its payload sits, its whole length.
struct Frame {
    opcode: u8,
    fin: bool,
    payload: std::ops::Range<usize>,
    mask: Option<[u8; 4]>,
}

/// Parses the frame at the front of `buf`, if it is complete (RFC 6455 §5.2).
fn parse_frame(buf: &[u8]) -> Option<Frame> {
    if buf.len() < 2 {
        return None;
    }
    let (b0, b1) = (buf[0], buf[1]);
    let (len, mut at) = match b1 & 0x7F {
        126 => (u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?) as usize, 4),
        127 => (u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize, 10),
        n => (n as usize, 2),
    };
    let mask = if b1 & 0x80 != 0 {
        let m: [u8; 4] = buf.get(at..at + 4)?.try_into().ok()?;
        at += 4;
        Some(m)
    } else {
        None
    };
    if buf.len() < at + len {
        return None;
    }
    Some(Frame { opcode: b0 & 0x0F, fin: b0 & 0x80 != 0, payload: at..at + len, mask })
}

struct Player {
    shared: Arc<Shared>,
    index: usize,
    room_index: usize,
    sampler: bool,
    input_rate_hz: Option<f64>,
    rate_hz: u64,
    player_id: u32,
    schema: Option<Schema>,
    field_counts: Vec<usize>,
    /// Direction of the square each player walks: towards the arena's centre first.
    orientation: Option<(i32, i32)>,
    last_tick: u64,
    seq: u32,
    mask_state: u32,
    out: Vec<u8>,
    started_us: u64,
    /// Its node's counters, when matchmaking placed it.
    node: Option<Arc<NodeStats>>,
}

impl Player {
    fn new(plan: &Plan, shared: Arc<Shared>) -> Self {
        Player {
            shared,
            index: plan.index,
            room_index: plan.room_index,
            sampler: plan.sampler,
            input_rate_hz: plan.input_rate_hz,
            rate_hz: 20,
            player_id: 0,
            schema: None,
            field_counts: Vec::new(),
            orientation: None,
            last_tick: 0,
            seq: 0,
            mask_state: (0x2545_F491 ^ (plan.index as u32).wrapping_mul(0x9E37_79B9)) | 1,
            out: Vec::with_capacity(256),
            started_us: now_us(),
            node: None,
        }
    }

    /// Reads and answers until the connection ends; returns the close code.
    async fn play(&mut self, stream: &mut TcpStream, mut buf: Vec<u8>) -> io::Result<u16> {
        buf.reserve(16 * 1024);
        let mut ticker = self.input_rate_hz.map(|hz| {
            let mut t = tokio::time::interval(Duration::from_secs_f64(1.0 / hz));
            t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
            t
        });
        let mut recv_us = now_us();
        loop {
            let mut pos = 0;
            while let Some(frame) = parse_frame(&buf[pos..]) {
                let total = frame.payload.end;
                let payload_range = pos + frame.payload.start..pos + frame.payload.end;
                if let Some(mask) = frame.mask {
                    for (i, b) in buf[payload_range.clone()].iter_mut().enumerate() {
                        *b ^= mask[i % 4];
                    }
                }
                if !frame.fin || frame.opcode == 0 {
                    return Err(io::Error::other("fragmented message: not sent by tickcast"));
                }
                match frame.opcode {
                    0x2 => self.on_message(&buf[payload_range], total, recv_us),
                    0x8 => {
                        let p = &buf[payload_range];
                        let code = if p.len() >= 2 { u16::from_be_bytes([p[0], p[1]]) } else { 1005 };
                        return Ok(code);
                    }
                    0x9 => {
                        let payload = buf[payload_range].to_vec();
                        self.push_frame(0xA, &payload);
                    }
                    _ => {}
                }
                pos += total;
            }
            buf.drain(..pos);
            if !self.out.is_empty() {
                write_all(stream, &self.out).await?;
                self.out.clear();
            }
            if buf.capacity() - buf.len() < 4096 {
                buf.reserve(16 * 1024);
            }
            // `read_buf` rather than `readable` + `try_read`: after a short read tokio
            // clears the readiness itself, so a tick costs one recv, not a second EAGAIN.
            let n = match ticker.as_mut() {
                None => stream.read_buf(&mut buf).await?,
                Some(t) => tokio::select! {
                    r = stream.read_buf(&mut buf) => r?,
                    _ = t.tick() => {
                        let tick = (now_us().saturating_sub(self.started_us) * self.rate_hz / 1_000_000).max(1);
                        self.push_input(tick);
                        continue;
                    }
                },
            };
            if n == 0 {
                return Ok(1006);
            }
            recv_us = now_us();
        }
    }

    fn on_message(&mut self, payload: &[u8], wire_bytes: usize, recv_us: u64) {
        let shared = &*self.shared;
        shared.bytes.fetch_add(wire_bytes as u64, Relaxed);
        let stats = &shared.clients[self.index];
        let in_window_local = shared.in_window(recv_us);
        if in_window_local {
            stats.bytes.fetch_add(wire_bytes as u64, Relaxed);
        }
        let frame = match ServerFrame::parse(payload) {
            Ok(f) => f,
            Err(e) => return shared.error(format!("client {}: undecodable message: {e}", self.index)),
        };
        match frame {
            ServerFrame::Welcome(w) => {
                self.player_id = w.player_id;
                self.rate_hz = w.tick_rate_hz.max(1) as u64;
                shared.tick_rate_hz.store(w.tick_rate_hz as u32, Relaxed);
                self.field_counts = w.schema.entity_kinds.iter().map(|k| k.fields.len()).collect();
                self.schema = Some(w.schema);
            }
            ServerFrame::Update { header, body } if header.base_tick.is_none() => {
                if shared.in_window(header.server_time_us) {
                    stats.keyframes.fetch_add(1, Relaxed);
                }
                if self.orientation.is_none() {
                    self.find_orientation(&header, body);
                }
                self.on_update(&header, recv_us);
            }
            ServerFrame::Update { header, body } => {
                if self.sampler && shared.in_window(header.server_time_us) {
                    self.sample_body(&header, body, wire_bytes);
                }
                self.on_update(&header, recv_us);
            }
            ServerFrame::Notice { code, reason } if code != 0 => {
                shared.error(format!("client {}: notice {code}: {reason}", self.index))
            }
            _ => {}
        }
    }

    fn on_update(&mut self, header: &UpdateHeader, recv_us: u64) {
        let shared = &*self.shared;
        shared.updates.fetch_add(1, Relaxed);
        if shared.in_window(header.server_time_us) {
            let stats = &shared.clients[self.index];
            stats.received.fetch_add(1, Relaxed);
            if self.last_tick != 0 && header.tick > self.last_tick + 1 {
                stats.gaps.fetch_add(header.tick - self.last_tick - 1, Relaxed);
            }
            let latency = recv_us.saturating_sub(header.server_time_us);
            shared.latency.record(latency);
            if let Some(node) = &self.node {
                node.latency.record(latency);
            }
            shared.rooms[self.room_index].see(header.tick);
        }
        self.last_tick = header.tick;
        if self.input_rate_hz.is_none() {
            self.push_input(header.tick);
        }
    }

    /// Reads the player's own position from its first keyframe, to walk a square that
    /// stays inside the arena (clamped at a wall, a player would stop moving). In a
    /// room with cells the player is in one of them: the merged view finds it.
    fn find_orientation(&mut self, header: &UpdateHeader, body: &[u8]) {
        let Some(schema) = &self.schema else { return };
        let mut state = RoomState::default();
        let Ok(update) = header.decode_body(body, schema) else { return };
        if state.apply(&update).is_err() {
            return;
        }
        if let Some(&[x, y, ..]) = state.get(self.player_id) {
            self.orientation = Some((if x < ARENA_MID { 1 } else { -1 }, if y < ARENA_MID { 1 } else { -1 }));
        }
    }

    /// Walks a square, one side per second: every player moves on every tick.
    fn push_input(&mut self, tick: u64) {
        let (sx, sy) = self.orientation.unwrap_or((1, 1));
        let (dx, dy) = match (tick / self.rate_hz) % 4 {
            0 => (sx, 0),
            1 => (0, sy),
            2 => (-sx, 0),
            _ => (0, -sy),
        };
        self.seq += 1;
        let payload = ClientMessage::Input { seq: self.seq, values: vec![dx, dy, 0] }.encode();
        self.push_frame(0x2, &payload);
        self.shared.clients[self.index].inputs.fetch_add(1, Relaxed);
    }

    /// Appends a masked client frame (RFC 6455 §5.3) with a small payload to `out`.
    fn push_frame(&mut self, opcode: u8, payload: &[u8]) {
        debug_assert!(payload.len() < 126, "client frames here are small");
        // xorshift32: masking keys need not be secret towards our own server.
        let mut x = self.mask_state;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.mask_state = x;
        let key = x.to_le_bytes();
        self.out.push(0x80 | opcode);
        self.out.push(0x80 | payload.len() as u8);
        self.out.extend_from_slice(&key);
        self.out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    }

    fn sample_body(&self, header: &UpdateHeader, body: &[u8], wire_bytes: usize) {
        let sizes = if header.cells {
            cell_update_sizes(body, &self.field_counts, header.base_tick.is_some())
        } else {
            delta_sizes(body, &self.field_counts)
        };
        let Some((changed, changed_bytes, state_bytes)) = sizes else { return };
        let b = &self.shared.body;
        b.deltas.fetch_add(1, Relaxed);
        b.changed.fetch_add(changed, Relaxed);
        b.changed_bytes.fetch_add(changed_bytes, Relaxed);
        b.state_bytes.fetch_add(state_bytes, Relaxed);
        b.frame_bytes.fetch_add(wire_bytes as u64, Relaxed);
    }
}

/// Walks a delta body's state part (docs/PROTOCOL.md, "Update body"): returns the
/// number of changed entities, the bytes of the changed section, and of the state part.
pub fn delta_sizes(body: &[u8], field_counts: &[usize]) -> Option<(u64, u64, u64)> {
    state_sizes(&mut Reader::new(body), field_counts, true)
}

/// Walks a Cell update's body (docs/PROTOCOL.md, "Cell update (version 3)"): the sums
/// of [`delta_sizes`] over the room part and every section (a cell delta body counted
/// by [`cell_delta_sizes`]), a part that arrives whole adding its entity list to the
/// state bytes only (section headers and events are not state).
pub fn cell_update_sizes(body: &[u8], field_counts: &[usize], room_delta: bool) -> Option<(u64, u64, u64)> {
    let mut r = Reader::new(body);
    let (mut changed, mut changed_bytes, mut state_bytes) = state_sizes(&mut r, field_counts, room_delta)?;
    skip_events(&mut r)?;
    for _ in 0..r.count().ok()? {
        r.i32().ok()?;
        r.i32().ok()?;
        let age = r.u64().ok()?;
        let len = usize::try_from(r.u64().ok()?).ok()?;
        let mut section = Reader::new(r.take(len).ok()?);
        let (c, cb, sb) = if age == 0 {
            state_sizes(&mut section, field_counts, false)?
        } else {
            cell_delta_sizes(&mut section, field_counts)?
        };
        changed += c;
        changed_bytes += cb;
        state_bytes += sb;
    }
    Some((changed, changed_bytes, state_bytes))
}

/// Walks a cell delta body's state part (PROTOCOL.md, "Cell delta body": flags, then
/// the created, changed and removed lists the flags name), leaving `r` at its events.
fn cell_delta_sizes(r: &mut Reader<'_>, field_counts: &[usize]) -> Option<(u64, u64, u64)> {
    let start = r.remaining();
    let flags = r.u64().ok()?;
    let (changed, changed_bytes, _) = list_sizes(r, field_counts, [flags & 1 != 0, flags & 2 != 0, flags & 4 != 0])?;
    // The state part counts the flags too.
    Some((changed, changed_bytes, (start - r.remaining()) as u64))
}

/// Walks one state part at `r` (a delta's, or a snapshot's entity list), leaving `r`
/// at its events: (changed entities, bytes of the changed list, bytes of the part).
fn state_sizes(r: &mut Reader<'_>, field_counts: &[usize], delta: bool) -> Option<(u64, u64, u64)> {
    list_sizes(r, field_counts, [true, delta, delta])
}

/// Walks the created, changed and removed lists that are `present`, in that order (a
/// Delta's and a cell delta's share their layout; changed and removed entries start with
/// an id or index gap): (changed entities, bytes of the changed list, bytes walked).
fn list_sizes(r: &mut Reader<'_>, field_counts: &[usize], present: [bool; 3]) -> Option<(u64, u64, u64)> {
    let start = r.remaining();
    let pos = |r: &Reader<'_>| (start - r.remaining()) as u64;
    let [created, changed, removed] = present;
    if created {
        for _ in 0..r.u64().ok()? {
            r.u64().ok()?;
            let kind = r.u64().ok()? as usize;
            for _ in 0..*field_counts.get(kind)? {
                r.i64().ok()?;
            }
        }
    }
    let changed_start = pos(r);
    let mut count = 0;
    if changed {
        count = r.u64().ok()?;
        for _ in 0..count {
            r.u64().ok()?;
            let mask = r.u64().ok()?;
            for _ in 0..mask.count_ones() {
                r.i64().ok()?;
            }
        }
    }
    let changed_bytes = pos(r) - changed_start;
    if removed {
        for _ in 0..r.u64().ok()? {
            r.u64().ok()?;
        }
    }
    Some((count, changed_bytes, pos(r)))
}

/// Steps over an events section (PROTOCOL.md, "Events section"), strings unread.
fn skip_events(r: &mut Reader<'_>) -> Option<()> {
    for _ in 0..r.count().ok()? {
        let string = |r: &mut Reader<'_>| r.count().and_then(|n| r.take(n)).ok().map(|_| ());
        match r.u32().ok()? {
            0 | 2 => {
                r.u32().ok()?;
                string(r)?;
            }
            1 => {
                r.u32().ok()?;
            }
            3 => {
                r.u16().ok()?;
                r.u32().ok()?;
                r.i32().ok()?;
            }
            _ => return None,
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tickcast::sync::{encode_delta, EntityState};

    #[test]
    fn delta_sizes_count_moving_entities() {
        let (mut a, mut b) = (EntityState::new(), EntityState::new());
        for id in 1..=50 {
            a.push(id, 0, &[1000, 1000, 0]);
            b.push(id, 0, &[1100, 1000, 0]);
        }
        b.push(100, 1, &[5, 5]);
        let mut body = Vec::new();
        let stats = encode_delta(&a, &b, &[0], &mut Default::default(), &mut body);
        let (changed, changed_bytes, state_bytes) = delta_sizes(&body, &[3, 2]).unwrap();
        assert_eq!(changed, 50);
        assert_eq!(state_bytes, stats.state_bytes as u64);
        assert!(changed_bytes <= 50 * 4 + 1, "{changed_bytes}");
    }

    /// A Cell update body: a room part in step with one Joined event, a cell delta of
    /// 50 moving players, a cell arriving whole with one orb, a dropped cell.
    #[test]
    fn cell_update_sizes_sum_the_room_part_and_the_cells() {
        let (mut a, mut b, mut orb) = (EntityState::new(), EntityState::new(), EntityState::new());
        for id in 1..=50 {
            a.push(id, 0, &[1000, 1000, 0]);
            b.push(id, 0, &[1100, 1000, 0]);
        }
        orb.push(100, 1, &[5, 5]);
        for s in [&mut a, &mut b, &mut orb] {
            s.finish();
        }
        let mut body = Vec::new();
        let room = encode_delta(
            &EntityState::new(),
            &EntityState::new(),
            &[1, 0, 3, 2, b'B', b'o'],
            &mut Default::default(),
            &mut body,
        );
        let mut w = tickcast_client::wire::Writer(&mut body);
        w.u64(2);
        let mut moving = Vec::new();
        let cell = tickcast::sync::encode_cell_delta(&a, &b, &[], 0, &mut Default::default(), &mut moving);
        let mut whole = Vec::new();
        let arrived = tickcast::sync::encode_snapshot(&orb, &[0], &mut whole);
        for ((x, y), age, section) in [((0, 0), 1u64, &moving), ((0, 1), 0, &whole)] {
            let mut w = tickcast_client::wire::Writer(&mut body);
            w.i64(x);
            w.i64(y);
            w.u64(age);
            w.u64(section.len() as u64);
            body.extend_from_slice(section);
        }
        body.extend_from_slice(&[1, 2, 2]); // dropped: (1, 1)
        let (changed, changed_bytes, state_bytes) = cell_update_sizes(&body, &[3, 2], true).unwrap();
        assert_eq!(changed, 50);
        assert_eq!(state_bytes, (room.state_bytes + cell.state_bytes + arrived.state_bytes) as u64);
        assert!(changed_bytes <= 50 * 4 + 1, "{changed_bytes}");
        assert!(cell_update_sizes(&body[..body.len() - 8], &[3, 2], true).is_none(), "a cut section");
    }

    #[test]
    fn refusals_are_keyed_by_status() {
        let e = io::Error::other("upgrade refused: HTTP/1.1 503 Service Unavailable");
        assert_eq!(refusal_key(&e), "http 503");
        assert_eq!(refusal_key(&io::Error::other("upgrade refused: ")), "io");
        assert_eq!(refusal_key(&io::Error::other("connection reset")), "io");
    }

    #[test]
    fn subprotocols_carry_token_and_seat() {
        assert_eq!(subprotocols(None, None), "tickcast.v3, tickcast.v2, tickcast.v1");
        assert_eq!(
            subprotocols(Some("t.k"), Some("s.t")),
            "tickcast.v3, tickcast.v2, tickcast.v1, tickcast.token.t.k, tickcast.seat.s.t"
        );
    }

    #[test]
    fn frames_parse_only_when_complete() {
        let mut f = vec![0x82, 126, 0, 200];
        f.extend(std::iter::repeat_n(7u8, 200));
        assert!(parse_frame(&f[..100]).is_none());
        let frame = parse_frame(&f).unwrap();
        assert_eq!((frame.opcode, frame.payload), (2, 4..204));
    }
}

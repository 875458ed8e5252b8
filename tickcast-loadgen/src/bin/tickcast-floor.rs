//! The physical floor tickcast is judged against: a minimal WebSocket broadcaster that
//! does the least any server of this game must do. It accepts WebSockets, writes one
//! shared frame per room per tick to every client with one `write` each, and reads and
//! drops their inputs. Nothing else: no actors, no per-client header, no timers per
//! connection, no metrics.
//!
//! It speaks the subset of the tickcast protocol the load generator reads: the upgrade
//! with subprotocol `tickcast.v1`, a Welcome with the arena's schema, then one Delta per
//! tick with tickcast's header layout (tick, base tick, ack 0, `server_time_us`). The body
//! is a real arena delta of `--room-size` moving players, encoded once at start, so the
//! bytes on the wire match tickcast's for the same room size.
//!
//! ```text
//! cargo run --release -p tickcast-loadgen --bin tickcast-floor -- --bind 127.0.0.1:9090 --rate 20
//! tickcast-loadgen --url ws://127.0.0.1:9090/ws --floor --clients 1000 --duration 15
//! ```
//!
//! Run without `--bind` it prints how to use it and exits.

use clap::Parser;
use parking_lot::Mutex;
use std::collections::HashMap;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tickcast::game::arena::{Arena, ArenaConfig};
use tickcast::game::{Game, StepContext};
use tickcast::protocol::{write_update_header, ProtocolVersion, ServerMessage, UpdateHeader, Welcome, SUBPROTOCOL};
use tickcast::sync::{encode_delta, encode_events, EntityState};
use tokio::io::AsyncReadExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};

#[derive(Parser)]
struct Args {
    /// Address to listen on (loopback).
    #[arg(long)]
    bind: Option<String>,
    /// Ticks per second.
    #[arg(long, default_value_t = 20)]
    rate: u32,
    /// Players whose movement the shared body carries.
    #[arg(long, default_value_t = 50)]
    room_size: u32,
    /// Passed by `cargo bench`; ignored.
    #[arg(long, hide = true)]
    bench: bool,
}

/// One client: its socket's write half and the rest of a frame the socket did not take
/// at once. Its read half lives in the client's task.
struct Conn {
    writer: OwnedWriteHalf,
    pending: Mutex<Vec<u8>>,
    dead: AtomicBool,
}

type Rooms = Arc<Mutex<HashMap<String, Vec<Arc<Conn>>>>>;

fn main() {
    let args = Args::parse();
    let Some(bind) = args.bind.clone() else {
        println!("floor: the broadcaster for scripts/bench-capacity; run with --bind ADDR [--rate HZ] [--room-size N]");
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    runtime.block_on(serve(bind, args));
}

async fn serve(bind: String, args: Args) {
    let listener = TcpListener::bind(&bind).await.expect("bind");
    let (body, welcome) = arena_body(args.room_size, args.rate);
    eprintln!(
        "floor listening on {}: {} Hz, shared body of {} bytes for {} moving players",
        listener.local_addr().expect("addr"),
        args.rate,
        body.len(),
        args.room_size
    );
    let rooms: Rooms = Arc::default();
    let skipped = Arc::new(AtomicU64::new(0));
    tokio::spawn(broadcast(rooms.clone(), body, args.rate, skipped));
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
        tokio::spawn(session(stream, rooms.clone(), welcome.clone()));
    }
}

/// A real delta body of `players` moving arena players (events section empty), and the
/// Welcome template.
fn arena_body(players: u32, rate: u32) -> (Vec<u8>, Welcome) {
    let mut arena = Arena::new(ArenaConfig::default(), 1);
    for p in 1..=players {
        arena.join(p, "floor");
        let (x, _, _) = arena.player(p).expect("joined");
        arena.apply_input(p, &[if x < 5_000 { 1 } else { -1 }, 0, 0]);
    }
    let mut states = [EntityState::new(), EntityState::new()];
    for state in states.iter_mut() {
        arena.step(&mut StepContext::new(1, rate, &mut Vec::new()));
        arena.write_state(state);
        state.finish();
    }
    let mut events = Vec::new();
    encode_events(std::iter::empty(), &mut events);
    let mut body = Vec::new();
    encode_delta(&states[0], &states[1], &events, &mut Default::default(), &mut body);
    let welcome = Welcome {
        protocol: ProtocolVersion::V1.number(),
        player_id: 0,
        room: String::new(),
        tick_rate_hz: rate as u16,
        tick: 0,
        resume_token: String::new(),
        players: Vec::new(),
        schema: arena.schema(),
        // Version 1 (the floor always answers tickcast.v1): no constants on the wire.
        constants: Vec::new(),
    };
    (body, welcome)
}

fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

/// Prepends an unmasked binary frame header (RFC 6455 §5.2) to `payload`.
fn ws_frame(payload: &[u8], out: &mut Vec<u8>) {
    out.push(0x82);
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= 0xFFFF => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
}

/// Every tick: one frame per room, one `write` per client. A client whose socket did not
/// take the previous frame whole skips ticks until it has.
async fn broadcast(rooms: Rooms, body: Vec<u8>, rate: u32, skipped: Arc<AtomicU64>) {
    let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
    let (mut tick, mut payload, mut frame) = (0u64, Vec::new(), Vec::new());
    loop {
        interval.tick().await;
        tick += 1;
        let header = UpdateHeader { tick, base_tick: tick - 1, ack_input: 0, server_time_us: now_us() };
        let mut rooms = rooms.lock();
        for members in rooms.values_mut() {
            members.retain(|c| !c.dead.load(Relaxed));
            payload.clear();
            write_update_header(&mut payload, true, &header);
            payload.extend_from_slice(&body);
            frame.clear();
            ws_frame(&payload, &mut frame);
            for c in members.iter() {
                if !send(c, &frame) {
                    skipped.fetch_add(1, Relaxed);
                }
            }
        }
    }
}

/// Writes `frame` to `c` unless an earlier frame is still partly unsent; false: skipped.
fn send(c: &Conn, frame: &[u8]) -> bool {
    let mut pending = c.pending.lock();
    if !pending.is_empty() {
        match c.writer.try_write(&pending) {
            Ok(n) => drop(pending.drain(..n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => c.dead.store(true, Relaxed),
        }
        if !pending.is_empty() {
            return false;
        }
    }
    match c.writer.try_write(frame) {
        Ok(n) if n == frame.len() => true,
        Ok(n) => {
            pending.extend_from_slice(&frame[n..]);
            true
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
        Err(_) => {
            c.dead.store(true, Relaxed);
            false
        }
    }
}

/// `Sec-WebSocket-Accept` for `key` (RFC 6455 §4.2.2): base64 of SHA-1 of the key and the
/// protocol's GUID.
fn accept_key(key: &str) -> String {
    use base64::Engine;
    use sha1::Digest;
    let digest = sha1::Sha1::new().chain_update(key).chain_update("258EAFA5-E914-47DA-95CA-C5AB0DC85B11").finalize();
    base64::engine::general_purpose::STANDARD.encode(digest)
}

/// Upgrades the connection, sends Welcome, joins the room, then reads and drops input.
async fn session(stream: TcpStream, rooms: Rooms, mut welcome: Welcome) {
    let Ok(Ok((room, key))) = tokio::time::timeout(Duration::from_secs(10), read_request(&stream)).await else {
        return;
    };
    let accept = accept_key(&key);
    let mut out = format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: {SUBPROTOCOL}\r\n\r\n"
    )
    .into_bytes();
    welcome.room = room.clone();
    let (mut reader, writer) = stream.into_split();
    let conn = Arc::new(Conn { writer, pending: Mutex::new(Vec::new()), dead: AtomicBool::new(false) });
    {
        let mut rooms = rooms.lock();
        let members = rooms.entry(room).or_default();
        welcome.player_id = members.len() as u32 + 1;
        ws_frame(&ServerMessage::Welcome(welcome).encode(), &mut out);
        // Queued as pending so it goes out before the first tick frame.
        *conn.pending.lock() = out;
        members.push(conn.clone());
    }
    // `read` (not `try_read`): after a short read tokio clears the readiness itself, so a
    // tick's input costs one recv, not a second one answering EAGAIN.
    let mut buf = [0u8; 8192];
    while let Ok(1..) = reader.read(&mut buf).await {}
    conn.dead.store(true, Relaxed);
}

/// Reads the upgrade request; returns the room (`?room=`) and `Sec-WebSocket-Key`.
async fn read_request(stream: &TcpStream) -> io::Result<(String, String)> {
    let mut buf = Vec::with_capacity(1024);
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        if buf.len() > 8192 {
            return Err(io::Error::other("request head too long"));
        }
        stream.readable().await?;
        match stream.try_read_buf(&mut buf) {
            Ok(0) => return Err(io::Error::other("closed")),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => return Err(e),
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let target = head.split_whitespace().nth(1).unwrap_or("/");
    let room = target
        .split_once('?')
        .and_then(|(_, q)| q.split('&').find_map(|kv| kv.strip_prefix("room=")))
        .unwrap_or("default")
        .to_string();
    let key = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("sec-websocket-key").then(|| v.trim().to_string())
        })
        .ok_or_else(|| io::Error::other("no Sec-WebSocket-Key"))?;
    Ok((room, key))
}

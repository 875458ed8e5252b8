//! A session actor: one per WebSocket connection.
//!
//! It owns the socket concerns: decoding the player's messages (input goes into the
//! player's bounded queue, read by the world on the tick), writing what the room and the
//! session itself produce, the heartbeat, and the close handshake.
//!
//! Its write path keeps at most one write in flight, a small queue of control messages
//! (Welcome, Pong, Ping) and one tick-frame slot; the room never sends a second frame
//! before the first was handed to the socket (see `link`). It never `ctx.wait`s on a
//! write, so its timers and mailbox keep running when the client stops reading.

use super::directory::RoomHandle;
use super::link::{ws_frame_len, MemberLink};
use super::room::{Join, Joined, LeaveRoom, SessionEnded, ToSession};
use super::world::{ChatLine, WorldActor};
use crate::config::{secs, Settings};
use crate::limits::{InputRateLimit, RateVerdict};
use crate::metrics;
use crate::net::SocketHandle;
use crate::net::{ConnectionSlot, SubjectSlot};
use crate::protocol::{
    close_code, update_frame, ClientMessage, DecodeError, Notice, PlayerId, Schema, ServerMessage, UpdateHeader,
};
use crate::sync::{InputQueue, PushOutcome};
use actix::{
    Actor, ActorContext, ActorFutureExt, Addr, AsyncContext, Context, Handler, Running, StreamHandler, WrapFuture,
};
use actix_ws::{AggregatedMessage, CloseCode, CloseReason, ProtocolError};
use bytes::Bytes;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Control messages waiting beyond this are dropped (a client flooding pings gets fewer
/// pongs, never unbounded memory).
const MAX_CONTROL_QUEUE: usize = 8;
/// How long a close handshake may take before the connection is torn down.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);
/// RFC 6455: a close frame's reason is at most 123 bytes.
const MAX_CLOSE_REASON: usize = 123;

/// How the session starts.
// Made once per connection and moved once into the actor: boxing the bigger variant
// would buy nothing.
#[allow(clippy::large_enum_variant)]
pub enum SessionStart {
    /// Join (or resume) a player in a room.
    Join {
        /// The room.
        room: RoomHandle,
        /// The seat reserved (none on resume).
        seat: Option<super::directory::SeatGuard>,
        /// Display name.
        name: String,
        /// Player to resume, from its verified resume token.
        resume: Option<crate::tokens::ResumeClaim>,
        /// The token subject of a new player (`None` on resume, or without a token).
        subject: Option<String>,
        /// The client's IP.
        ip: Option<std::net::IpAddr>,
        /// The new player's count against `security.max_sessions_per_token`.
        slot: Option<SubjectSlot>,
    },
    /// The upgrade completed only to tell the client why it cannot play (a browser
    /// cannot read the status of a refused upgrade): send a Notice, close, stop.
    Refuse {
        /// Close code.
        code: u16,
        /// Reason.
        reason: String,
    },
}

enum Outgoing {
    Binary(Bytes),
    Ping(Bytes),
    Pong(Bytes),
}

/// The session actor.
pub struct SessionActor {
    ws: actix_ws::Session,
    stream: Option<actix_ws::AggregatedMessageStream>,
    start: Option<SessionStart>,
    settings: Arc<Settings>,
    world: Addr<WorldActor>,
    link: Arc<MemberLink>,
    socket: Option<SocketHandle>,
    room: Option<RoomHandle>,
    player: Option<PlayerId>,
    schema: Option<Schema>,
    inputs: Option<Arc<InputQueue>>,
    control: VecDeque<Outgoing>,
    frame: Option<(u64, Bytes)>,
    writing: bool,
    last_heard: Instant,
    closing: bool,
    left: bool,
    slot: Option<ConnectionSlot>,
    oversized: Arc<AtomicBool>,
    fragmented: Arc<AtomicBool>,
    rate: InputRateLimit,
}

impl SessionActor {
    /// A session over an upgraded socket.
    pub fn new(
        ws: actix_ws::Session,
        stream: actix_ws::AggregatedMessageStream,
        start: SessionStart,
        settings: Arc<Settings>,
        world: Addr<WorldActor>,
        link: Arc<MemberLink>,
        socket: Option<SocketHandle>,
    ) -> Self {
        let l = &settings.limits;
        let settings_rate = (l.input_rate_hz, l.input_burst, l.flood_grace_s);
        SessionActor {
            ws,
            stream: Some(stream),
            start: Some(start),
            settings,
            world,
            link,
            socket,
            room: None,
            player: None,
            schema: None,
            inputs: None,
            control: VecDeque::new(),
            frame: None,
            writing: false,
            last_heard: Instant::now(),
            closing: false,
            left: false,
            slot: None,
            oversized: Arc::default(),
            fragmented: Arc::default(),
            rate: InputRateLimit::new(settings_rate.0, settings_rate.1, secs(settings_rate.2), Instant::now()),
        }
    }

    /// Keeps the connection-limit slot until the session ends, and the flag the frame
    /// guard raises when it refuses an oversized frame.
    pub fn hold(&mut self, slot: ConnectionSlot, oversized: Arc<AtomicBool>) {
        self.slot = Some(slot);
        self.oversized = oversized;
    }

    /// Keeps the flag the frame guard raises when a message has more than
    /// `limits.max_fragments_per_message` frames, so the session closes with 1009
    /// "too many fragments" rather than a generic protocol error.
    pub fn watch_fragments(&mut self, fragmented: Arc<AtomicBool>) {
        self.fragmented = fragmented;
    }

    fn queue_control(&mut self, msg: Outgoing, ctx: &mut Context<Self>) {
        if self.closing {
            return;
        }
        if self.control.len() >= MAX_CONTROL_QUEUE {
            metrics::control_dropped();
            return;
        }
        self.control.push_back(msg);
        self.pump(ctx);
    }

    /// Starts the next write if none is in flight: control messages first, then the
    /// tick frame.
    fn pump(&mut self, ctx: &mut Context<Self>) {
        if self.writing || self.closing {
            return;
        }
        let (msg, tick) = if let Some(m) = self.control.pop_front() {
            (m, None)
        } else if let Some((tick, bytes)) = self.frame.take() {
            (Outgoing::Binary(bytes), Some(tick))
        } else {
            return;
        };
        self.writing = true;
        let mut ws = self.ws.clone();
        let wire = match &msg {
            Outgoing::Binary(b) | Outgoing::Ping(b) | Outgoing::Pong(b) => ws_frame_len(b.len()),
        };
        let write = async move {
            match msg {
                Outgoing::Binary(b) => ws.binary(b).await,
                Outgoing::Ping(b) => ws.ping(&b).await,
                Outgoing::Pong(b) => ws.pong(&b).await,
            }
        };
        ctx.spawn(write.into_actor(self).map(move |res, act, ctx| {
            act.writing = false;
            match res {
                Ok(()) => {
                    act.link.handed(wire, tick);
                    metrics::bytes_sent(wire);
                    act.pump(ctx);
                }
                Err(_) => act.peer_gone(ctx),
            }
        }));
    }

    /// The connection ended under us without a close handshake (a reset, a FIN, a
    /// failed write): nothing to answer and nobody to answer to. Counted as a drop by
    /// how the peer left, not as a protocol error.
    fn peer_gone(&mut self, ctx: &mut Context<Self>) {
        if !self.closing {
            let how = self.socket.as_ref().map_or("lost", SocketHandle::how_peer_left);
            metrics::session_dropped(how);
            self.closing = true;
        }
        ctx.stop();
    }

    /// Sends a Notice then a close frame, and stops once the connection has taken them;
    /// if it has not within `CLOSE_TIMEOUT` (a peer that does not read), the TCP
    /// connection is torn down instead.
    fn close(&mut self, code: u16, reason: &str, ctx: &mut Context<Self>) {
        if self.closing {
            return;
        }
        self.closing = true;
        metrics::session_closed(code);
        let mut reason = reason.to_string();
        while reason.len() > MAX_CLOSE_REASON {
            reason.pop();
        }
        tracing::debug!(player = ?self.player, code, %reason, "closing session");
        let notice = ServerMessage::Notice(Notice { code, reason: reason.clone() }).encode();
        let wire = ws_frame_len(notice.len()) + ws_frame_len(2 + reason.len());
        let mut ws = self.ws.clone();
        let close = async move {
            let _ = ws.binary(notice).await;
            let _ = ws.close(Some(CloseReason { code: CloseCode::from(code), description: Some(reason) })).await;
        };
        let link = self.link.clone();
        ctx.spawn(close.into_actor(self).map(move |_, act, ctx| {
            link.handed(wire, None);
            act.stop_when_drained(ctx, Instant::now() + CLOSE_TIMEOUT);
        }));
        ctx.run_later(CLOSE_TIMEOUT, |act, ctx| {
            act.tear_down();
            ctx.stop();
        });
    }

    /// Stops once every byte handed over (the close frame included) has been taken by the
    /// connection, checking every few milliseconds until `deadline`.
    fn stop_when_drained(&mut self, ctx: &mut Context<Self>, deadline: Instant) {
        if self.link.pending_bytes() == 0 || Instant::now() >= deadline {
            if self.link.pending_bytes() != 0 {
                self.tear_down();
            }
            ctx.stop();
            return;
        }
        ctx.run_later(Duration::from_millis(10), move |act, ctx| act.stop_when_drained(ctx, deadline));
    }

    /// Resets the TCP connection: the only way to end a connection whose peer does not
    /// read, since a close frame cannot pass a full socket.
    fn tear_down(&mut self) {
        if let Some(socket) = self.socket.take() {
            socket.reset();
        }
    }

    fn on_joined(&mut self, joined: Joined, ctx: &mut Context<Self>) {
        self.player = Some(joined.player);
        self.inputs = Some(joined.inputs);
        self.schema = Some(joined.welcome.schema.clone());
        let welcome = ServerMessage::Welcome(joined.welcome).encode();
        self.queue_control(Outgoing::Binary(Bytes::from(welcome)), ctx);
        if let Some(stream) = self.stream.take() {
            ctx.add_stream(stream);
        }
        let interval = secs(self.settings.heartbeat.interval_s);
        ctx.run_interval(interval, |act, ctx| act.heartbeat(ctx));
    }

    fn heartbeat(&mut self, ctx: &mut Context<Self>) {
        if self.last_heard.elapsed() > secs(self.settings.heartbeat.timeout_s) {
            // The peer answered nothing; if its socket will not take the close frame
            // either, close() tears the connection down after CLOSE_TIMEOUT.
            self.close(close_code::POLICY, "heartbeat timeout", ctx);
            return;
        }
        self.queue_control(Outgoing::Ping(Bytes::copy_from_slice(&now_us().to_le_bytes())), ctx);
    }

    fn on_binary(&mut self, bytes: Bytes, ctx: &mut Context<Self>) {
        match self.rate.check(Instant::now()) {
            RateVerdict::Allow => {}
            RateVerdict::Drop => return metrics::input_dropped("rate"),
            RateVerdict::Disconnect => {
                metrics::input_dropped("flood");
                return self.close(close_code::POLICY, "input flood: too many messages", ctx);
            }
        }
        let max = self.settings.limits.max_message_bytes;
        let msg = match ClientMessage::decode(&bytes, max) {
            Ok(m) => m,
            Err(DecodeError::TooLong { .. }) => return self.close(close_code::TOO_BIG, "message too big", ctx),
            Err(e) => {
                metrics::input_dropped("undecodable");
                return self.close(close_code::INVALID_PAYLOAD, &format!("undecodable message: {e}"), ctx);
            }
        };
        match msg {
            ClientMessage::Input { seq, values } => {
                if let Some(Err(why)) = self.schema.as_ref().map(|s| s.check_input(&values)) {
                    metrics::input_dropped("invalid");
                    return self.close(close_code::INVALID_PAYLOAD, &why, ctx);
                }
                match self.inputs.as_ref().map(|q| q.push(seq, values)) {
                    Some(PushOutcome::Queued) | None => {}
                    Some(PushOutcome::Stale) => metrics::input_dropped("stale"),
                    Some(PushOutcome::Overflow) => metrics::input_dropped("overflow"),
                }
            }
            ClientMessage::Ping { client_time } => {
                let pong = ServerMessage::Pong { client_time, server_time_us: now_us() }.encode();
                self.queue_control(Outgoing::Binary(Bytes::from(pong)), ctx);
            }
            ClientMessage::Leave => {
                self.left = true;
                let (Some(room), Some(player)) = (&self.room, self.player) else {
                    return self.close(close_code::NORMAL, "left", ctx);
                };
                // The room removes the player first, then the client hears "left": a
                // resume right after the close finds no player (4401), never the old one.
                // Waiting is safe for the same reason as the Join's: the room answers from
                // its own thread without waiting on anybody. A gone room removed it anyway.
                let leave = LeaveRoom { player, link: self.link.clone() };
                ctx.wait(room.addr.send(leave).into_actor(self).map(|_, act, ctx| {
                    act.close(close_code::NORMAL, "left", ctx);
                }));
            }
            ClientMessage::Chat { text } => {
                if text.len() > self.settings.limits.max_chat_bytes {
                    return self.close(close_code::POLICY, "chat line too long", ctx);
                }
                if let (Some(room), Some(player)) = (&self.room, self.player) {
                    self.world.do_send(ChatLine { room: room.id, player, text });
                }
            }
        }
    }
}

/// Server wall clock in µs since the Unix epoch.
pub fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0)
}

impl Actor for SessionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(16);
        metrics::session_opened();
        match self.start.take() {
            Some(SessionStart::Refuse { code, reason }) => self.close(code, &reason, ctx),
            Some(SessionStart::Join { room, seat, name, resume, subject, ip, slot }) => {
                let session = ctx.address().recipient();
                let join = Join { session, link: self.link.clone(), name, seat, resume, subject, ip, slot };
                self.room = Some(room.clone());
                // Waiting here is safe: nothing has been written yet and the room answers
                // from its own thread without waiting on anybody.
                ctx.wait(room.addr.send(join).into_actor(self).map(|res, act, ctx| match res {
                    Ok(Ok(joined)) => act.on_joined(joined, ctx),
                    Ok(Err(refused)) => act.close(refused.code, &refused.reason, ctx),
                    Err(_) => act.close(close_code::TRY_AGAIN, "room is gone", ctx),
                }));
            }
            None => ctx.stop(),
        }
    }

    fn stopping(&mut self, _: &mut Self::Context) -> Running {
        if let (Some(room), Some(player)) = (&self.room, self.player) {
            room.addr.do_send(SessionEnded { player, link: self.link.clone(), left: self.left });
        }
        Running::Stop
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        metrics::session_ended();
    }
}

impl Handler<ToSession> for SessionActor {
    type Result = ();
    fn handle(&mut self, msg: ToSession, ctx: &mut Context<Self>) {
        match msg {
            ToSession::Frame { tick, base_tick, ack, server_time_us, body } => {
                if self.closing {
                    self.link.abandon_frame();
                    return;
                }
                let header = UpdateHeader { tick, base_tick, ack_input: ack, server_time_us };
                self.frame = Some((tick, Bytes::from(update_frame(&header, &body))));
                metrics::frame_sent(base_tick == 0);
                self.pump(ctx);
            }
            ToSession::Close { code, reason } => self.close(code, &reason, ctx),
            ToSession::Evict { reason } => {
                self.close(close_code::POLICY, &reason, ctx);
                // It stopped reading: the close frame cannot pass its full socket.
                self.tear_down();
            }
        }
    }
}

impl StreamHandler<Result<AggregatedMessage, ProtocolError>> for SessionActor {
    fn handle(&mut self, item: Result<AggregatedMessage, ProtocolError>, ctx: &mut Context<Self>) {
        if self.closing {
            return;
        }
        self.last_heard = Instant::now();
        match item {
            Ok(AggregatedMessage::Binary(bytes)) => self.on_binary(bytes, ctx),
            Ok(AggregatedMessage::Text(_)) => {
                self.close(close_code::UNSUPPORTED_DATA, "text frames are not accepted", ctx)
            }
            Ok(AggregatedMessage::Ping(bytes)) => self.queue_control(Outgoing::Pong(bytes), ctx),
            Ok(AggregatedMessage::Pong(bytes)) => {
                if let Ok(sent) = <[u8; 8]>::try_from(bytes.as_ref()) {
                    let rtt = now_us().saturating_sub(u64::from_le_bytes(sent));
                    self.link.set_rtt_us(rtt);
                    metrics::rtt(rtt as f64 / 1e6);
                }
            }
            Ok(AggregatedMessage::Close(_)) => {
                // The client closed: answer with a close frame and end.
                self.close(close_code::NORMAL, "bye", ctx);
            }
            Err(e) if peer_went_away(&e) => self.peer_gone(ctx),
            Err(e) => {
                let (code, reason) = if self.oversized.load(Ordering::Acquire) {
                    (close_code::TOO_BIG, "frame too big")
                } else if self.fragmented.load(Ordering::Acquire) {
                    (close_code::TOO_BIG, "too many fragments")
                } else {
                    protocol_error_close(&e)
                };
                if code == close_code::TOO_BIG {
                    metrics::input_dropped("too_big");
                }
                self.close(code, reason, ctx);
            }
        }
    }

    fn finished(&mut self, ctx: &mut Context<Self>) {
        // The client's side ended. If we are closing (after a read error, say), the close
        // path stops the actor once its close frame is out; otherwise the peer is gone.
        if !self.closing {
            self.peer_gone(ctx);
        }
    }
}

/// True when the read side ended because the connection did (the HTTP layer reports a
/// reset or an EOF mid-stream as an incomplete payload), not because of a bad frame.
fn peer_went_away(e: &ProtocolError) -> bool {
    let ProtocolError::Io(io) = e else { return false };
    matches!(
        io.get_ref().and_then(|inner| inner.downcast_ref::<actix_web::error::PayloadError>()),
        Some(actix_web::error::PayloadError::Incomplete(_))
    ) || matches!(io.kind(), std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe)
}

/// Maps a WebSocket protocol error to a close code and reason.
fn protocol_error_close(e: &ProtocolError) -> (u16, &'static str) {
    match e {
        ProtocolError::Overflow => (close_code::TOO_BIG, "frame too big"),
        ProtocolError::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => {
            (close_code::PROTOCOL_ERROR, "invalid frame")
        }
        // actix-ws reports an oversized fragmented message only by this text.
        ProtocolError::Io(io) if io.to_string().contains("maximum continuation size") => {
            (close_code::TOO_BIG, "message too big")
        }
        ProtocolError::Io(_) => (close_code::PROTOCOL_ERROR, "connection error"),
        _ => (close_code::PROTOCOL_ERROR, "WebSocket protocol error"),
    }
}

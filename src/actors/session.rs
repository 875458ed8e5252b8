//! A session actor: one per WebSocket connection.
//!
//! It owns the socket concerns: decoding the player's messages (input goes into the
//! player's bounded queue, read by the world on the tick), writing what the session
//! itself produces, and the close handshake. (The heartbeat's pings and its timeout run
//! on the room's tick, over the member's link: no timer per session.)
//!
//! It runs on its room's thread (see `http::upgrade`): the room writes its members'
//! frames from there, so reading the input there too costs a tick no wake-up of another
//! thread.
//!
//! The session owns the connection after the upgrade: it polls the reader, runs the
//! writer's flush task, and writes its own messages (Pong, Notice, Close) through the
//! same writer the room writes the Welcome, pings and tick frames through from its
//! thread (see `net::ws::writer`). No write ever waits: what the kernel refuses waits in the
//! connection's bounded outbox, so its timers and mailbox keep running when the client
//! stops reading.

use super::directory::RoomHandle;
pub use super::link::now_us;
use super::link::{ws_frame_len, MemberLink};
use super::room::{Join, Joined, LeaveRoom, SessionEnded, ToSession};
use super::world::{ChatLine, WorldActor};
use crate::config::{secs, Settings};
use crate::limits::{InputRateLimit, RateVerdict};
use crate::metrics;
use crate::net::ws::frame::opcode;
use crate::net::ws::{ConnectionReader, ConnectionWriter, Message, ReadError, Sent};
use crate::net::SocketHandle;
use crate::net::{ConnectionSlot, SubjectSlot};
use crate::protocol::{
    close_code, ClientMessage, DecodeError, Notice, PlayerId, ProtocolVersion, Schema, ServerMessage, MAX_INPUT_FIELDS,
};
use crate::sync::{InputQueue, InputValues, PushOutcome};
use actix::{
    Actor, ActorContext, ActorFutureExt, Addr, AsyncContext, Context, Handler, Running, StreamHandler, WrapFuture,
};
use bytes::Bytes;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
        /// The protocol version chosen in the handshake.
        version: ProtocolVersion,
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

/// The session actor.
pub struct SessionActor {
    writer: Arc<ConnectionWriter>,
    reader: Option<ConnectionReader>,
    start: Option<SessionStart>,
    settings: Arc<Settings>,
    world: Addr<WorldActor>,
    link: Arc<MemberLink>,
    socket: Option<SocketHandle>,
    room: Option<RoomHandle>,
    player: Option<PlayerId>,
    schema: Option<Arc<Schema>>,
    inputs: Option<Arc<InputQueue>>,
    closing: bool,
    left: bool,
    slot: Option<ConnectionSlot>,
    rate: InputRateLimit,
}

impl SessionActor {
    /// A session over an upgraded connection: `writer` is shared with `link` (the room
    /// writes tick frames through it), `reader` is polled once the player joined.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        writer: Arc<ConnectionWriter>,
        reader: ConnectionReader,
        start: SessionStart,
        settings: Arc<Settings>,
        world: Addr<WorldActor>,
        link: Arc<MemberLink>,
        socket: Option<SocketHandle>,
    ) -> Self {
        let l = &settings.limits;
        let settings_rate = (l.input_rate_hz, l.input_burst, l.flood_grace_s);
        SessionActor {
            writer,
            reader: Some(reader),
            start: Some(start),
            settings,
            world,
            link,
            socket,
            room: None,
            player: None,
            schema: None,
            inputs: None,
            closing: false,
            left: false,
            slot: None,
            rate: InputRateLimit::new(settings_rate.0, settings_rate.1, secs(settings_rate.2), Instant::now()),
        }
    }

    /// Keeps the connection-limit slot until the session ends.
    pub fn hold(&mut self, slot: ConnectionSlot) {
        self.slot = Some(slot);
    }

    /// Writes one of the session's own frames, unless `limits.max_pending_bytes` already
    /// wait in the outbox (the room's rule for tick frames): then it is dropped and
    /// counted, so a client flooding pings gets fewer pongs, never unbounded memory.
    fn send_own(&mut self, op: u8, payload: &[u8]) {
        if self.closing {
            return;
        }
        if self.link.pending_bytes() >= self.settings.limits.max_pending_bytes as u64 {
            metrics::control_dropped();
            return;
        }
        if self.writer.send_frame(op, &[payload]) != Sent::Closed {
            metrics::bytes_sent(ws_frame_len(payload.len()));
        }
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
        metrics::session_closed(code);
        let mut reason = reason.to_string();
        while reason.len() > MAX_CLOSE_REASON {
            reason.pop();
        }
        tracing::debug!(player = ?self.player, code, %reason, "closing session");
        let notice = ServerMessage::Notice(Notice { code, reason: reason.clone() }).encode();
        self.send_own(opcode::BINARY, &notice);
        self.closing = true;
        self.writer.send_close(code, &reason);
        metrics::bytes_sent(ws_frame_len(2 + reason.len()));
        self.stop_when_drained(ctx, Instant::now() + CLOSE_TIMEOUT);
    }

    /// Stops once every byte (the close frame included) has been taken by the socket,
    /// checking every few milliseconds until `deadline`; then resets the connection if
    /// bytes still wait.
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
        self.schema = Some(joined.schema);
        // The room wrote the Welcome already, ahead of any tick frame.
        if let Some(reader) = self.reader.take() {
            ctx.add_stream(reader);
        }
    }

    /// Checks one input against the schema and queues it for the world.
    fn on_input(&mut self, seq: u32, values: &[i32], ctx: &mut Context<Self>) {
        if let Some(Err(why)) = self.schema.as_ref().map(|s| s.check_input(values)) {
            metrics::input_dropped("invalid");
            return self.close(close_code::INVALID_PAYLOAD, &why, ctx);
        }
        // A schema has at most MAX_INPUT_FIELDS input fields, so checked values fit.
        let Some(values) = InputValues::new(values) else {
            metrics::input_dropped("invalid");
            return self.close(close_code::INVALID_PAYLOAD, "too many input values", ctx);
        };
        match self.inputs.as_ref().map(|q| q.push(seq, values)) {
            Some(PushOutcome::Queued) | None => {}
            Some(PushOutcome::Stale) => metrics::input_dropped("stale"),
            Some(PushOutcome::Overflow) => metrics::input_dropped("overflow"),
        }
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
        // Inputs, nearly every message a player sends, decode without allocating; any
        // other message (or an odd input) takes the general path below.
        let mut values = [0; MAX_INPUT_FIELDS];
        if bytes.len() <= max {
            if let Some((seq, n)) = ClientMessage::decode_input(&bytes, &mut values) {
                return self.on_input(seq, &values[..n], ctx);
            }
        }
        let msg = match ClientMessage::decode(&bytes, max) {
            Ok(m) => m,
            Err(DecodeError::TooLong { .. }) => return self.close(close_code::TOO_BIG, "message too big", ctx),
            Err(e) => {
                metrics::input_dropped("undecodable");
                return self.close(close_code::INVALID_PAYLOAD, &format!("undecodable message: {e}"), ctx);
            }
        };
        match msg {
            ClientMessage::Input { seq, values } => self.on_input(seq, &values, ctx),
            ClientMessage::Ping { client_time } => {
                let pong = ServerMessage::Pong { client_time, server_time_us: now_us() }.encode();
                self.send_own(opcode::BINARY, &pong);
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

impl Actor for SessionActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(16);
        metrics::session_opened();
        // The outbox drains whenever it holds bytes; a socket error ends the session.
        ctx.spawn(self.writer.clone().flush().into_actor(self).map(|_, act, ctx| act.peer_gone(ctx)));
        match self.start.take() {
            Some(SessionStart::Refuse { code, reason }) => self.close(code, &reason, ctx),
            Some(SessionStart::Join { room, seat, name, resume, subject, ip, slot, version }) => {
                let session = ctx.address().recipient();
                let join = Join { session, link: self.link.clone(), name, seat, resume, subject, ip, slot, version };
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
        // FIN now: the room may hold the writer a little longer (grace, or its tick).
        self.writer.shut_down();
        metrics::session_ended();
    }
}

impl Handler<ToSession> for SessionActor {
    type Result = ();
    fn handle(&mut self, msg: ToSession, ctx: &mut Context<Self>) {
        match msg {
            ToSession::Close { code, reason } => self.close(code, &reason, ctx),
            ToSession::Evict { reason } => {
                self.close(close_code::POLICY, &reason, ctx);
                // It stopped reading: the close frame cannot pass its full socket.
                self.tear_down();
            }
        }
    }
}

impl StreamHandler<Result<Message, ReadError>> for SessionActor {
    fn handle(&mut self, item: Result<Message, ReadError>, ctx: &mut Context<Self>) {
        if self.closing {
            return;
        }
        self.link.heard();
        match item {
            Ok(Message::Binary(bytes)) => self.on_binary(bytes, ctx),
            Ok(Message::Text(_)) => self.close(close_code::UNSUPPORTED_DATA, "text frames are not accepted", ctx),
            Ok(Message::Ping(bytes)) => self.send_own(opcode::PONG, &bytes),
            Ok(Message::Pong(bytes)) => {
                if let Ok(sent) = <[u8; 8]>::try_from(bytes.as_ref()) {
                    let rtt = now_us().saturating_sub(u64::from_le_bytes(sent));
                    self.link.set_rtt_us(rtt);
                    metrics::rtt(rtt as f64 / 1e6);
                }
            }
            // The client closed: answer with a close frame and end.
            Ok(Message::Close(_)) => self.close(close_code::NORMAL, "bye", ctx),
            Err(ReadError::Io(_)) => self.peer_gone(ctx),
            Err(ReadError::Frame(e)) => {
                if e.close_code() == close_code::TOO_BIG {
                    metrics::input_dropped("too_big");
                }
                self.close(e.close_code(), e.reason(), ctx);
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

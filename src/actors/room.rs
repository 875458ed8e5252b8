//! A room actor: membership and fan-out for one room.
//!
//! Each tick the world hands the room its new state. The room encodes the update body
//! **once per distinct baseline** — in practice once, shared by every member in step —
//! and sends each member a tiny frame message (tick, base, its input ack, the shared
//! bytes); the member's session writes its header and the shared body into one frame
//! (today a copy of the body per member: the per-client-cost issue removes it).
//!
//! A member whose previous frame is still on its way, or whose connection has not taken
//! `limits.max_pending_bytes` yet, is skipped this tick and later gets a delta from its
//! own baseline, or a keyframe when that baseline is older than
//! `sync.max_baseline_age_ticks` or gone from the `sync.history_ticks` ring. A member
//! that takes nothing for `limits.stall_timeout_s` is evicted here, on the tick, where a
//! stalled socket cannot block the check.
//!
//! A room whose game declares positions (a big world) sends Cell updates instead:
//! `room/cells.rs`; the small rooms' fan-out and the checks both share are in
//! `room/fan_out.rs`.
//!
//! Runs on a room arbiter: never blocks, never waits on a session (`try_send` only).

mod cells;
mod fan_out;

use super::link::{ws_frame_len, MemberLink};
pub use super::messages::{
    CloseAll, ClosePlayer, ClosedMember, EncodeSnapshot, Join, JoinRefused, Joined, LeaveRoom, ListMembers, MemberInfo,
    SessionEnded, StopRoom, ToSession,
};
use super::seating::{seat_nonce, RoomId, RoomShared, RoomUid};
use super::world::{
    PlayerDisconnected, PlayerJoin, PlayerLeave, RemoveRoom, ReplaceInputs, SavedGame, TickState, WorldActor,
};
use crate::config::Settings;
use crate::game::{RoomSnapshot, SnapshotPlayer};
use crate::metrics;
use crate::net::SubjectSlot;
use crate::protocol::{
    close_code, codec, Event, GameConstant, PlayerId, PlayerInfo, ProtocolVersion, Schema, ServerMessage, Welcome,
};
use crate::sync::{CellTick, EventLog, FanOut, FanOutRules, Grid, History, InputQueue, Viewer};
use crate::tokens::{unix_now, ResumeClaim, TokenKeys};
use actix::{Actor, ActorContext, Addr, Context, Handler, MessageResult, Recipient};
use bytes::Bytes;
use cells::BigRoom;
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

/// Lifetime of a resume token. Whether a resume succeeds is decided by the room (the
/// player must still be in its grace window); the expiry only bounds a leaked token.
const RESUME_TOKEN_TTL_S: u64 = 24 * 3600;

/// Members of a room restored from a snapshot: all between sessions.
pub struct RestoredMembers {
    /// The snapshot's tick.
    pub tick: u64,
    /// The next player id to hand out.
    pub next_player: PlayerId,
    /// Players, with the input queues the world holds for them.
    pub players: Vec<(SnapshotPlayer, Arc<InputQueue>)>,
}

struct Member {
    name: String,
    session: Option<Recipient<ToSession>>,
    link: Arc<MemberLink>,
    inputs: Arc<InputQueue>,
    /// Events of ticks after this one are owed to the member while it has no baseline.
    joined_tick: u64,
    grace_until: Option<Instant>,
    /// The room incarnation it joined in: a resume must name the same one.
    epoch: u64,
    /// The tick its current session started at (join or resume).
    connected_tick: u64,
    /// The nonce of the last resume token issued to it: only that token resumes. `None`
    /// for a member restored from a cluster snapshot, which does not know the nonces
    /// issued since it was written: the first resume of the right epoch is honoured and
    /// pins the nonce from then on.
    resume_nonce: Option<u64>,
    /// Token subject (admin bans), if known.
    subject: Option<String>,
    /// Client IP of its last session, if known.
    ip: Option<IpAddr>,
    /// Counts it against its subject's `security.max_sessions_per_token` until removed.
    _slot: Option<SubjectSlot>,
    /// In a big room: the cells its client holds.
    viewer: Viewer,
}

impl Member {
    /// Takes the member's session, if it has one (the room sends it nothing more) and
    /// sends it `farewell`. True if a session was attached.
    fn end_session(&mut self, farewell: Option<ToSession>) -> bool {
        let Some(session) = self.session.take() else { return false };
        if let Some(farewell) = farewell {
            session.do_send(farewell);
        }
        true
    }
}

/// What becomes of a player whose session ended (see `RoomActor::end_session`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AfterSession {
    /// It keeps its seat and entity for `room.reconnect_grace_s`, to resume.
    Grace,
    /// It leaves the room for good.
    Remove,
    /// Nothing more: the room is stopping.
    Stay,
}

/// Writes the Welcome to a joining member's connection from the room's thread, before
/// the member is in the room: it then always precedes the member's first tick frame,
/// which this thread writes too.
fn greet(link: &MemberLink, welcome: &Welcome) {
    let bytes = ServerMessage::Welcome(welcome.clone()).encode();
    if link.send_message(&[&bytes]) {
        metrics::bytes_sent(ws_frame_len(bytes.len()));
    }
}

/// A close with `code` and `reason`.
fn close(code: u16, reason: &str) -> ToSession {
    ToSession::Close { code, reason: reason.to_string() }
}

/// What a room tells the directory it belongs to, given to it when it is created (a
/// room holds no pointer to any directory): whether it may stop, once it has been empty
/// long enough, and each snapshot it makes (cluster mode writes them to Redis). Both are
/// called on the room's thread: they must not block.
pub struct RoomHooks {
    /// Removes the room from its directory if no seat is taken; true if it was removed.
    pub dispose_if_unused: Box<dyn Fn(RoomId) -> bool + Send>,
    /// Takes the room's latest snapshot bytes.
    pub save_snapshot: Box<dyn Fn(RoomId, Vec<u8>) + Send>,
}

/// Everything a room is made of.
pub struct RoomParts {
    /// Process-unique id.
    pub id: RoomId,
    /// Cluster-wide id, named by resume tokens.
    pub uid: RoomUid,
    /// This incarnation (the cluster lease's fencing number; 0 on a single node).
    pub epoch: u64,
    /// Name.
    pub name: Arc<str>,
    /// The game's schema.
    pub schema: Arc<Schema>,
    /// The game's constants, for Welcomes of version 2 on.
    pub constants: Arc<Vec<GameConstant>>,
    /// Settings.
    pub settings: Arc<Settings>,
    /// The world running the room's game.
    pub world: Addr<WorldActor>,
    /// Where it reports disposal and snapshots.
    pub hooks: RoomHooks,
    /// Counters shared with the directory.
    pub shared: Arc<RoomShared>,
    /// Signs resume tokens.
    pub keys: TokenKeys,
    /// Members to start with, when the room is restored from a snapshot.
    pub restored: Option<RestoredMembers>,
    /// The grid of a big room (its game declared positions): interest management on.
    pub grid: Option<Grid>,
    /// The threads a big room spreads its ticks over (`server.room_threads` > 1).
    pub cell_pool: Option<Arc<rayon::ThreadPool>>,
}

/// The room actor.
pub struct RoomActor {
    keys: TokenKeys,
    id: RoomId,
    uid: RoomUid,
    epoch: u64,
    name: Arc<str>,
    schema: Arc<Schema>,
    constants: Arc<Vec<GameConstant>>,
    settings: Arc<Settings>,
    world: Addr<WorldActor>,
    hooks: RoomHooks,
    shared: Arc<RoomShared>,
    members: BTreeMap<PlayerId, Member>,
    next_player: PlayerId,
    last_tick: u64,
    history: History,
    events: EventLog,
    empty_since: Option<Instant>,
    /// Some player stayed connected for `room.abandoned_ttl_s` (or the room was
    /// restored: it was played before). Until then an empty room is disposed after
    /// `abandoned_ttl_s`, so rooms opened and left at once do not pile up.
    played: bool,
    fanout: FanOut,
    /// Scratch for each member's update header (reused: no allocation per member).
    header: Vec<u8>,
    /// Interest management, in a room whose game declared positions.
    big: Option<BigRoom>,
}

impl RoomActor {
    /// A room; its game lives in `world`.
    pub fn new(parts: RoomParts) -> Self {
        let RoomParts {
            id,
            uid,
            epoch,
            name,
            schema,
            constants,
            settings,
            world,
            hooks,
            shared,
            keys,
            restored,
            grid,
            cell_pool,
        } = parts;
        let big = grid.map(|grid| BigRoom::new(grid, &settings, cell_pool));
        let history_ticks = settings.sync.history_ticks;
        let fanout = FanOut::new(FanOutRules {
            max_baseline_age_ticks: settings.sync.max_baseline_age_ticks,
            max_pending_events: settings.sync.max_pending_events,
        });
        let played = restored.is_some();
        let (members, next_player, last_tick) = match restored {
            Some(r) => {
                let grace_until = Instant::now() + crate::config::secs(settings.room.reconnect_grace_s);
                let members = r
                    .players
                    .into_iter()
                    .map(|(player, inputs)| {
                        let link = Arc::new(MemberLink::new());
                        let m = Member {
                            name: player.name,
                            session: None,
                            link,
                            inputs,
                            joined_tick: r.tick,
                            grace_until: Some(grace_until),
                            epoch: player.epoch,
                            connected_tick: r.tick,
                            resume_nonce: None,
                            subject: None,
                            ip: None,
                            _slot: None,
                            viewer: Viewer::default(),
                        };
                        (player.id, m)
                    })
                    .collect();
                (members, r.next_player, r.tick)
            }
            None => (BTreeMap::new(), 1, 0),
        };
        RoomActor {
            id,
            uid,
            epoch,
            name,
            schema,
            constants,
            settings,
            world,
            hooks,
            shared,
            keys,
            members,
            next_player,
            last_tick,
            history: History::new(history_ticks),
            events: EventLog::starting_at(last_tick),
            empty_since: None,
            played,
            fanout,
            header: Vec::with_capacity(64),
            big,
        }
    }

    fn welcome(&self, player: PlayerId, epoch: u64, nonce: u64, version: ProtocolVersion) -> Welcome {
        Welcome {
            protocol: version.number(),
            player_id: player,
            room: self.name.to_string(),
            tick_rate_hz: self.settings.tick.rate_hz as u16,
            tick: self.last_tick,
            resume_token: self.keys.mint_resume(
                &ResumeClaim { room_id: self.uid, room: self.name.to_string(), player, epoch, nonce },
                unix_now(),
                RESUME_TOKEN_TTL_S,
            ),
            players: self.members.iter().map(|(id, m)| PlayerInfo { id: *id, name: m.name.clone() }).collect(),
            schema: (*self.schema).clone(),
            constants: if version >= ProtocolVersion::V2 { (*self.constants).clone() } else { Vec::new() },
        }
    }

    /// The one way a member's session ends, whatever ended it: the session is taken
    /// from the member and told `farewell` (a close or an eviction; nothing when the
    /// session itself is going), the `connected` count drops, and then the player waits
    /// in its grace window, is removed for good (its entity and seat), or stays as it is
    /// (the room is stopping).
    fn end_session(&mut self, player: PlayerId, farewell: Option<ToSession>, then: AfterSession) {
        let Some(m) = self.members.get_mut(&player) else { return };
        if m.end_session(farewell) {
            self.shared.connected.fetch_sub(1, Ordering::AcqRel);
            if then == AfterSession::Grace {
                self.world.do_send(PlayerDisconnected { room: self.id, player });
            }
        }
        match then {
            AfterSession::Grace => {
                m.grace_until = Some(Instant::now() + crate::config::secs(self.settings.room.reconnect_grace_s));
            }
            AfterSession::Remove => {
                self.members.remove(&player);
                self.world.do_send(PlayerLeave { room: self.id, player });
                self.shared.seats.fetch_sub(1, Ordering::AcqRel);
            }
            AfterSession::Stay => {}
        }
    }

    /// Removes a player for good, closing its session if it still has one.
    fn remove(&mut self, player: PlayerId) {
        let farewell = close(close_code::NORMAL, "removed from room");
        self.end_session(player, Some(farewell), AfterSession::Remove);
    }

    /// Encodes the tick's events once, for every member and every tick they are owed.
    fn encode_events(events: &[Event]) -> Vec<Bytes> {
        events
            .iter()
            .map(|e| {
                let mut b = Vec::with_capacity(16);
                codec::encode_into(e, &mut b);
                Bytes::from(b)
            })
            .collect()
    }

    /// Hands the directory this tick's snapshot: the game's bytes from the world plus
    /// the room's own counters. `next_player` is read here, after the world computed the
    /// tick, so it is above every id handed out before the snapshot.
    fn save_snapshot(&self, tick: u64, saved: SavedGame) {
        (self.hooks.save_snapshot)(self.id, self.encode_snapshot(tick, saved));
    }

    fn encode_snapshot(&self, tick: u64, saved: SavedGame) -> Vec<u8> {
        let players = saved
            .players
            .into_iter()
            .map(|(id, name)| {
                // A player the world has but the room does not is mid-join: this epoch.
                let epoch = self.members.get(&id).map_or(self.epoch, |m| m.epoch);
                SnapshotPlayer { id, name, epoch }
            })
            .collect();
        let snapshot = RoomSnapshot {
            uid: self.uid,
            name: self.name.to_string(),
            tick,
            next_player: self.next_player,
            players,
            game: saved.game,
        };
        snapshot.encode()
    }

    fn expire_and_dispose(&mut self, ctx: &mut Context<Self>) {
        let now = Instant::now();
        let expired: Vec<PlayerId> = self
            .members
            .iter()
            .filter(|(_, m)| m.session.is_none() && m.grace_until.is_some_and(|t| t <= now))
            .map(|(p, _)| *p)
            .collect();
        for player in expired {
            tracing::debug!(room = %self.name, player, "grace window over");
            self.remove(player);
        }
        if !self.played {
            // Counted in ticks, which the room sees in order with its members' comings
            // and goings (a session that saw this tick's frame ends after it is counted).
            let ticks = (self.settings.room.abandoned_ttl_s * self.settings.tick.rate_hz as f64).ceil() as u64;
            let last_tick = self.last_tick;
            self.played = self
                .members
                .values()
                .any(|m| m.session.is_some() && last_tick.saturating_sub(m.connected_tick) >= ticks);
        }
        if !self.members.is_empty() || self.shared.seats.load(Ordering::Acquire) != 0 {
            self.empty_since = None;
            return;
        }
        let since = *self.empty_since.get_or_insert(now);
        let room = &self.settings.room;
        let ttl = if self.played { room.empty_ttl_s } else { room.abandoned_ttl_s.min(room.empty_ttl_s) };
        if now.duration_since(since) >= crate::config::secs(ttl) {
            let disposed = (self.hooks.dispose_if_unused)(self.id);
            if disposed {
                self.world.do_send(RemoveRoom { id: self.id });
                ctx.stop();
            }
        }
    }
}

impl Actor for RoomActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(1024);
        metrics::room_opened();
    }

    fn stopped(&mut self, _: &mut Self::Context) {
        metrics::room_closed();
    }
}

impl Handler<TickState> for RoomActor {
    type Result = ();
    fn handle(&mut self, mut msg: TickState, ctx: &mut Context<Self>) {
        if let Some(saved) = msg.saved.take() {
            self.save_snapshot(msg.tick, saved);
        }
        self.last_tick = msg.tick;
        self.shared.tick.store(msg.tick, Ordering::Release);
        let events = Self::encode_events(&msg.events);
        let max_pending = self.settings.sync.max_pending_events;
        match &mut self.big {
            Some(big) => {
                // The room part (room-wide entities and events) keeps the small rooms'
                // baselines and event log; the cells have their own history.
                let max_per_cell = self.settings.sync.max_events_per_tick;
                let (split, wide) = CellTick::split(&msg.state, big.grid(), &events, &msg.placed, max_per_cell);
                for _ in 0..wide.refused {
                    metrics::event_refused();
                }
                self.events.record(msg.tick, wide.events, max_pending);
                self.history.push(msg.tick, Arc::new(split.room.clone()));
                big.push(msg.tick, split);
                self.fan_out_cells(&msg);
            }
            None => {
                self.events.record(msg.tick, events, max_pending);
                self.history.push(msg.tick, msg.state.clone());
                self.fan_out(&msg);
            }
        }
        self.expire_and_dispose(ctx);
    }
}

impl Handler<Join> for RoomActor {
    type Result = MessageResult<Join>;
    fn handle(&mut self, msg: Join, _: &mut Context<Self>) -> Self::Result {
        if self.big.is_some() && msg.version < ProtocolVersion::V3 {
            return MessageResult(Err(JoinRefused {
                code: close_code::UPGRADE_REQUIRED,
                reason: "this room needs protocol version 3 (tickcast.v3)".into(),
            }));
        }
        let inputs = Arc::new(InputQueue::new(self.settings.limits.input_queue, 0));
        if let Some(claim) = msg.resume {
            let player = claim.player;
            // Same id, other epoch: the id was handed out again after a restore (its old
            // holder joined after the snapshot the room came back from).
            let Some(m) = self.members.get_mut(&player).filter(|m| m.epoch == claim.epoch) else {
                return MessageResult(Err(JoinRefused {
                    code: close_code::UNAUTHORIZED,
                    reason: "resume refused: player no longer in room".into(),
                }));
            };
            // Every resume token but the newest is dead: a token that leaked, or one a
            // resume already used, cannot take the player from its current holder.
            if m.resume_nonce.is_some_and(|n| n != claim.nonce) {
                return MessageResult(Err(JoinRefused {
                    code: close_code::UNAUTHORIZED,
                    reason: "resume refused: token replaced by a newer one".into(),
                }));
            }
            let nonce = seat_nonce();
            m.resume_nonce = Some(nonce);
            if msg.ip.is_some() {
                m.ip = msg.ip;
            }
            // The new session replaces the old one in the `connected` count.
            if !m.end_session(Some(close(close_code::REPLACED, "resumed elsewhere"))) {
                self.shared.connected.fetch_add(1, Ordering::AcqRel);
            }
            let welcome = self.welcome(player, claim.epoch, nonce, msg.version);
            greet(&msg.link, &welcome);
            let m = self.members.get_mut(&player).expect("resumed member is present");
            m.session = Some(msg.session);
            m.link = msg.link;
            m.inputs = inputs.clone();
            m.grace_until = None;
            // The new connection's client holds no cell yet.
            m.viewer.reset();
            m.joined_tick = self.last_tick;
            m.connected_tick = self.last_tick;
            self.world.do_send(ReplaceInputs { room: self.id, player, inputs: inputs.clone() });
            return MessageResult(Ok(Joined { player, inputs, schema: self.schema.clone() }));
        }
        let Some(seat) = msg.seat else {
            return MessageResult(Err(JoinRefused { code: close_code::INTERNAL, reason: "no seat reserved".into() }));
        };
        seat.commit();
        let player = self.next_player;
        self.next_player += 1;
        self.world.do_send(PlayerJoin { room: self.id, player, name: msg.name.clone(), inputs: inputs.clone() });
        let nonce = seat_nonce();
        let welcome = self.welcome(player, self.epoch, nonce, msg.version);
        greet(&msg.link, &welcome);
        self.members.insert(
            player,
            Member {
                name: msg.name,
                session: Some(msg.session),
                link: msg.link,
                inputs: inputs.clone(),
                joined_tick: self.last_tick,
                grace_until: None,
                epoch: self.epoch,
                connected_tick: self.last_tick,
                resume_nonce: Some(nonce),
                subject: msg.subject,
                ip: msg.ip,
                _slot: msg.slot,
                viewer: Viewer::default(),
            },
        );
        self.shared.connected.fetch_add(1, Ordering::AcqRel);
        self.empty_since = None;
        MessageResult(Ok(Joined { player, inputs, schema: self.schema.clone() }))
    }
}

impl Handler<SessionEnded> for RoomActor {
    type Result = ();
    fn handle(&mut self, msg: SessionEnded, _: &mut Context<Self>) {
        let Some(m) = self.members.get_mut(&msg.player) else { return };
        if !Arc::ptr_eq(&m.link, &msg.link) {
            return; // a newer session owns the player (resume) or it was evicted already
        }
        let then = if msg.left || self.settings.room.reconnect_grace_s <= 0.0 {
            AfterSession::Remove
        } else {
            AfterSession::Grace
        };
        self.end_session(msg.player, None, then);
    }
}

impl Handler<LeaveRoom> for RoomActor {
    type Result = ();
    fn handle(&mut self, msg: LeaveRoom, _: &mut Context<Self>) {
        let Some(m) = self.members.get_mut(&msg.player) else { return };
        if !Arc::ptr_eq(&m.link, &msg.link) {
            return; // a resume took the player over before the Leave arrived: it stays
        }
        // The session closes itself with 1000 "left" once answered: it is told nothing.
        self.end_session(msg.player, None, AfterSession::Remove);
    }
}

impl Handler<ClosePlayer> for RoomActor {
    type Result = Option<ClosedMember>;
    fn handle(&mut self, msg: ClosePlayer, _: &mut Context<Self>) -> Option<ClosedMember> {
        let m = self.members.get(&msg.player)?;
        let closed = ClosedMember { name: m.name.clone(), subject: m.subject.clone(), ip: m.ip };
        let then = if msg.remove { AfterSession::Remove } else { AfterSession::Grace };
        self.end_session(msg.player, Some(close(msg.code, &msg.reason)), then);
        Some(closed)
    }
}

impl Handler<ListMembers> for RoomActor {
    type Result = MessageResult<ListMembers>;
    fn handle(&mut self, _: ListMembers, _: &mut Context<Self>) -> Self::Result {
        MessageResult(
            self.members
                .iter()
                .map(|(id, m)| {
                    let s = m.link.stats();
                    MemberInfo {
                        player: *id,
                        name: m.name.clone(),
                        connected: m.session.is_some(),
                        baseline: s.baseline,
                        pending_bytes: s.pending_bytes,
                        skipped_ticks: s.skipped_ticks,
                        rtt_us: s.rtt_us,
                    }
                })
                .collect(),
        )
    }
}

impl Handler<CloseAll> for RoomActor {
    type Result = ();
    fn handle(&mut self, msg: CloseAll, _: &mut Context<Self>) {
        for m in self.members.values() {
            if let Some(s) = &m.session {
                s.do_send(ToSession::Close { code: msg.code, reason: msg.reason.clone() });
            }
        }
    }
}

impl Handler<StopRoom> for RoomActor {
    type Result = ();
    fn handle(&mut self, msg: StopRoom, ctx: &mut Context<Self>) {
        let players: Vec<PlayerId> = self.members.keys().copied().collect();
        for player in players {
            self.end_session(player, Some(close(msg.code, &msg.reason)), AfterSession::Stay);
        }
        self.world.do_send(RemoveRoom { id: self.id });
        ctx.stop();
    }
}

impl Handler<EncodeSnapshot> for RoomActor {
    type Result = Vec<u8>;
    fn handle(&mut self, msg: EncodeSnapshot, _: &mut Context<Self>) -> Vec<u8> {
        self.encode_snapshot(msg.tick, msg.saved)
    }
}

//! The world actor: owns every room's game and runs the fixed tick.
//!
//! Each tick, for every room, in this order: apply at most one queued input per player
//! (oldest first), step the game by the fixed `dt`, write its replicated state, and hand
//! the room its new state with the tick's events and each player's last applied input.
//! Encoding and fan-out happen in the room actors, on other threads.
//!
//! The scheduler runs on absolute deadlines: tick `n` is due at `start + n·period`, so it
//! never drifts. A late tick is measured (lateness); a tick that starts more than a period
//! late is counted as an overrun and run at once — ticks are never skipped.
//!
//! Runs on its own arbiter (thread): it never blocks, never does I/O, never waits.

use super::seating::RoomId;
use crate::game::{Game, StepContext};
use crate::metrics;
use crate::protocol::{Event, PlayerId};
use crate::sync::{EntityState, InputQueue};
use actix::{Actor, ActorContext, AsyncContext, Context, Handler, Message, Recipient};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Adds a room and its game: a fresh one, or one restored from a snapshot.
#[derive(Message)]
#[rtype(result = "()")]
pub struct AddRoom {
    /// The room's id.
    pub id: RoomId,
    /// Its game.
    pub game: Box<dyn Game>,
    /// Its actor, which receives each tick's state.
    pub room: Recipient<TickState>,
    /// The tick the room continues from (0 for a new room).
    pub tick: u64,
    /// Players already in a restored game (not joined again; told they are disconnected).
    pub players: Vec<(PlayerId, String, Arc<InputQueue>)>,
    /// Save the whole game every this many ticks (cluster mode).
    pub snapshot_every_ticks: Option<u64>,
}

/// A game's saved state and its players, for a room snapshot (see [`Game::save`]).
#[derive(Debug)]
pub struct SavedGame {
    /// The players in the game, with their names.
    pub players: Vec<(PlayerId, String)>,
    /// [`Game::save`]'s bytes.
    pub game: Vec<u8>,
}

/// Drops a disposed room's game.
#[derive(Message)]
#[rtype(result = "()")]
pub struct RemoveRoom {
    /// The room's id.
    pub id: RoomId,
}

/// A player enters a room's game (a Joined event follows in the next tick).
#[derive(Message)]
#[rtype(result = "()")]
pub struct PlayerJoin {
    /// The room.
    pub room: RoomId,
    /// The player.
    pub player: PlayerId,
    /// Its display name.
    pub name: String,
    /// Its input queue, shared with its session.
    pub inputs: Arc<InputQueue>,
}

/// A player leaves a room's game for good.
#[derive(Message)]
#[rtype(result = "()")]
pub struct PlayerLeave {
    /// The room.
    pub room: RoomId,
    /// The player.
    pub player: PlayerId,
}

/// A player's connection dropped (it is in its reconnect grace window).
#[derive(Message)]
#[rtype(result = "()")]
pub struct PlayerDisconnected {
    /// The room.
    pub room: RoomId,
    /// The player.
    pub player: PlayerId,
}

/// A player (resumed) gets a new input queue.
#[derive(Message)]
#[rtype(result = "()")]
pub struct ReplaceInputs {
    /// The room.
    pub room: RoomId,
    /// The player.
    pub player: PlayerId,
    /// The new queue.
    pub inputs: Arc<InputQueue>,
}

/// A chat line for a room (refused when the tick's event budget is spent).
#[derive(Message)]
#[rtype(result = "()")]
pub struct ChatLine {
    /// The room.
    pub room: RoomId,
    /// Who said it.
    pub player: PlayerId,
    /// What was said.
    pub text: String,
}

/// Takes a room out of the world for a hand-off to another node (polite shutdown in
/// cluster mode): its game is saved at its last tick and stops ticking here. Answers the
/// tick and the saved game, or `None` if the room is unknown or its game cannot save.
#[derive(Message)]
#[rtype(result = "Option<(u64, SavedGame)>")]
pub struct HandOffRoom {
    /// The room.
    pub id: RoomId,
}

/// Asks the world to stop ticking (shutdown).
#[derive(Message)]
#[rtype(result = "()")]
pub struct StopWorld;

struct WorldPlayer {
    name: String,
    inputs: Arc<InputQueue>,
    last_applied: u32,
}

struct WorldRoom {
    game: Box<dyn Game>,
    room: Recipient<TickState>,
    tick: u64,
    players: BTreeMap<PlayerId, WorldPlayer>,
    events: Vec<Event>,
    state_capacity: (usize, usize),
    snapshot_every_ticks: Option<u64>,
}

/// One tick's result for a room, from the world (the world does not know the room
/// actor, only this message's recipient).
#[derive(Message)]
#[rtype(result = "()")]
pub struct TickState {
    /// The room's tick.
    pub tick: u64,
    /// The replicated state after the tick.
    pub state: Arc<EntityState>,
    /// Last applied input sequence per player, sorted by player id.
    pub acks: Vec<(PlayerId, u32)>,
    /// The tick's events, in order.
    pub events: Vec<Event>,
    /// Server wall clock (µs since the Unix epoch) when the tick was computed.
    pub server_time_us: u64,
    /// The whole game state after this tick, every `cluster.snapshot_interval_s` in
    /// cluster mode.
    pub saved: Option<SavedGame>,
}

/// The world actor.
pub struct WorldActor {
    rate_hz: u32,
    period: Duration,
    max_events_per_tick: usize,
    rooms: HashMap<RoomId, WorldRoom>,
    start: Instant,
    ticks_run: u64,
}

impl WorldActor {
    /// A world ticking at `rate_hz`.
    pub fn new(rate_hz: u32, max_events_per_tick: usize) -> Self {
        WorldActor {
            rate_hz,
            period: Duration::from_secs_f64(1.0 / rate_hz as f64),
            max_events_per_tick,
            rooms: HashMap::new(),
            start: Instant::now(),
            ticks_run: 0,
        }
    }

    fn deadline(&self, n: u64) -> Instant {
        self.start + self.period.mul_f64(n as f64)
    }

    fn schedule_next(&mut self, ctx: &mut Context<Self>) {
        let due = self.deadline(self.ticks_run + 1);
        let delay = due.saturating_duration_since(Instant::now());
        ctx.run_later(delay, |world, ctx| world.on_tick(ctx));
    }

    fn on_tick(&mut self, ctx: &mut Context<Self>) {
        let due = self.deadline(self.ticks_run + 1);
        let began = Instant::now();
        let lateness = began.saturating_duration_since(due);
        metrics::tick_lateness(lateness);
        if lateness > self.period {
            metrics::tick_overrun();
        }
        self.ticks_run += 1;
        self.tick_rooms();
        metrics::tick_duration(began.elapsed());
        self.schedule_next(ctx);
    }

    fn tick_rooms(&mut self) {
        let server_time_us = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0);
        for room in self.rooms.values_mut() {
            room.tick += 1;
            let mut acks = Vec::with_capacity(room.players.len());
            for (id, player) in room.players.iter_mut() {
                if let Some((seq, values)) = player.inputs.pop() {
                    room.game.apply_input(*id, &values);
                    player.last_applied = seq;
                    metrics::input_applied();
                }
                acks.push((*id, player.last_applied));
            }
            let mut events = std::mem::take(&mut room.events);
            room.game.step(&mut StepContext::new(room.tick, self.rate_hz, &mut events));
            let mut state = EntityState::with_capacity(room.state_capacity.0, room.state_capacity.1);
            room.game.write_state(&mut state);
            state.finish();
            room.state_capacity = state.capacity();
            let saved = match room.snapshot_every_ticks {
                // Games are small (a few KiB); saving one every few seconds per room is a
                // copy, not slow work, and must happen here where the game lives.
                Some(every) if room.tick % every == 0 => room.game.save().map(|game| SavedGame {
                    players: room.players.iter().map(|(id, p)| (*id, p.name.clone())).collect(),
                    game,
                }),
                _ => None,
            };
            let msg = TickState { tick: room.tick, state: Arc::new(state), acks, events, server_time_us, saved };
            if room.room.try_send(msg).is_err() {
                // The room is behind or gone: count it; its members get a baseline delta
                // (or a keyframe) on a later tick, never a broken chain.
                metrics::room_backlog();
            }
        }
    }

    fn room_events(&mut self, room: RoomId) -> Option<&mut Vec<Event>> {
        self.rooms.get_mut(&room).map(|r| &mut r.events)
    }
}

impl Actor for WorldActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        // Every sender (HTTP workers, rooms) uses do_send for these few control messages;
        // inputs do not come through the mailbox at all (see sync::InputQueue).
        ctx.set_mailbox_capacity(4096);
        self.start = Instant::now();
        self.schedule_next(ctx);
    }
}

impl Handler<AddRoom> for WorldActor {
    type Result = ();
    fn handle(&mut self, msg: AddRoom, _: &mut Context<Self>) {
        let mut game = msg.game;
        let mut players = BTreeMap::new();
        for (id, name, inputs) in msg.players {
            game.disconnected(id);
            players.insert(id, WorldPlayer { name, inputs, last_applied: 0 });
        }
        self.rooms.insert(
            msg.id,
            WorldRoom {
                game,
                room: msg.room,
                tick: msg.tick,
                players,
                events: Vec::new(),
                state_capacity: (0, 0),
                snapshot_every_ticks: msg.snapshot_every_ticks,
            },
        );
    }
}

impl Handler<RemoveRoom> for WorldActor {
    type Result = ();
    fn handle(&mut self, msg: RemoveRoom, _: &mut Context<Self>) {
        self.rooms.remove(&msg.id);
    }
}

impl Handler<PlayerJoin> for WorldActor {
    type Result = ();
    fn handle(&mut self, msg: PlayerJoin, _: &mut Context<Self>) {
        if let Some(room) = self.rooms.get_mut(&msg.room) {
            room.game.join(msg.player, &msg.name);
            room.players
                .insert(msg.player, WorldPlayer { name: msg.name.clone(), inputs: msg.inputs, last_applied: 0 });
            room.events.push(Event::Joined { player: msg.player, name: msg.name });
        }
    }
}

impl Handler<PlayerLeave> for WorldActor {
    type Result = ();
    fn handle(&mut self, msg: PlayerLeave, _: &mut Context<Self>) {
        if let Some(room) = self.rooms.get_mut(&msg.room) {
            if room.players.remove(&msg.player).is_some() {
                room.game.leave(msg.player);
                room.events.push(Event::Left { player: msg.player });
            }
        }
    }
}

impl Handler<ReplaceInputs> for WorldActor {
    type Result = ();
    fn handle(&mut self, msg: ReplaceInputs, _: &mut Context<Self>) {
        if let Some(p) = self.rooms.get_mut(&msg.room).and_then(|r| r.players.get_mut(&msg.player)) {
            // The new queue accepts sequence numbers from 1 again, so the ack restarts too.
            p.inputs = msg.inputs;
            p.last_applied = 0;
        }
    }
}

impl Handler<PlayerDisconnected> for WorldActor {
    type Result = ();
    fn handle(&mut self, msg: PlayerDisconnected, _: &mut Context<Self>) {
        if let Some(room) = self.rooms.get_mut(&msg.room) {
            if room.players.contains_key(&msg.player) {
                room.game.disconnected(msg.player);
            }
        }
    }
}

impl Handler<ChatLine> for WorldActor {
    type Result = ();
    fn handle(&mut self, msg: ChatLine, _: &mut Context<Self>) {
        let max = self.max_events_per_tick;
        if let Some(events) = self.room_events(msg.room) {
            if events.len() < max {
                events.push(Event::Chat { player: msg.player, text: msg.text });
            } else {
                metrics::event_refused();
            }
        }
    }
}

impl Handler<HandOffRoom> for WorldActor {
    type Result = Option<(u64, SavedGame)>;
    fn handle(&mut self, msg: HandOffRoom, _: &mut Context<Self>) -> Self::Result {
        let room = self.rooms.remove(&msg.id)?;
        let game = room.game.save()?;
        let players = room.players.iter().map(|(id, p)| (*id, p.name.clone())).collect();
        Some((room.tick, SavedGame { players, game }))
    }
}

impl Handler<StopWorld> for WorldActor {
    type Result = ();
    fn handle(&mut self, _: StopWorld, ctx: &mut Context<Self>) {
        ctx.stop();
    }
}

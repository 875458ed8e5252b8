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

pub use super::messages::{
    AddRoom, ChatLine, HandOffRoom, PlayerDisconnected, PlayerJoin, PlayerLeave, RemoveRoom, ReplaceInputs, SavedGame,
    StopWorld, TickState,
};
use super::seating::RoomId;
use crate::game::{Game, StepContext};
use crate::metrics;
use crate::protocol::{Event, PlayerId};
use crate::sync::{EntityState, InputQueue};
use actix::{Actor, ActorContext, AsyncContext, Context, Handler, Recipient};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
    /// The game declared positions ([`Game::interest`]): the room needs views and
    /// where events happened.
    interest: bool,
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
            let mut applied = 0;
            for (id, player) in room.players.iter_mut() {
                if let Some((seq, values)) = player.inputs.pop() {
                    room.game.apply_input(*id, &values);
                    player.last_applied = seq;
                    applied += 1;
                }
                acks.push((*id, player.last_applied));
            }
            metrics::inputs_applied(applied);
            let mut events = std::mem::take(&mut room.events);
            let mut placed = Vec::new();
            let mut views = Vec::new();
            if room.interest {
                room.game.step(&mut StepContext::with_places(room.tick, self.rate_hz, &mut events, &mut placed));
                views.extend(room.players.keys().map(|id| (*id, room.game.view(*id))));
            } else {
                room.game.step(&mut StepContext::new(room.tick, self.rate_hz, &mut events));
            }
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
            let msg = TickState {
                tick: room.tick,
                state: Arc::new(state),
                acks,
                events,
                placed,
                views,
                server_time_us,
                saved,
                computed_at: Instant::now(),
            };
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
        let interest = game.interest().is_some();
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
                interest,
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

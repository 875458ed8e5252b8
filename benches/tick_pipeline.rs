//! The tick pipeline in process, without sockets: what one tick costs the server before
//! the kernel sees a byte.
//!
//! - `world_step/N`: the world's work for one room of N moving players — apply one input
//!   each, step the arena, write its state into a fresh `EntityState` (as the world does).
//! - `delta_encode/N`: the room's once-per-tick work — events section, delta, shared body.
//! - `fan_out/M`: one tick's fan-out to M members in step, through the room's own rules
//!   (`sync::FanOut`: the shared body encoded once, then per member the link checks and
//!   the decision) and the session's Frame handler (ack lookup, the frame message, header
//!   encode and frame assembly). Not included: the actix mailbox hop, the actix-ws
//!   channel, the HTTP encoder and the `write` itself (see docs/BENCHMARKS.md).
//! - `input_decode` / `input_accept`: one client Input decoded; decoded, range-checked
//!   and queued for the world, then taken by it.
//! - `room_tick/50`: all of the above for one room of 50 (arena-20's room).
//!
//! Before the benches it prints the bytes one tick costs per moving entity.
//!
//! ```text
//! cargo bench --bench tick_pipeline
//! cargo bench --bench tick_pipeline -- --warm-up-time 1 --measurement-time 3 fan_out
//! ```

use criterion::{BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::sync::Arc;
use tickcast::actors::link::{ws_frame_len, MemberLink};
use tickcast::config::Settings;
use tickcast::game::arena::{Arena, ArenaConfig, POSITION_SCALE};
use tickcast::game::{Game, StepContext};
use tickcast::net::ws::{Outbound, Sent};
use tickcast::protocol::{write_update_header, ClientMessage, Schema, UpdateHeader, MAX_INPUT_FIELDS};
use tickcast::sync::{
    encode_delta, Decision, EntityState, EventLog, FanOut, FanOutRules, History, InputQueue, InputValues, MemberView,
};

/// arena-20's tick rate.
const RATE_HZ: u32 = 20;

/// An arena with `players` players, each walking towards the centre so that every one
/// moves on every tick (a player pressed against a wall would not).
fn arena(players: u32) -> Arena {
    let mut a = Arena::new(ArenaConfig::default(), 7);
    for p in 1..=players {
        a.join(p, "bench");
    }
    a
}

fn towards_centre(a: &Arena, p: u32) -> [i32; 3] {
    let mid = ArenaConfig::default().size * POSITION_SCALE as i32 / 2;
    let (x, y, _) = a.player(p).expect("player");
    [if x < mid { 1 } else { -1 }, if y < mid { 1 } else { -1 }, 0]
}

/// One world tick for one room, as `WorldActor::tick_rooms` does it.
fn world_tick(a: &mut Arena, players: u32, tick: u64, capacity: (usize, usize)) -> Arc<EntityState> {
    for p in 1..=players {
        let input = towards_centre(a, p);
        a.apply_input(p, &input);
    }
    let mut events = Vec::new();
    a.step(&mut StepContext::new(tick, RATE_HZ, &mut events));
    let mut state = EntityState::with_capacity(capacity.0, capacity.1);
    a.write_state(&mut state);
    state.finish();
    Arc::new(state)
}

/// Two consecutive states of a room of `players` moving players.
fn two_states(players: u32) -> (Arc<EntityState>, Arc<EntityState>) {
    let mut a = arena(players);
    let s1 = world_tick(&mut a, players, 1, (0, 0));
    let s2 = world_tick(&mut a, players, 2, (0, 0));
    (s1, s2)
}

/// The fan-out rules with the default settings.
fn rules(settings: &Settings) -> FanOutRules {
    FanOutRules {
        max_baseline_age_ticks: settings.sync.max_baseline_age_ticks,
        max_pending_events: settings.sync.max_pending_events,
    }
}

fn print_wire_sizes() {
    println!("bytes per tick of an arena room whose players all move (20 orbs, no events):");
    println!(
        "{:>8} {:>8} {:>12} {:>12} {:>14} {:>14}",
        "players", "moving", "state B", "frame B", "state B/mover", "frame B/mover"
    );
    for players in [10u32, 50, 200] {
        let (s1, s2) = two_states(players);
        let mut body = Vec::new();
        let stats = encode_delta(&s1, &s2, &[0], &mut Default::default(), &mut body);
        let header = UpdateHeader { tick: 1_000_000, base_tick: 999_999, ack_input: 100_000, server_time_us: u64::MAX };
        let mut h = Vec::new();
        write_update_header(&mut h, true, &header);
        let frame = ws_frame_len(h.len() + body.len());
        let moving = stats.changed.max(1);
        println!(
            "{players:>8} {:>8} {:>12} {:>12} {:>14.2} {:>14.2}",
            stats.changed,
            stats.state_bytes,
            frame,
            stats.state_bytes as f64 / moving as f64,
            frame as f64 / moving as f64
        );
    }
    println!("(frame: WebSocket header + the largest update header + body; the header grows with tick numbers)\n");
}

fn world_step(c: &mut Criterion) {
    let mut g = c.benchmark_group("world_step");
    for players in [10u32, 50, 200] {
        g.throughput(Throughput::Elements(players as u64));
        g.bench_with_input(BenchmarkId::from_parameter(players), &players, |b, &players| {
            let mut a = arena(players);
            let mut tick = 0;
            let mut capacity = (0, 0);
            b.iter(|| {
                tick += 1;
                let state = world_tick(&mut a, players, tick, capacity);
                capacity = (state.len(), state.len() * 3);
                state
            });
        });
    }
    g.finish();
}

fn delta_encode(c: &mut Criterion) {
    let mut g = c.benchmark_group("delta_encode");
    for players in [10u32, 50, 200] {
        let (s1, s2) = two_states(players);
        let mut history = History::new(4);
        history.push(1, s1);
        history.push(2, s2.clone());
        let events = EventLog::default();
        let in_step = MemberView { baseline: 1, joined_tick: 0, can_take: true, stalled: false };
        g.throughput(Throughput::Elements(players as u64));
        g.bench_with_input(BenchmarkId::from_parameter(players), &players, |b, _| {
            // The room's body for members in step, as its fan-out encodes it once a tick.
            let mut fanout = FanOut::new(rules(&Settings::defaults()));
            b.iter(|| {
                fanout.begin_tick();
                fanout.decide(black_box(&in_step), 2, black_box(&s2), &history, &events)
            });
        });
    }
    g.finish();
}

/// The room side and the session side of one tick for `links`, all in step.
struct Room {
    links: Vec<Arc<MemberLink>>,
    acks: Vec<(u32, u32)>,
    history: History,
    events: EventLog,
    fanout: FanOut,
    state: Arc<EntityState>,
    /// The other of two consecutive states: `fan_out/M` alternates them, so every tick's
    /// body is a real delta of 50 moving players.
    other: Arc<EntityState>,
    tick: u64,
    settings: Settings,
    header: Vec<u8>,
}

impl Room {
    fn new(members: usize) -> Self {
        let (s1, s2) = two_states(50);
        let settings = Settings::defaults();
        let mut history = History::new(settings.sync.history_ticks);
        let tick = 1000;
        history.push(tick, s2.clone());
        let links: Vec<Arc<MemberLink>> =
            (0..members).map(|_| Arc::new(MemberLink::over(Arc::new(Discard), None))).collect();
        for l in &links {
            l.send_tick(tick, &[&[0; 100]]);
        }
        let acks = (1..=members as u32).map(|p| (p, p * 7)).collect();
        let fanout = FanOut::new(rules(&settings));
        let header = Vec::with_capacity(64);
        Room { links, acks, history, events: EventLog::default(), fanout, state: s2, other: s1, tick, settings, header }
    }

    fn tick(&mut self) {
        self.tick += 1;
        self.history.push(self.tick, self.state.clone());
        let stall_ms = (self.settings.limits.stall_timeout_s * 1000.0) as u64;
        let max_pending = self.settings.limits.max_pending_bytes as u64;
        let now = tickcast::actors::link::now_ms();
        let server_time_us = 1_764_000_000_000_000 + self.tick * 50_000;
        self.fanout.begin_tick();
        for (i, link) in self.links.iter().enumerate() {
            let player = i as u32 + 1;
            // Room side (RoomActor::fan_out).
            let view = MemberView {
                baseline: link.baseline(),
                joined_tick: 0,
                can_take: link.can_take(max_pending),
                stalled: link.stalled(now, stall_ms),
            };
            let Decision::Send { base_tick, body } =
                self.fanout.decide(&view, self.tick, &self.state, &self.history, &self.events)
            else {
                continue;
            };
            let ack = self.acks.binary_search_by_key(&player, |(p, _)| *p).map(|i| self.acks[i].1).unwrap_or(0);
            let header = UpdateHeader { tick: self.tick, base_tick, ack_input: ack, server_time_us };
            self.header.clear();
            write_update_header(&mut self.header, base_tick != 0, &header);
            link.send_tick(self.tick, &[&self.header, &body]);
        }
    }
}

/// A connection that takes every frame at once (the socket write is what the
/// `fan_out_sockets` bench measures).
struct Discard;

impl Outbound for Discard {
    fn send_message(&self, parts: &[&[u8]]) -> Sent {
        black_box(parts);
        Sent::Written
    }
    fn send_probe(&self, payload: &[u8]) -> Sent {
        black_box(payload);
        Sent::Written
    }
    fn pending_bytes(&self) -> usize {
        0
    }
    fn last_progress_ms(&self) -> u64 {
        0
    }
}

fn fan_out(c: &mut Criterion) {
    let mut g = c.benchmark_group("fan_out");
    for members in [10usize, 100, 1000] {
        g.throughput(Throughput::Elements(members as u64));
        g.bench_with_input(BenchmarkId::from_parameter(members), &members, |b, &members| {
            let mut room = Room::new(members);
            b.iter(|| {
                std::mem::swap(&mut room.state, &mut room.other);
                room.tick()
            });
        });
    }
    g.finish();
}

fn input_decode(c: &mut Criterion) {
    let bytes = ClientMessage::Input { seq: 123_456, values: vec![1, -1, 0] }.encode();
    let schema: Schema = arena(0).schema();
    c.bench_function("input_decode", |b| b.iter(|| ClientMessage::decode(black_box(&bytes), 1024)));
    // What the session does with an input: the allocation-free decode, the range check,
    // the queue push, and the world's pop.
    c.bench_function("input_accept", |b| {
        let queue = InputQueue::new(8, 0);
        let mut seq = 0;
        b.iter(|| {
            let mut values = [0; MAX_INPUT_FIELDS];
            let (_, n) = ClientMessage::decode_input(black_box(&bytes), &mut values).expect("an input");
            schema.check_input(&values[..n]).expect("valid input");
            seq += 1;
            queue.push(seq, InputValues::new(&values[..n]).expect("fits"));
            queue.pop()
        })
    });
}

fn room_tick(c: &mut Criterion) {
    let players = 50u32;
    c.bench_function("room_tick/50", |b| {
        let mut a = arena(players);
        let mut room = Room::new(players as usize);
        let mut previous = world_tick(&mut a, players, 1, (0, 0));
        let mut tick = 1;
        b.iter(|| {
            tick += 1;
            let state = world_tick(&mut a, players, tick, (previous.len(), previous.len() * 3));
            room.state = state.clone();
            room.tick();
            previous = state;
        });
    });
}

fn main() {
    print_wire_sizes();
    let mut c = Criterion::default().configure_from_args();
    world_step(&mut c);
    delta_encode(&mut c);
    fan_out(&mut c);
    input_decode(&mut c);
    room_tick(&mut c);
    c.final_summary();
}

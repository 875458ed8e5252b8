//! One tick of a big room in process, without sockets: what interest management costs
//! the room's threads for field-1000 (1,000 players, about 50 in each view), and how it
//! spreads over threads.
//!
//! - `big_tick/threads/N`: the world's state written (a few µs, on one thread, as the
//!   world does), then the room's work: split the state by cell, update every member's
//!   view, encode every cell body once per (cell, base) and write every member's Cell
//!   update (into a sink that only counts), on a pool of N threads (1: inline, no pool).
//!   The target (docs/BENCHMARKS.md): 2 threads ≤ 0.6 × the time of 1.
//!
//! The world is the arena's field preset in shape: a square map of `MAP` units (×10
//! quanta), players walking straight and turning at the walls, orbs standing still,
//! cells of `CELL` units, views of `VIEW` units around each player.
//!
//! ```text
//! cargo bench --bench big_world
//! cargo bench --bench big_world -- --warm-up-time 1 --measurement-time 3
//! ```

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tickcast::game::{SplitMix64, View};
use tickcast::protocol::UpdateHeader;
use tickcast::sync::{
    CellFanOut, CellHistory, CellRules, CellTick, EntityState, FrameJob, FrameSink, Grid, SectionCounts, Viewer,
};

/// Map side, arena units.
const MAP: i32 = 3600;
/// Quanta per unit, as the arena's positions.
const SCALE: i32 = 10;
/// Cell side, arena units (`interest.cell_size`).
const CELL: i64 = 200;
/// View half-side, arena units: (2 × 400)² / 3600² ≈ 1/20 of the map, so about 50 of
/// 1,000 players.
const VIEW: i32 = 400;
/// Players.
const PLAYERS: u32 = 1000;
/// The `field` preset's orbs (config.yaml, `game.arena.presets.field.orbs`).
const ORBS: u32 = 600;
/// Player step per tick in quanta (200 units/s at 20 Hz).
const STEP: i32 = 100;

struct Field {
    players: Vec<[i32; 4]>,
    orbs: Vec<[i32; 2]>,
}

impl Field {
    fn new() -> Self {
        let mut rng = SplitMix64::new(5);
        let q = MAP * SCALE;
        let dir = |rng: &mut SplitMix64| if rng.range(0, 2) == 0 { -STEP } else { STEP };
        let players = (0..PLAYERS).map(|_| [rng.range(0, q), rng.range(0, q), dir(&mut rng), dir(&mut rng)]).collect();
        let orbs = (0..ORBS).map(|_| [rng.range(0, q), rng.range(0, q)]).collect();
        Field { players, orbs }
    }

    fn step(&mut self) -> EntityState {
        let q = MAP * SCALE;
        for p in &mut self.players {
            for axis in 0..2 {
                let next = p[axis] + p[axis + 2];
                if !(0..q).contains(&next) {
                    p[axis + 2] = -p[axis + 2];
                }
                p[axis] = (p[axis] + p[axis + 2]).clamp(0, q - 1);
            }
        }
        let mut s = EntityState::with_capacity((PLAYERS + ORBS) as usize, (PLAYERS * 3 + ORBS * 2) as usize);
        for (i, p) in self.players.iter().enumerate() {
            s.push(i as u32 + 1, 0, &[p[0], p[1], 0]);
        }
        for (i, o) in self.orbs.iter().enumerate() {
            s.push((1 << 24) + i as u32, 1, o);
        }
        s
    }
}

/// Counts the bytes it is handed.
struct Counter(Arc<AtomicUsize>);

impl FrameSink for Counter {
    fn send(&self, _: u64, frame: &[u8]) -> bool {
        self.0.fetch_add(frame.len(), Ordering::Relaxed);
        true
    }
}

struct Room {
    field: Field,
    grid: Grid,
    history: CellHistory,
    fan: CellFanOut,
    viewers: Vec<Viewer>,
    tick: u64,
    bytes: Arc<AtomicUsize>,
    room_body: Bytes,
}

impl Room {
    fn new(members: usize) -> Self {
        let rules = CellRules { linger_ticks: 10, max_baseline_age_ticks: 32, max_bytes_per_client_tick: 0 };
        let mut room = Room {
            field: Field::new(),
            grid: Grid::new(CELL * SCALE as i64, vec![Some([0, 1]), Some([0, 1])], 256),
            history: CellHistory::new(64),
            fan: CellFanOut::new(rules),
            viewers: vec![Viewer::default(); members],
            tick: 0,
            bytes: Arc::new(AtomicUsize::new(0)),
            // The room part of a world without room-wide entities: empty, no events.
            room_body: Bytes::from_static(&[0, 0, 0, 0]),
        };
        // Warm: every member holds its cells, as in a room that has run a while.
        for _ in 0..20 {
            room.tick(None);
        }
        room
    }

    fn tick(&mut self, pool: Option<&rayon::ThreadPool>) {
        self.tick += 1;
        let tick = self.tick;
        let state = self.field.step();
        let (split, _) = CellTick::split(&state, &self.grid, &[], &[], 64);
        self.history.push(tick, Arc::new(split));
        let players = &self.field.players;
        let mut looks: Vec<_> = self
            .viewers
            .iter_mut()
            .zip(players)
            .map(|(v, p)| (v, Some(View { x: p[0], y: p[1], radius: VIEW * SCALE })))
            .collect();
        self.fan.prepare(&mut looks, &self.grid, tick, &self.history, pool);
        let mut jobs: Vec<FrameJob<Counter>> = self
            .viewers
            .iter_mut()
            .map(|v| FrameJob {
                header: UpdateHeader { tick, base_tick: tick - 1, ack_input: 7, server_time_us: 1 },
                room_body: self.room_body.clone(),
                viewer: std::mem::take(v),
                sink: Counter(self.bytes.clone()),
                sent: None,
                counts: SectionCounts::default(),
            })
            .collect();
        self.fan.write_frames(&mut jobs, tick, pool);
        for (v, job) in self.viewers.iter_mut().zip(jobs) {
            *v = job.viewer;
        }
    }
}

fn main() {
    let mut c = Criterion::default().configure_from_args();
    {
        let mut room = Room::new(PLAYERS as usize);
        let before = room.bytes.load(Ordering::Relaxed);
        for _ in 0..20 {
            room.tick(None);
        }
        let per = (room.bytes.load(Ordering::Relaxed) - before) as f64 / 20.0 / PLAYERS as f64;
        let seen: f64 = room.viewers.iter().map(|v| v.cells().count()).sum::<usize>() as f64 / PLAYERS as f64;
        println!("field-1000 in process: {per:.0} B per member per tick, {seen:.1} cells per view");
    }
    let mut group = c.benchmark_group("big_tick");
    group.throughput(Throughput::Elements(PLAYERS as u64));
    for threads in [1usize, 2] {
        let pool = (threads > 1).then(|| rayon::ThreadPoolBuilder::new().num_threads(threads).build().expect("pool"));
        let mut room = Room::new(PLAYERS as usize);
        group.bench_with_input(BenchmarkId::new("threads", threads), &threads, |b, _| {
            b.iter(|| room.tick(black_box(pool.as_ref())))
        });
    }
    group.finish();
    c.final_summary();
}

//! Interest management's rules, driven in process over many ticks of a moving world:
//! what each member's client holds after applying its Cell updates is exactly the
//! server's state of the cells it sees; the byte budget defers far cells but refreshes
//! every cell in view within a few ticks; placed events reach only the members who see
//! their cell; and the frames are the same bytes whatever the number of threads.
//!
//! The client side is `tickcast-client`'s `RoomState`, the one Rust implementation of
//! PROTOCOL.md's "Cell update", so this also checks the server's encoder against it.

use bytes::Bytes;
use parking_lot::Mutex;
use std::collections::BTreeMap;
use std::sync::Arc;
use tickcast::game::{SplitMix64, View};
use tickcast::protocol::{codec, Event, UpdateHeader};
use tickcast::sync::{
    encode_events, encode_snapshot, Cell, CellFanOut, CellHistory, CellRules, CellTick, EntityState, FrameJob,
    FrameSink, Grid, SectionCounts, Viewer,
};
use tickcast_client::{RoomState, Schema, ServerMessage};

const SIDE: i64 = 100;
const MAP: i32 = 1000;
const LINGER: u64 = 3;

fn schema() -> Schema {
    use tickcast_client::message::EntityKind;
    let kind = |name: &str, fields: &[&str]| EntityKind {
        name: name.into(),
        fields: fields.iter().map(|f| (f.to_string(), 1)).collect(),
    };
    Schema {
        game: "dots".into(),
        entity_kinds: vec![kind("dot", &["x", "y", "hp"]), kind("clock", &["t"])],
        input: Vec::new(),
        event_kinds: vec!["boom".into()],
    }
}

fn grid() -> Grid {
    Grid::new(SIDE, vec![Some([0, 1]), None], 256)
}

/// One tick of [`Dots`]: the state, the encoded events, and where each happened.
type Step = (EntityState, Vec<Bytes>, Vec<(usize, [i32; 2])>);

/// A world of dots that wander (and cross cells), appear and vanish, and a room-wide clock.
struct Dots {
    rng: SplitMix64,
    dots: BTreeMap<u32, [i32; 3]>,
    next: u32,
    tick: i32,
}

impl Dots {
    fn new(n: u32, seed: u64) -> Self {
        let mut d = Dots { rng: SplitMix64::new(seed), dots: BTreeMap::new(), next: 10, tick: 0 };
        for _ in 0..n {
            d.spawn();
        }
        d
    }

    fn spawn(&mut self) {
        let (x, y) = (self.rng.range(0, MAP), self.rng.range(0, MAP));
        self.dots.insert(self.next, [x, y, 3]);
        self.next += 1;
    }

    /// One tick: every dot moves a little, some a lot; one in fifty vanishes and is
    /// replaced; some dots explode (a placed event).
    fn step(&mut self) -> Step {
        self.tick += 1;
        let ids: Vec<u32> = self.dots.keys().copied().collect();
        let mut events = Vec::new();
        let mut placed = Vec::new();
        for id in ids {
            let r = self.rng.range(0, 100);
            if r < 2 {
                self.dots.remove(&id);
                self.spawn();
                continue;
            }
            let jump = if r < 10 { 60 } else { 8 };
            let d = self.dots.get_mut(&id).expect("present");
            d[0] = (d[0] + self.rng.range(-jump, jump + 1)).clamp(0, MAP - 1);
            d[1] = (d[1] + self.rng.range(-jump, jump + 1)).clamp(0, MAP - 1);
            if r == 50 {
                d[2] -= 1;
                let mut b = Vec::new();
                codec::encode_into(&Event::Game { kind: 0, player: id, value: d[2] }, &mut b);
                placed.push((events.len(), [d[0], d[1]]));
                events.push(Bytes::from(b));
            }
        }
        let mut state = EntityState::new();
        state.push(1, 1, &[self.tick]);
        for (id, d) in &self.dots {
            state.push(*id, 0, d);
        }
        state.finish();
        (state, events, placed)
    }
}

/// What one member's client holds: `tickcast-client`'s state of a room with cells, and
/// the cell of each event of the last frame applied.
#[derive(Default)]
struct CellClient {
    state: RoomState,
    events: Vec<Cell>,
}

impl CellClient {
    /// Applies one frame, which must be a Cell update.
    fn apply(&mut self, frame: &[u8], schema: &Schema) {
        let update = match ServerMessage::decode(frame, Some(schema)).expect("a frame decodes") {
            ServerMessage::Update(u) => u,
            other => panic!("not an update: {other:?}"),
        };
        let cells = update.cells.as_ref().expect("a Cell update");
        self.events.clear();
        for section in &cells.sections {
            self.events.extend(std::iter::repeat_n(section.cell, update.section_events(section).len()));
        }
        self.state.apply(&update).expect("the update applies");
    }

    fn cell(&self, cell: Cell) -> BTreeMap<u32, Vec<i32>> {
        self.state
            .cell(cell)
            .map(|c| c.entities.iter().map(|(id, (_, f))| (*id, f.clone())).collect())
            .unwrap_or_default()
    }
}

/// A sink that keeps the frames, and can refuse (a member whose connection is gone).
#[derive(Default)]
struct Recorder {
    frames: Mutex<Vec<Vec<u8>>>,
}

impl FrameSink for &Recorder {
    fn send(&self, _: u64, frame: &[u8]) -> bool {
        self.frames.lock().push(frame.to_vec());
        true
    }
}

/// The room part of every frame: the clock, whole every tick (enough for these tests).
fn room_body(split: &CellTick) -> Bytes {
    let mut events = Vec::new();
    encode_events(std::iter::empty(), &mut events);
    let mut out = Vec::new();
    encode_snapshot(&split.room, &events, &mut out);
    Bytes::from(out)
}

struct Run {
    /// Per member, per tick: the frame written (or none, when the member skipped).
    frames: Vec<Vec<Option<Vec<u8>>>>,
    counts: Vec<SectionCounts>,
}

/// Runs `ticks` ticks of a world of `dots` dots with `members` members wandering over it,
/// member `m` skipping the ticks `skips(m, tick)` says. `check` sees, after each tick,
/// the split state, every viewer, and every client.
fn run(
    ticks: u64,
    dots: u32,
    members: usize,
    rules: CellRules,
    pool: Option<&rayon::ThreadPool>,
    skips: impl Fn(usize, u64) -> bool,
    mut check: impl FnMut(u64, &CellTick, &[Viewer], &[CellClient], &[Option<View>]),
) -> Run {
    let schema = schema();
    let grid = grid();
    let mut world = Dots::new(dots, 7);
    let mut history = CellHistory::new(16);
    let mut fan = CellFanOut::new(rules);
    let mut viewers: Vec<Viewer> = (0..members).map(|_| Viewer::default()).collect();
    let mut clients: Vec<CellClient> = (0..members).map(|_| CellClient::default()).collect();
    let mut rng = SplitMix64::new(99);
    let mut centres: Vec<(i32, i32)> = (0..members).map(|_| (rng.range(0, MAP), rng.range(0, MAP))).collect();
    let mut out = Run { frames: vec![Vec::new(); members], counts: Vec::new() };
    for tick in 1..=ticks {
        let (state, events, placed) = world.step();
        let (split, wide) = CellTick::split(&state, &grid, &events, &placed, 2);
        assert!(wide.events.is_empty(), "every event of this world is placed");
        let split = Arc::new(split);
        history.push(tick, split.clone());
        let mut views = Vec::new();
        for c in centres.iter_mut() {
            c.0 = (c.0 + rng.range(-30, 31)).clamp(0, MAP - 1);
            c.1 = (c.1 + rng.range(-30, 31)).clamp(0, MAP - 1);
            // Member 0 has no view now and then (dead, say): it sees no cell.
            let first = views.is_empty();
            views.push((!first || tick % 17 > 3).then_some(View { x: c.0, y: c.1, radius: 120 }));
        }
        let mut looks: Vec<_> = viewers.iter_mut().zip(views.iter().copied()).collect();
        fan.prepare(&mut looks, &grid, tick, &history, pool);
        let recorders: Vec<Recorder> = (0..members).map(|_| Recorder::default()).collect();
        let mut jobs = Vec::new();
        let mut who = Vec::new();
        for (m, v) in viewers.iter_mut().enumerate() {
            if skips(m, tick) {
                continue;
            }
            jobs.push(FrameJob {
                header: UpdateHeader { tick, base_tick: 0, ack_input: 0, server_time_us: 0 },
                room_body: room_body(&split),
                viewer: std::mem::take(v),
                sink: &recorders[m],
                sent: None,
                counts: SectionCounts::default(),
            });
            who.push(m);
        }
        fan.write_frames(&mut jobs, tick, pool);
        for (m, job) in who.into_iter().zip(jobs) {
            assert!(job.sent.is_some());
            out.counts.push(job.counts);
            viewers[m] = job.viewer;
        }
        for (m, rec) in recorders.iter().enumerate() {
            let frame = rec.frames.lock().pop();
            if let Some(f) = &frame {
                clients[m].apply(f, &schema);
            }
            out.frames[m].push(frame);
        }
        check(tick, &split, &viewers, &clients, &views);
    }
    out
}

fn entities(state: Option<&tickcast::sync::CellPart>) -> BTreeMap<u32, Vec<i32>> {
    state.map_or_else(BTreeMap::new, |p| p.state.iter().map(|e| (e.id, e.fields.to_vec())).collect())
}

fn held(w: &tickcast_client::World) -> BTreeMap<u32, Vec<i32>> {
    w.entities.iter().map(|(id, (_, f))| (*id, f.clone())).collect()
}

const UNLIMITED: CellRules =
    CellRules { linger_ticks: LINGER, max_baseline_age_ticks: 8, max_bytes_per_client_tick: 0 };

#[test]
fn each_client_holds_exactly_the_cells_it_sees_as_the_server_has_them() {
    // Member 2 skips runs of ticks (a slow connection): it catches up by deltas from its
    // own cell baselines, or whole cells once they are too old.
    let skips = |m: usize, t: u64| m == 2 && (t % 23 < 5 || (40..52).contains(&t));
    let grid = grid();
    run(120, 400, 6, UNLIMITED, None, skips, |tick, split, viewers, clients, views| {
        for (m, (v, c)) in viewers.iter().zip(clients).enumerate() {
            if skips(m, tick) {
                continue;
            }
            assert_eq!(held(c.state.room()), entities_room(split), "tick {tick}: the room part");
            let seen: Vec<Cell> = v.cells().collect();
            let mut in_view = Vec::new();
            if let Some(view) = views[m] {
                grid.view_cells(view, &mut in_view);
            }
            // Lingering cells (seen, out of view) keep their copy until they come back
            // or are dropped; the cells in view are the server's.
            for cell in &in_view {
                let server = entities(split.cell(*cell));
                let client = c.cell(*cell);
                assert_eq!(client, server, "tick {tick}, member {m}, cell {cell:?}");
            }
            for cell in c.state.cells().keys() {
                assert!(seen.contains(cell), "tick {tick}, member {m}: holds {cell:?}, which it no longer sees");
            }
            // Every entity within the view's square is held.
            if let Some(view) = views[m] {
                let r = view.radius;
                for (cell, part) in split.cells() {
                    for e in part.state.iter() {
                        let inside = (e.fields[0] - view.x).abs() <= r && (e.fields[1] - view.y).abs() <= r;
                        if inside {
                            assert_eq!(grid.cell_at(e.fields[0], e.fields[1]), cell);
                            assert!(
                                c.state.cell(cell).is_some_and(|w| w.entities.contains_key(&e.id)),
                                "tick {tick}, member {m}: entity {} in view is missing",
                                e.id
                            );
                        }
                    }
                }
            }
        }
    });
}

fn entities_room(split: &CellTick) -> BTreeMap<u32, Vec<i32>> {
    split.room.iter().map(|e| (e.id, e.fields.to_vec())).collect()
}

#[test]
fn a_cell_leaves_linger_ticks_after_the_view_and_arrives_whole_when_it_enters() {
    let mut last: Vec<Vec<Cell>> = vec![Vec::new(); 4];
    let mut out_since: Vec<BTreeMap<Cell, u64>> = vec![BTreeMap::new(); 4];
    let grid = grid();
    let r = run(
        80,
        200,
        4,
        UNLIMITED,
        None,
        |_, _| false,
        |tick, _, viewers, _, views| {
            for (m, v) in viewers.iter().enumerate() {
                let mut in_view = Vec::new();
                if let Some(view) = views[m] {
                    grid.view_cells(view, &mut in_view);
                }
                let seen: Vec<Cell> = v.cells().collect();
                for c in &in_view {
                    assert!(seen.contains(c), "tick {tick}: a cell in view is seen");
                    out_since[m].remove(c);
                }
                for c in &last[m] {
                    if !in_view.contains(c) {
                        out_since[m].entry(*c).or_insert(tick);
                    }
                }
                for (c, since) in &out_since[m] {
                    // Out of view since `since`: kept through since + LINGER - 1, gone after.
                    let kept = seen.contains(c);
                    assert_eq!(kept, tick < since + LINGER, "tick {tick}, member {m}, cell {c:?} out since {since}");
                }
                out_since[m].retain(|_, since| tick < *since + LINGER);
                last[m] = seen;
            }
        },
    );
    assert!(r.counts.iter().map(|c| c.dropped).sum::<usize>() > 0, "members dropped cells");
    assert!(r.counts.iter().map(|c| c.whole).sum::<usize>() > 0, "cells arrived whole");
}

#[test]
fn frames_are_the_same_bytes_whatever_the_number_of_threads() {
    let pool = |n| rayon::ThreadPoolBuilder::new().num_threads(n).build().expect("pool");
    let (one, two, four) = (pool(1), pool(2), pool(4));
    let skips = |m: usize, t: u64| m == 1 && t % 7 == 0;
    let base = run(40, 600, 12, UNLIMITED, None, skips, |_, _, _, _, _| {});
    for p in [&one, &two, &four] {
        let other = run(40, 600, 12, UNLIMITED, Some(p), skips, |_, _, _, _, _| {});
        assert_eq!(base.frames, other.frames, "{} threads", p.current_num_threads());
    }
    let budget = CellRules { max_bytes_per_client_tick: 300, ..UNLIMITED };
    let a = run(30, 600, 8, budget, None, skips, |_, _, _, _, _| {});
    let b = run(30, 600, 8, budget, Some(&two), skips, |_, _, _, _, _| {});
    assert_eq!(a.frames, b.frames, "with a budget too");
}

#[test]
fn placed_events_reach_the_members_who_see_their_cell_and_no_one_else() {
    run(
        60,
        400,
        6,
        UNLIMITED,
        None,
        |_, _| false,
        |tick, split, viewers, clients, _| {
            for (v, c) in viewers.iter().zip(clients) {
                let seen: Vec<Cell> = v.cells().collect();
                for cell in &c.events {
                    assert!(seen.contains(cell), "tick {tick}: an event from a cell not seen");
                }
            }
            for (_, part) in split.cells() {
                assert!(part.events.len() <= 2, "the per-cell cap");
            }
        },
    );
}

#[test]
fn a_budget_defers_far_cells_yet_refreshes_every_cell_in_view_within_four_ticks() {
    // First the unlimited bytes per frame, then half of that as the budget.
    let unlimited = run(60, 800, 6, UNLIMITED, None, |_, _| false, |_, _, _, _, _| {});
    let sizes: Vec<usize> = unlimited.frames.iter().flatten().flatten().map(|f| f.len()).collect();
    let half = sizes.iter().sum::<usize>() / sizes.len() / 2;
    let rules = CellRules { max_bytes_per_client_tick: half, ..UNLIMITED };
    let grid = grid();
    // Per member and cell in view: the last tick its copy equalled the server's.
    let mut fresh: Vec<BTreeMap<Cell, u64>> = vec![BTreeMap::new(); 6];
    let mut worst = 0;
    // Staleness counts once every member has had its first view whole: at the start
    // all of it arrives at once, over a few ticks of budget (the arrival bound below).
    const WARM: u64 = 10;
    // Per member and cell in view not yet current: since when it is in view.
    let mut entered: Vec<BTreeMap<Cell, u64>> = vec![BTreeMap::new(); 6];
    let mut slowest_arrival = 0;
    let r = run(
        60,
        800,
        6,
        rules,
        None,
        |_, _| false,
        |tick, split, _, clients, views| {
            for (m, c) in clients.iter().enumerate() {
                let mut in_view = Vec::new();
                if let Some(view) = views[m] {
                    grid.view_cells(view, &mut in_view);
                }
                // Measured from the first tick the client's copy of a cell in view was
                // current (a cell entering the view arrives whole, when its turn comes).
                fresh[m].retain(|cell, _| in_view.contains(cell));
                entered[m].retain(|cell, _| in_view.contains(cell));
                for cell in in_view {
                    let current = c.cell(cell) == entities(split.cell(cell));
                    let Some(&since) = fresh[m].get(&cell) else {
                        let came = *entered[m].entry(cell).or_insert(tick);
                        if current {
                            fresh[m].insert(cell, tick);
                            entered[m].remove(&cell);
                        } else {
                            slowest_arrival = slowest_arrival.max(tick - came);
                        }
                        continue;
                    };
                    if current {
                        fresh[m].insert(cell, tick);
                    } else if tick > WARM {
                        worst = worst.max(tick - since);
                    }
                }
            }
        },
    );
    let deferred: usize = r.counts.iter().map(|c| c.deferred).sum();
    assert!(deferred > 0, "the budget deferred cells");
    assert!(worst < 4, "a cell in view stayed stale {worst} ticks (budget {half} B)");
    // A cell entering the view waits its turn too, but never for ever: even a view that
    // comes back with a dozen whole cells at once (member 0) has them all within a second.
    assert!(slowest_arrival < 20, "a cell in view took {slowest_arrival} ticks to arrive");
    eprintln!("budget {half} B: stale at most {worst} ticks, arrival at most {slowest_arrival}, {deferred} deferred");
}

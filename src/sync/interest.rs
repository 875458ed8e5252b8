//! Interest management's fan-out rules, as plain code: which cells each member of a big
//! room sees, what its client holds of each, and which cell sections its next frame
//! carries within its byte budget, with every cell body encoded once per (cell, base)
//! and shared by every member that needs it.
//!
//! Per member, a [`Viewer`] keeps one entry per cell its client may hold: the cell's
//! baseline (the tick of the client's copy, 0 for none), when the cell was last in view
//! (a cell leaves `interest.linger_ticks` after the view did, then is dropped), and a
//! priority accumulator for the budget. A tick goes in two steps, so the second can run
//! on several threads: [`CellFanOut::prepare`] encodes every body any viewer needs
//! (each once), then [`CellFanOut::write_sections`] writes one member's sections from
//! the shared bodies and [`Viewer::commit`] records what its client now holds.
//!
//! Layout of what is written (`docs/PROTOCOL.md`, "Cell update"): sections sorted by cell,
//! each `cell_x, cell_y` (zigzag), `cell_age` (`tick − base`; 0: whole), `body_len`,
//! body (a snapshot body, or a cell delta body: `cell_delta.rs`); then the dropped cells.

use super::cell_delta::encode_cell_delta;
use super::cells::{Cell, CellHistory, Grid, View};
use super::delta::{encode_events, encode_snapshot};
use super::state::EntityState;
use crate::protocol::{write_cell_update_header, UpdateHeader, Writer};
use bytes::Bytes;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

/// Ticks a cell with news may wait for the budget before it goes first.
const OVERDUE_TICKS: u32 = 2;

/// The bounds the rules apply (from `interest.*` and `sync.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellRules {
    /// A cell stays this many ticks after it left the view (`interest.linger_ticks`).
    pub linger_ticks: u64,
    /// A cell baseline older than this gets the cell whole (`sync.max_baseline_age_ticks`).
    pub max_baseline_age_ticks: u64,
    /// Most bytes of one member's frame, header and room part included, before cells
    /// are deferred (`sync.max_bytes_per_client_tick`; 0 = unlimited). The nearest cells
    /// are always sent.
    pub max_bytes_per_client_tick: usize,
}

/// What the room knows of one cell of one member's client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Seen {
    cell: Cell,
    /// The tick of the client's copy; 0: it has none we can delta from.
    baseline: u64,
    /// The client may hold entities of it (so an empty copy must still be sent whole).
    holds: bool,
    /// The last tick the cell was in view.
    in_view: u64,
    /// Its distance in cells from the view's centre, this tick.
    ring: u32,
    /// Budget priority: grows each tick the cell waits, back to 0 when it is sent.
    waited: u64,
    /// Ticks it has waited with news since it was last sent.
    late: u32,
    /// Written into this tick's frame (or found unchanged): becomes the baseline on commit.
    fresh: bool,
    /// This tick's base (0: whole) and the index of its body, set by `prepare` for
    /// `prepared`.
    base: u64,
    body: u32,
    prepared: u64,
}

/// One member's cells, as its client holds them.
#[derive(Debug, Clone, Default)]
pub struct Viewer {
    /// Sorted by cell.
    seen: Vec<Seen>,
    /// Cells to drop in the next frame, sorted.
    drops: Vec<Cell>,
    looked: Vec<Cell>,
    /// The previous tick's `seen`, reused so a look allocates nothing once warm.
    spare: Vec<Seen>,
}

/// A body of one cell for members whose copy is at `base` (0: none), shared by them.
#[derive(Debug, Clone, Default)]
struct CellBody {
    bytes: Bytes,
    /// Nothing to tell: no entity changed, no event (a copy at `base` is current).
    empty: bool,
}

/// What one member's sections held this tick, for metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SectionCounts {
    /// Sections written.
    pub sent: usize,
    /// Of which whole cells.
    pub whole: usize,
    /// Cells that had something new but waited for the budget.
    pub deferred: usize,
    /// Cells dropped.
    pub dropped: usize,
}

impl Viewer {
    /// Updates the cells this member sees at `tick`: the cells `view` meets are in view
    /// (new ones arrive whole), cells out of view for more than `linger_ticks` are
    /// forgotten and listed to drop. `None` sees no cell.
    pub fn look(&mut self, grid: &Grid, view: Option<View>, tick: u64, linger_ticks: u64) {
        let centre = match view {
            Some(v) => Some(grid.view_cells(v, &mut self.looked)),
            None => {
                self.looked.clear();
                None
            }
        };
        let mut merged = std::mem::take(&mut self.spare);
        merged.clear();
        let (mut i, mut j) = (0, 0);
        while i < self.seen.len() || j < self.looked.len() {
            let old = self.seen.get(i).copied();
            let new = self.looked.get(j).copied();
            let order = match (old, new) {
                (Some(s), Some(c)) => s.cell.cmp(&c),
                (Some(_), None) => std::cmp::Ordering::Less,
                _ => std::cmp::Ordering::Greater,
            };
            match (old, new, order) {
                (Some(s), Some(_), std::cmp::Ordering::Equal) => {
                    merged.push(Seen { in_view: tick, ..s });
                    i += 1;
                    j += 1;
                }
                (Some(s), _, std::cmp::Ordering::Less) => {
                    i += 1;
                    if tick.saturating_sub(s.in_view) <= linger_ticks {
                        merged.push(s);
                    } else if s.holds {
                        self.drops.push(s.cell);
                    }
                }
                (_, Some(c), _) => {
                    j += 1;
                    // A drop not yet sent: the client still holds the old copy, which
                    // the whole cell now replaces (even an empty one).
                    let holds = match self.drops.binary_search(&c) {
                        Ok(k) => {
                            self.drops.remove(k);
                            true
                        }
                        Err(_) => false,
                    };
                    merged.push(Seen {
                        cell: c,
                        baseline: 0,
                        holds,
                        in_view: tick,
                        ring: 0,
                        waited: 0,
                        late: 0,
                        fresh: false,
                        base: 0,
                        body: 0,
                        prepared: 0,
                    });
                }
                _ => break,
            }
        }
        self.drops.sort_unstable();
        self.drops.dedup();
        for s in &mut merged {
            s.ring = centre.map_or(u32::MAX, |c| Grid::ring(c, s.cell));
        }
        self.spare = std::mem::replace(&mut self.seen, merged);
    }

    /// Records that this tick's frame reached the connection: the cells written (or
    /// found unchanged) are now held at `tick`, and the drops were told.
    pub fn commit(&mut self, tick: u64) {
        for s in &mut self.seen {
            if s.fresh {
                s.baseline = tick;
                s.fresh = false;
            }
        }
        self.drops.clear();
    }

    /// Cells this member's client may hold or is about to get.
    pub fn cells(&self) -> impl Iterator<Item = Cell> + '_ {
        self.seen.iter().map(|s| s.cell)
    }

    /// The tick of the client's copy of `cell` (0 for none), if the cell is seen.
    pub fn baseline(&self, cell: Cell) -> Option<u64> {
        self.seen.binary_search_by_key(&cell, |s| s.cell).ok().map(|k| self.seen[k].baseline)
    }

    /// Forgets every cell: the next session of this player starts from nothing (its
    /// client got a Welcome and holds no cell).
    pub fn reset(&mut self) {
        self.seen.clear();
        self.drops.clear();
    }
}

/// Bytes of `v` as a varint (`docs/PROTOCOL.md`, "Encoding rules").
fn varint_len(v: u64) -> usize {
    match v {
        0..=250 => 1,
        251..=0xFFFF => 3,
        0x1_0000..=0xFFFF_FFFF => 5,
        _ => 9,
    }
}

/// Bytes of `v` as a zigzag varint.
fn zigzag_len(v: i32) -> usize {
    varint_len(((v << 1) ^ (v >> 31)) as u32 as u64)
}

/// The cell fan-out of one big room: its rules and this tick's shared cell bodies.
#[derive(Debug)]
pub struct CellFanOut {
    rules: CellRules,
    bodies: Vec<CellBody>,
    index: FxHashMap<(Cell, u64), u32>,
    keys: Vec<(Cell, u64)>,
}

/// Per-thread scratch for [`CellFanOut::write_sections`].
#[derive(Debug, Default)]
pub struct SectionScratch {
    order: Vec<(u64, u32, Cell, usize)>,
    chosen: Vec<bool>,
    frame: Vec<u8>,
}

/// Where one member's frame goes: the room's link to its connection, or a test's
/// recorder. Called from the fan-out's threads.
pub trait FrameSink: Sync {
    /// Hands the frame of `tick` to the connection; false when the connection is gone.
    fn send(&self, tick: u64, frame: &[u8]) -> bool;
}

/// One member's frame of this tick, for [`CellFanOut::write_frames`].
#[derive(Debug)]
pub struct FrameJob<S> {
    /// Its header: the room part's base and the member's input ack.
    pub header: UpdateHeader,
    /// The room part's body (shared: from `sync::FanOut`).
    pub room_body: Bytes,
    /// The member's cells (taken out of the member for the write, and put back).
    pub viewer: Viewer,
    /// Where the frame goes.
    pub sink: S,
    /// After the write: the frame's length if the sink took it.
    pub sent: Option<usize>,
    /// After the write: what its sections held.
    pub counts: SectionCounts,
}

/// Encodes `cell`'s body from `base` (0: whole) to `tick`: its entities, then its events
/// — of `tick` only for a whole cell, of every tick after `base` otherwise.
fn encode_cell((cell, base): (Cell, u64), tick: u64, history: &CellHistory, scratch: &mut [Vec<u8>; 3]) -> CellBody {
    let empty_state = EntityState::new();
    let Some(current) = history.get(tick) else { return CellBody::default() };
    let now = current.cell(cell);
    let state = now.map_or(&empty_state, |p| &p.state);
    let list: Vec<&[u8]> = if base == 0 {
        now.map_or(Vec::new(), |p| p.events.iter().map(|b| b.as_ref()).collect())
    } else {
        history.after(base).filter_map(|t| t.cell(cell)).flat_map(|p| p.events.iter().map(|b| b.as_ref())).collect()
    };
    let quiet = list.is_empty();
    let count = list.len();
    let mut events = Vec::new();
    encode_events(list.into_iter(), &mut events);
    let mut out = Vec::with_capacity(16 + state.len() * 6 + events.len());
    let empty = if base == 0 {
        encode_snapshot(state, &events, &mut out);
        state.is_empty() && quiet
    } else {
        let old = history.get(base).and_then(|t| t.cell(cell)).map_or(&empty_state, |p| &p.state);
        let stats = encode_cell_delta(old, state, &events, count, scratch, &mut out);
        stats.created + stats.changed + stats.removed == 0 && quiet
    };
    CellBody { bytes: Bytes::from(out), empty }
}

impl CellFanOut {
    /// A fan-out applying `rules`.
    pub fn new(rules: CellRules) -> Self {
        CellFanOut { rules, bodies: Vec::new(), index: FxHashMap::default(), keys: Vec::new() }
    }

    /// The rules.
    pub fn rules(&self) -> CellRules {
        self.rules
    }

    /// The base a member's copy of `s` is sent from at `tick`: its baseline when the
    /// history still holds it and it is young enough, else 0 (the cell whole).
    fn base_of(&self, s: &Seen, tick: u64, history: &CellHistory) -> u64 {
        let b = s.baseline;
        let usable = b != 0 && b < tick && tick - b <= self.rules.max_baseline_age_ticks && history.get(b).is_some();
        if usable {
            b
        } else {
            0
        }
    }

    /// Starts a tick: updates each viewer's cells to its view (see [`Viewer::look`])
    /// and encodes every cell body they need at `tick`, once each, noting in each
    /// viewer which body each of its cells gets; on `pool`'s threads when there is one.
    /// `history` already holds `tick`'s split state. Returns the bodies encoded.
    pub fn prepare(
        &mut self,
        viewers: &mut [(&mut Viewer, Option<View>)],
        grid: &Grid,
        tick: u64,
        history: &CellHistory,
        pool: Option<&rayon::ThreadPool>,
    ) -> usize {
        let look = |(v, view): &mut (&mut Viewer, Option<View>)| {
            v.look(grid, *view, tick, self.rules.linger_ticks);
            for s in &mut v.seen {
                s.base = self.base_of(s, tick, history);
            }
        };
        match pool {
            Some(pool) if viewers.len() > 1 => pool.install(|| viewers.par_iter_mut().for_each(look)),
            _ => viewers.iter_mut().for_each(look),
        }
        self.index.clear();
        self.keys.clear();
        for (v, _) in viewers.iter_mut() {
            for s in &mut v.seen {
                let key = (s.cell, s.base);
                let next = self.keys.len() as u32;
                let body = *self.index.entry(key).or_insert(next);
                if body == next {
                    self.keys.push(key);
                }
                (s.body, s.prepared) = (body, tick);
            }
        }
        let keys = &self.keys;
        self.bodies = match pool {
            Some(pool) if keys.len() > 1 => pool.install(|| {
                keys.par_iter().map_init(<[Vec<u8>; 3]>::default, |s, k| encode_cell(*k, tick, history, s)).collect()
            }),
            _ => {
                let mut s = Default::default();
                keys.iter().map(|k| encode_cell(*k, tick, history, &mut s)).collect()
            }
        };
        self.bodies.len()
    }

    /// The body `s` gets this tick, if `prepare` gave it one.
    fn body_of(&self, s: &Seen, tick: u64) -> Option<&CellBody> {
        (s.prepared == tick).then(|| self.bodies.get(s.body as usize)).flatten()
    }

    /// Writes and sends every job's frame (a Cell update: header, room part, sections,
    /// drops), on `pool`'s threads when there is one, and commits each viewer whose
    /// frame its sink took. Each frame depends only on its job and the shared bodies,
    /// so the bytes are the same whatever the number of threads.
    pub fn write_frames<S: FrameSink + Send>(
        &self,
        jobs: &mut [FrameJob<S>],
        tick: u64,
        pool: Option<&rayon::ThreadPool>,
    ) {
        let run = |scratch: &mut SectionScratch, job: &mut FrameJob<S>| {
            let mut frame = std::mem::take(&mut scratch.frame);
            frame.clear();
            write_cell_update_header(&mut frame, &job.header);
            frame.extend_from_slice(&job.room_body);
            let before = frame.len();
            job.counts = self.write_sections(&mut job.viewer, tick, before, scratch, &mut frame);
            job.sent = job.sink.send(tick, &frame).then_some(frame.len());
            if job.sent.is_some() {
                job.viewer.commit(tick);
            }
            scratch.frame = frame;
        };
        match pool {
            Some(pool) if jobs.len() > 1 => {
                pool.install(|| jobs.par_iter_mut().for_each_init(SectionScratch::default, run));
            }
            _ => {
                let mut scratch = SectionScratch::default();
                for job in jobs {
                    run(&mut scratch, job);
                }
            }
        }
    }

    /// Writes `viewer`'s cell sections and dropped cells for `tick` into `out`, after
    /// the frame's header and room part (`before` bytes of the frame, for the budget).
    /// Call [`Viewer::commit`] once the frame has reached the connection.
    pub fn write_sections(
        &self,
        viewer: &mut Viewer,
        tick: u64,
        before: usize,
        scratch: &mut SectionScratch,
        out: &mut Vec<u8>,
    ) -> SectionCounts {
        let mut counts = SectionCounts::default();
        let budget = self.rules.max_bytes_per_client_tick;
        // Candidates: cells with something to send.
        scratch.order.clear();
        let far = viewer.seen.iter().map(|s| s.ring).filter(|r| *r != u32::MAX).max().unwrap_or(0);
        for (k, s) in viewer.seen.iter_mut().enumerate() {
            s.fresh = false;
            let base = s.base;
            let Some(body) = self.body_of(s, tick) else { continue };
            if body.empty && (base != 0 || !s.holds) {
                // Nothing new, or an empty cell the client never held: its copy is current.
                s.fresh = true;
                continue;
            }
            if s.in_view != tick {
                // Lingering, out of view: the client keeps its copy (not drawn) and gets
                // a delta from it if the cell comes back before it is dropped, which is
                // the point of lingering; until then it costs nothing.
                continue;
            }
            // Nearer cells weigh more: they climb the queue faster while they wait. A
            // cell that has waited `OVERDUE_TICKS` goes before any other (the longest
            // waiting first), so with a budget of half a member's bytes every cell in
            // view is fresh within four ticks.
            let weight = u64::from(far.saturating_sub(s.ring.min(far))) + 1;
            let overdue = if s.late >= OVERDUE_TICKS { u64::from(s.late) << 40 } else { 0 };
            scratch.order.push((s.waited + weight + overdue, s.ring, s.cell, k));
        }
        scratch.chosen.clear();
        scratch.chosen.resize(viewer.seen.len(), false);
        if budget == 0 {
            for &(.., k) in &scratch.order {
                scratch.chosen[k] = true;
            }
        } else {
            scratch.order.sort_unstable_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
            let drops: usize = viewer.drops.iter().map(|&(x, y)| zigzag_len(x) + zigzag_len(y)).sum();
            let mut used = before + 2 * varint_len(viewer.seen.len() as u64) + drops;
            let mut first = true;
            for &(_, ring, cell, k) in &scratch.order {
                let s = &viewer.seen[k];
                let base = s.base;
                let body = self.body_of(s, tick).map_or(0, |b| b.bytes.len());
                let age = if base == 0 { 0 } else { tick - base };
                let len = zigzag_len(cell.0) + zigzag_len(cell.1) + varint_len(age) + varint_len(body as u64) + body;
                // The player's own cell always goes; the first in the queue always goes,
                // so a cell larger than the budget still arrives when its turn comes.
                if ring == 0 || first || used + len <= budget {
                    scratch.chosen[k] = true;
                    used += len;
                }
                first = false;
            }
        }
        let mut w = Writer::new(out);
        let sent = scratch.chosen.iter().filter(|c| **c).count();
        w.u64(sent as u64);
        for (k, s) in viewer.seen.iter_mut().enumerate() {
            if !scratch.chosen[k] {
                continue;
            }
            let base = s.base;
            let Some(body) = self.body_of(s, tick) else { continue };
            let mut w = Writer::new(out);
            w.i64(i64::from(s.cell.0));
            w.i64(i64::from(s.cell.1));
            // The base as an age: one byte, where a tick number takes three to five.
            w.u64(if base == 0 { 0 } else { tick - base });
            w.u64(body.bytes.len() as u64);
            out.extend_from_slice(&body.bytes);
            s.fresh = true;
            s.holds = true;
            s.waited = 0;
            s.late = 0;
            counts.sent += 1;
            counts.whole += usize::from(base == 0);
        }
        for &(priority, _, _, k) in &scratch.order {
            if !scratch.chosen[k] {
                let s = &mut viewer.seen[k];
                s.waited = priority & ((1 << 40) - 1);
                s.late = s.late.saturating_add(1);
                counts.deferred += 1;
            }
        }
        let mut w = Writer::new(out);
        w.u64(viewer.drops.len() as u64);
        for &(x, y) in &viewer.drops {
            w.i64(i64::from(x));
            w.i64(i64::from(y));
        }
        counts.dropped = viewer.drops.len();
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::super::cells::CellTick;
    use super::*;
    use std::sync::Arc;

    const RULES: CellRules = CellRules { linger_ticks: 2, max_baseline_age_ticks: 8, max_bytes_per_client_tick: 0 };

    fn grid() -> Grid {
        Grid::new(100, vec![Some([0, 1])], 64)
    }

    fn view(x: i32, y: i32) -> Option<View> {
        Some(View { x, y, radius: 40 })
    }

    #[test]
    fn a_cell_lingers_then_is_dropped_and_a_new_one_arrives() {
        let g = grid();
        let mut v = Viewer::default();
        v.look(&g, view(50, 50), 1, 2);
        assert_eq!(v.cells().collect::<Vec<_>>(), vec![(0, 0)]);
        v.seen[0].holds = true;
        v.look(&g, view(150, 50), 2, 2);
        assert_eq!(v.cells().collect::<Vec<_>>(), vec![(0, 0), (1, 0)], "lingers");
        v.look(&g, view(150, 50), 3, 2);
        assert_eq!(v.cells().count(), 2, "out of view since tick 2: still there at 3");
        v.look(&g, view(150, 50), 4, 2);
        assert_eq!(v.cells().collect::<Vec<_>>(), vec![(1, 0)]);
        assert_eq!(v.drops, vec![(0, 0)]);
        v.look(&g, view(50, 50), 5, 2);
        assert!(v.drops.is_empty(), "back before the drop was sent: no drop, a whole cell");
        assert!(v.seen[0].holds);
    }

    #[test]
    fn bodies_are_shared_and_an_unchanged_cell_sends_nothing() {
        let g = grid();
        let mut h = CellHistory::new(8);
        let mut state = EntityState::new();
        state.push(1, 0, &[10, 10]);
        state.push(2, 0, &[310, 10]);
        let (split, _) = CellTick::split(&state, &g, &[], &[], 4);
        h.push(1, Arc::new(split.clone()));
        let mut f = CellFanOut::new(RULES);
        let mut viewers = vec![Viewer::default(), Viewer::default()];
        let prepare = |f: &mut CellFanOut, viewers: &mut [Viewer], tick, h: &CellHistory| {
            let mut looks: Vec<_> = viewers.iter_mut().map(|v| (v, view(50, 50))).collect();
            f.prepare(&mut looks, &g, tick, h, None)
        };
        assert_eq!(prepare(&mut f, &mut viewers, 1, &h), 1, "one body for both");
        let mut scratch = SectionScratch::default();
        for v in &mut viewers {
            let mut out = Vec::new();
            let c = f.write_sections(v, 1, 0, &mut scratch, &mut out);
            assert_eq!((c.sent, c.whole), (1, 1));
            v.commit(1);
            assert_eq!(v.baseline((0, 0)), Some(1));
        }
        h.push(2, Arc::new(split));
        prepare(&mut f, &mut viewers, 2, &h);
        let mut out = Vec::new();
        let c = f.write_sections(&mut viewers[0], 2, 0, &mut scratch, &mut out);
        assert_eq!(c.sent, 0);
        assert_eq!(out, vec![0, 0], "no section, no drop");
        viewers[0].commit(2);
        assert_eq!(viewers[0].baseline((0, 0)), Some(2), "the copy is current");
    }
}

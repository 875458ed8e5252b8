//! The fan-out of a big room (interest management): each member's frame is a Cell
//! update (`docs/PROTOCOL.md`, "Cell update"): the room part from the member's
//! baseline, as in a small room, then the cells it sees, each body encoded once per
//! (cell, base) by `sync::CellFanOut` and shared.
//!
//! The rules live in `sync` (plain code, tested there); this moves the bytes and keeps
//! the bookkeeping of the room actor: heartbeats, skips and evictions as in a small room.

use super::fan_out::{MemberChecks, SentCounts};
use super::RoomActor;
use crate::actors::link::{ws_frame_len, MemberLink};
use crate::actors::messages::TickState;
use crate::config::Settings;
use crate::metrics;
use crate::protocol::UpdateHeader;
use crate::sync::{CellFanOut, CellHistory, CellRules, CellTick, Decision, FrameJob, FrameSink, Grid, SectionCounts};
use std::sync::Arc;

/// What a big room keeps besides a small room's state: its grid, the split states of
/// recent ticks, the cell fan-out, and the threads it may spread a tick over.
pub struct BigRoom {
    grid: Grid,
    history: CellHistory,
    cells: CellFanOut,
    pool: Option<Arc<rayon::ThreadPool>>,
}

impl std::fmt::Debug for BigRoom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BigRoom").field("grid", &self.grid).field("threads", &self.pool.is_some()).finish()
    }
}

/// A member's link as the cell fan-out's sink.
struct LinkSink(Arc<MemberLink>);

impl FrameSink for LinkSink {
    fn send(&self, tick: u64, frame: &[u8]) -> bool {
        self.0.send_tick(tick, &[frame])
    }
}

impl BigRoom {
    /// A big room on `grid`, with the bounds of `settings`, spreading its ticks over
    /// `pool` when there is one (`server.room_threads` > 1).
    pub fn new(grid: Grid, settings: &Settings, pool: Option<Arc<rayon::ThreadPool>>) -> Self {
        let rules = CellRules {
            linger_ticks: settings.interest.linger_ticks,
            max_baseline_age_ticks: settings.sync.max_baseline_age_ticks,
            max_bytes_per_client_tick: settings.sync.max_bytes_per_client_tick,
        };
        BigRoom { grid, history: CellHistory::new(settings.sync.history_ticks), cells: CellFanOut::new(rules), pool }
    }

    /// The grid.
    pub fn grid(&self) -> &Grid {
        &self.grid
    }

    /// Keeps the split state of `tick`.
    pub fn push(&mut self, tick: u64, split: CellTick) {
        self.history.push(tick, Arc::new(split));
    }
}

impl RoomActor {
    /// Writes each member its Cell update for the tick (see the module's docs). The
    /// room part follows the small rooms' rules (`sync::FanOut`) over the room-wide
    /// state, which `history` holds for this tick; the cell bodies and the frames are
    /// made on the room's thread pool when it has one.
    pub(super) fn fan_out_cells(&mut self, msg: &TickState) {
        let Some(big) = self.big.as_mut() else { return };
        let checks = MemberChecks::new(&self.settings);
        let pool = big.pool.as_deref();
        let mut looks: Vec<_> = self
            .members
            .iter_mut()
            .filter(|(_, m)| m.session.is_some())
            .map(|(player, m)| {
                let view = msg.views.binary_search_by_key(player, |(p, _)| *p).ok().and_then(|i| msg.views[i].1);
                (&mut m.viewer, view)
            })
            .collect();
        let encoded = big.cells.prepare(&mut looks, &big.grid, msg.tick, &big.history, pool);
        drop(looks);
        metrics::cell_bodies_encoded(encoded);
        let Some(room_state) = self.history.get(msg.tick) else { return };
        self.fanout.begin_tick();
        let (mut evict, mut silent) = (Vec::new(), Vec::new());
        let mut sent = SentCounts::default();
        let mut jobs = Vec::with_capacity(self.members.len());
        let mut players = Vec::with_capacity(self.members.len());
        for (&player, m) in self.members.iter_mut() {
            if m.session.is_none() {
                continue;
            }
            let link = &m.link;
            let Some(member) = checks.view(link, m.joined_tick) else {
                silent.push(player);
                continue;
            };
            let (base_tick, room_body) =
                match self.fanout.decide(&member, msg.tick, &room_state, &self.history, &self.events) {
                    Decision::Send { base_tick, body } => (base_tick, body),
                    Decision::Skip => {
                        link.skip();
                        sent.skipped += 1;
                        continue;
                    }
                    Decision::Evict(why) => {
                        evict.push((player, why));
                        continue;
                    }
                };
            let ack = msg.acks.binary_search_by_key(&player, |(p, _)| *p).map(|i| msg.acks[i].1).unwrap_or(0);
            jobs.push(FrameJob {
                header: UpdateHeader { tick: msg.tick, base_tick, ack_input: ack, server_time_us: msg.server_time_us },
                room_body,
                viewer: std::mem::take(&mut m.viewer),
                sink: LinkSink(link.clone()),
                sent: None,
                counts: SectionCounts::default(),
            });
            players.push(player);
        }
        // Members are written from a start that moves every tick, so no player is always
        // written last (with one thread; with more, the pool interleaves them anyway).
        let start = (msg.tick % jobs.len().max(1) as u64) as usize;
        jobs.rotate_left(start);
        players.rotate_left(start);
        big.cells.write_frames(&mut jobs, msg.tick, pool);
        let (mut deferred, mut sections, mut whole) = (0, 0, 0);
        for (player, job) in players.into_iter().zip(jobs) {
            deferred += job.counts.deferred;
            match job.sent {
                Some(len) => {
                    sent.frames += 1;
                    sent.keyframes += usize::from(job.header.base_tick == 0);
                    sent.bytes += ws_frame_len(len);
                    sections += job.counts.sent;
                    whole += job.counts.whole;
                }
                None => {
                    // Its connection is gone; the session ends it and reports.
                    job.sink.0.skip();
                    sent.skipped += 1;
                }
            }
            if let Some(m) = self.members.get_mut(&player) {
                m.viewer = job.viewer;
            }
        }
        metrics::cells_deferred(deferred);
        metrics::cell_sections_sent(sections, whole);
        sent.report(msg.computed_at.elapsed());
        self.close_silent_and_evicted(silent, evict);
    }
}

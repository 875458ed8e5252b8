//! The fan-out of a small room (every member sees every entity): each member's frame
//! is a Snapshot or Delta from its baseline, as `sync::FanOut` decides, and the checks
//! every tick's fan-out makes of each member (heartbeat, room to take a frame, stall),
//! in small and big rooms alike.

use super::{close, AfterSession, RoomActor, ToSession};
use crate::actors::link::{now_ms, ws_frame_len, MemberLink};
use crate::actors::messages::TickState;
use crate::config::Settings;
use crate::metrics;
use crate::protocol::{close_code, write_update_header, PlayerId, UpdateHeader};
use crate::sync::{Decision, Eviction, MemberView};

/// What one tick's fan-out wrote, reported to the metrics once per tick (not per member).
#[derive(Debug, Default)]
pub(super) struct SentCounts {
    pub(super) frames: usize,
    pub(super) keyframes: usize,
    pub(super) skipped: usize,
    pub(super) bytes: u64,
}

impl SentCounts {
    /// Reports the counts, and `latency`: from the tick computed to the last write.
    pub(super) fn report(&self, latency: std::time::Duration) {
        metrics::frames_sent(self.frames - self.keyframes, self.keyframes);
        metrics::frames_skipped(self.skipped);
        metrics::bytes_sent(self.bytes);
        if self.frames > 0 {
            metrics::fan_out_latency(latency);
        }
    }
}

/// The clock and bounds one tick's fan-out checks each member against.
pub(super) struct MemberChecks {
    now: u64,
    stall_ms: u64,
    max_pending: u64,
    probe_ms: u64,
    silence_ms: u64,
}

impl MemberChecks {
    pub(super) fn new(settings: &Settings) -> Self {
        let beat = &settings.heartbeat;
        MemberChecks {
            now: now_ms(),
            stall_ms: (settings.limits.stall_timeout_s * 1000.0) as u64,
            max_pending: settings.limits.max_pending_bytes as u64,
            probe_ms: (beat.interval_s * 1000.0) as u64,
            silence_ms: (beat.timeout_s * 1000.0) as u64,
        }
    }

    /// What the fan-out rules need to know of the member on `link` (probing it when a
    /// heartbeat is due); `None` when it answered no heartbeat in time: close it.
    pub(super) fn view(&self, link: &MemberLink, joined_tick: u64) -> Option<MemberView> {
        if link.heartbeat(self.now, self.probe_ms, self.silence_ms, self.max_pending) {
            return None;
        }
        Some(MemberView {
            baseline: link.baseline(),
            joined_tick,
            can_take: link.can_take(self.max_pending),
            stalled: link.stalled(self.now, self.stall_ms),
        })
    }
}

impl RoomActor {
    /// Writes each member its frame for the tick, as the fan-out rules decide
    /// (`sync::FanOut`): the shared body for its base, a skipped tick, or eviction. The
    /// room's thread writes to each member's socket itself (one vectored write of the
    /// member's header and the shared body); the members are visited from a start that
    /// moves every tick, so no player is always written last.
    pub(super) fn fan_out(&mut self, msg: &TickState) {
        let checks = MemberChecks::new(&self.settings);
        self.fanout.begin_tick();
        let mut evict = Vec::new();
        let mut silent = Vec::new();
        let mut sent = SentCounts::default();
        let start = (msg.tick % self.members.len().max(1) as u64) as usize;
        let order = self.members.iter().skip(start).chain(self.members.iter().take(start));
        for (&player, m) in order {
            if m.session.is_none() {
                continue;
            }
            let link = &m.link;
            let Some(view) = checks.view(link, m.joined_tick) else {
                silent.push(player);
                continue;
            };
            let (base_tick, body) = match self.fanout.decide(&view, msg.tick, &msg.state, &self.history, &self.events) {
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
            let header = UpdateHeader { tick: msg.tick, base_tick, ack_input: ack, server_time_us: msg.server_time_us };
            self.header.clear();
            write_update_header(&mut self.header, base_tick != 0, &header);
            if link.send_tick(msg.tick, &[&self.header, &body]) {
                sent.frames += 1;
                sent.keyframes += usize::from(base_tick == 0);
                sent.bytes += ws_frame_len(self.header.len() + body.len());
            } else {
                // Its connection is gone; the session ends it and reports.
                link.skip();
                sent.skipped += 1;
            }
        }
        sent.report(msg.computed_at.elapsed());
        self.close_silent_and_evicted(silent, evict);
    }

    /// After a tick's fan-out: closes the members that answered no heartbeat and
    /// evicts those the rules evicted (in a small room or a big one alike).
    pub(super) fn close_silent_and_evicted(&mut self, silent: Vec<PlayerId>, evict: Vec<(PlayerId, Eviction)>) {
        for player in silent {
            // The peer answered nothing; if its socket will not take the close frame
            // either, the session tears the connection down after its close timeout.
            self.end_session(player, Some(close(close_code::POLICY, "heartbeat timeout")), AfterSession::Grace);
        }
        for (player, why) in evict {
            tracing::info!(room = %self.name, player, reason = why.reason(), "evicting member");
            metrics::eviction();
            let farewell = match why {
                // Its socket cannot take a close frame: the session resets it.
                Eviction::Stalled => ToSession::Evict { reason: why.reason().into() },
                Eviction::TooFarBehind => close(close_code::POLICY, why.reason()),
            };
            self.end_session(player, Some(farewell), AfterSession::Grace);
        }
    }
}

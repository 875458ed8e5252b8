//! The room's fan-out rules, as plain code: given one tick's state and what each member
//! has taken so far, what that member gets — a body from its baseline or a keyframe, a
//! skipped tick, or eviction — with every body encoded once per distinct base and shared.
//!
//! The room actor feeds it what the member's link says (its baseline, whether it can
//! take a frame, whether it stalled) and moves the bytes; the criterion bench and the
//! property test drive the same type, so the rules live in one place. No actix, no
//! clock: runs on the room's thread, allocates only when a body is encoded.

use super::baseline::{History, UpdateBase};
use super::delta::{encode_delta, encode_events, encode_snapshot};
use super::state::EntityState;
use crate::metrics;
use bytes::Bytes;
use std::collections::VecDeque;

/// The bounds the rules apply (from `sync.*`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FanOutRules {
    /// A member further behind than this gets a keyframe (`sync.max_baseline_age_ticks`).
    pub max_baseline_age_ticks: u64,
    /// A member owed more events than this is evicted (`sync.max_pending_events`), and
    /// the log keeps no more.
    pub max_pending_events: usize,
}

/// What the room knows of one member on this tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemberView {
    /// The last tick handed to its socket; 0 when none yet.
    pub baseline: u64,
    /// The tick it joined (or resumed) at: it is owed the events after it until it has
    /// a baseline.
    pub joined_tick: u64,
    /// It can take a frame now (none in flight, its pending bytes under the limit).
    pub can_take: bool,
    /// It has taken nothing for `limits.stall_timeout_s`.
    pub stalled: bool,
}

/// Why a member is evicted. The two differ on the wire: a stalled reader's socket
/// cannot take a close frame, so it is reset; a member that reads but is owed too many
/// events gets a 1008 close frame like any policy close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eviction {
    /// It took nothing for `limits.stall_timeout_s`: reset the connection.
    Stalled,
    /// It is owed more events than the log holds or `sync.max_pending_events`.
    TooFarBehind,
}

impl Eviction {
    /// The reason sent (and logged).
    pub fn reason(self) -> &'static str {
        match self {
            Eviction::Stalled => "not reading: evicted after stall timeout",
            Eviction::TooFarBehind => "too far behind to deliver events: evicted",
        }
    }
}

/// One member's outcome for the tick.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Send this body with this base tick in the header (0: a keyframe).
    Send {
        /// The header's base tick; 0 for a keyframe.
        base_tick: u64,
        /// The shared body (a clone of the bytes every member on this base gets).
        body: Bytes,
    },
    /// It cannot take a frame now: it skips this tick and later gets a delta from its
    /// own baseline, or a keyframe.
    Skip,
    /// Evict it.
    Evict(Eviction),
}

/// The encoded events of recent ticks, oldest first, bounded by
/// `sync.max_pending_events`: what a member behind is still owed.
#[derive(Debug, Clone, Default)]
pub struct EventLog {
    events: VecDeque<(u64, Bytes)>,
    /// Every event of every tick from here on is still in the log.
    complete_from: u64,
}

impl EventLog {
    /// An empty log, complete from `tick` on (a room restored at `tick` starts there).
    pub fn starting_at(tick: u64) -> Self {
        EventLog { events: VecDeque::new(), complete_from: tick }
    }

    /// Adds one tick's encoded events, dropping the oldest beyond `max`.
    pub fn record(&mut self, tick: u64, encoded: impl IntoIterator<Item = Bytes>, max: usize) {
        self.events.extend(encoded.into_iter().map(|e| (tick, e)));
        while self.events.len() > max {
            if let Some((t, _)) = self.events.pop_front() {
                self.complete_from = t + 1;
            }
        }
    }

    /// The events of the ticks after `tick`, oldest first.
    pub fn after(&self, tick: u64) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        let start = self.events.partition_point(|(t, _)| *t <= tick);
        self.events.range(start..).map(|(_, b)| b.as_ref())
    }

    /// True when every event after `tick` is still in the log.
    pub fn complete_after(&self, tick: u64) -> bool {
        tick + 1 >= self.complete_from
    }
}

/// The fan-out of one room: its rules, and this tick's bodies by (base, keyframe).
#[derive(Debug)]
pub struct FanOut {
    rules: FanOutRules,
    bodies: Vec<((u64, bool), Bytes)>,
    scratch: [Vec<u8>; 3],
}

impl FanOut {
    /// A fan-out applying `rules`.
    pub fn new(rules: FanOutRules) -> Self {
        FanOut { rules, bodies: Vec::new(), scratch: Default::default() }
    }

    /// Starts a tick: the previous tick's bodies are forgotten.
    pub fn begin_tick(&mut self) {
        self.bodies.clear();
    }

    /// Decides what `member` gets for `tick`, whose state is `current` (already pushed
    /// into `history`), encoding the body if no member on the same base needed it yet.
    pub fn decide(
        &mut self,
        member: &MemberView,
        tick: u64,
        current: &EntityState,
        history: &History,
        events: &EventLog,
    ) -> Decision {
        let rules = self.rules;
        if member.stalled {
            return Decision::Evict(Eviction::Stalled);
        }
        if !member.can_take {
            return Decision::Skip;
        }
        let delivered = if member.baseline == 0 { member.joined_tick } else { member.baseline };
        if !events.complete_after(delivered) || events.after(delivered).len() > rules.max_pending_events {
            return Decision::Evict(Eviction::TooFarBehind);
        }
        let keyframe = history.choose_base(member.baseline, tick, rules.max_baseline_age_ticks) == UpdateBase::Keyframe;
        let (keyframe, body) = match self.body_for((delivered, keyframe), current, history, events) {
            Some(body) => (keyframe, body),
            // The base state could not be had (a packed state that did not unpack: a
            // bug, never expected): a keyframe, never a delta from a wrong base.
            None => (true, self.body_for((delivered, true), current, history, events).unwrap_or_default()),
        };
        Decision::Send { base_tick: if keyframe { 0 } else { member.baseline }, body }
    }

    /// The body for members whose events start after `from` and whose update is a
    /// keyframe or a delta from `from`: encoded the first time it is asked for. `None`
    /// for a delta whose base state the ring cannot give.
    fn body_for(
        &mut self,
        key: (u64, bool),
        current: &EntityState,
        history: &History,
        events: &EventLog,
    ) -> Option<Bytes> {
        if let Some((_, b)) = self.bodies.iter().find(|(k, _)| *k == key) {
            return Some(b.clone());
        }
        let (from, keyframe) = key;
        let mut owed = Vec::new();
        encode_events(events.after(from), &mut owed);
        let mut out = Vec::with_capacity(64 + current.len() * 4 + owed.len());
        if keyframe {
            encode_snapshot(current, &owed, &mut out);
            metrics::keyframe_encoded();
        } else {
            let base = history.get(from)?;
            encode_delta(&base, current, &owed, &mut self.scratch, &mut out);
        }
        let body = Bytes::from(out);
        self.bodies.push((key, body.clone()));
        Some(body)
    }

    /// Bodies encoded this tick (one per distinct base in use).
    pub fn bodies_encoded(&self) -> usize {
        self.bodies.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    const RULES: FanOutRules = FanOutRules { max_baseline_age_ticks: 4, max_pending_events: 3 };

    fn state(x: i32) -> Arc<EntityState> {
        let mut s = EntityState::default();
        s.push(1, 0, &[x, 0]);
        s.finish();
        Arc::new(s)
    }

    fn member(baseline: u64) -> MemberView {
        MemberView { baseline, joined_tick: 0, can_take: true, stalled: false }
    }

    fn room(ticks: u64) -> (History, EventLog) {
        let mut h = History::new(8);
        for t in 1..=ticks {
            h.push(t, state(t as i32));
        }
        (h, EventLog::default())
    }

    #[test]
    fn members_in_step_share_one_body_and_a_member_behind_gets_its_own_base() {
        let (h, log) = room(10);
        let mut f = FanOut::new(RULES);
        f.begin_tick();
        let a = f.decide(&member(9), 10, &state(10), &h, &log);
        let b = f.decide(&member(9), 10, &state(10), &h, &log);
        let behind = f.decide(&member(7), 10, &state(10), &h, &log);
        assert_eq!(a, b);
        assert!(matches!(&a, Decision::Send { base_tick: 9, .. }));
        assert!(matches!(&behind, Decision::Send { base_tick: 7, .. }));
        assert_eq!(f.bodies_encoded(), 2);
    }

    #[test]
    fn no_baseline_or_too_old_a_baseline_gets_a_keyframe() {
        let (h, log) = room(10);
        let mut f = FanOut::new(RULES);
        f.begin_tick();
        assert!(matches!(f.decide(&member(0), 10, &state(10), &h, &log), Decision::Send { base_tick: 0, .. }));
        assert!(matches!(f.decide(&member(5), 10, &state(10), &h, &log), Decision::Send { base_tick: 0, .. }));
        assert_eq!(f.bodies_encoded(), 2, "a keyframe for events from 0 and one for events from 5");
    }

    #[test]
    fn a_member_that_cannot_take_skips_and_a_stalled_one_is_evicted_first() {
        let (h, log) = room(3);
        let mut f = FanOut::new(RULES);
        let busy = MemberView { can_take: false, ..member(2) };
        let stalled = MemberView { can_take: false, stalled: true, ..member(2) };
        assert_eq!(f.decide(&busy, 3, &state(3), &h, &log), Decision::Skip);
        assert_eq!(f.decide(&stalled, 3, &state(3), &h, &log), Decision::Evict(Eviction::Stalled));
        assert_eq!(f.bodies_encoded(), 0);
    }

    #[test]
    fn a_member_owed_more_events_than_the_log_holds_is_evicted() {
        let (h, mut log) = room(6);
        for t in 1..=6 {
            log.record(t, [Bytes::from_static(b"e")], RULES.max_pending_events);
        }
        let mut f = FanOut::new(RULES);
        // The log kept ticks 4..=6: a member at 3 is owed exactly those, one at 2 lost one.
        assert!(matches!(f.decide(&member(3), 6, &state(6), &h, &log), Decision::Send { .. }));
        assert_eq!(f.decide(&member(2), 6, &state(6), &h, &log), Decision::Evict(Eviction::TooFarBehind));
    }
}

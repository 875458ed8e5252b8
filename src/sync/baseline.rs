//! Per-member baselines: which recent states a room keeps, and what each member gets.
//!
//! A member's baseline is the last tick whose bytes were handed to its socket. A member
//! in step gets the shared delta from the previous tick; one that missed ticks gets a
//! delta from its own baseline; one whose baseline is older than
//! `sync.max_baseline_age_ticks`, or gone from the ring of `sync.history_ticks` states,
//! or that has none yet, gets a keyframe. The chain a client holds is never broken.

use super::state::EntityState;
use crate::protocol::{Reader, Writer};
use std::collections::VecDeque;
use std::sync::Arc;

/// What a member's next update is relative to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UpdateBase {
    /// A full snapshot.
    Keyframe,
    /// A delta from this tick (the member's baseline).
    Delta(u64),
}

/// How many of the newest states the ring keeps whole: the current tick's and the one
/// before, which members in step get their delta from on every tick. Older states are
/// needed only for members that fell behind, and are kept packed.
const KEPT_WHOLE: usize = 2;

/// One state of the ring.
#[derive(Debug, Clone)]
enum Kept {
    Whole(Arc<EntityState>),
    /// [`pack`]ed: a third to a half of the whole state's size for the arena.
    Packed(Box<[u8]>),
}

/// The recent states of a room, oldest first, at most `capacity` of them.
///
/// The newest two are kept as they are; older ones are packed into varints (ids as differences,
/// then kind, field count and each field) and unpacked only when a member's baseline is
/// one of them, once per tick and baseline (the fan-out shares the body it encodes). So
/// `sync.history_ticks` costs about 10 bytes per entity per tick kept rather than 24.
#[derive(Debug, Clone)]
pub struct History {
    states: VecDeque<(u64, Kept)>,
    capacity: usize,
}

impl History {
    /// An empty ring holding at most `capacity` states.
    pub fn new(capacity: usize) -> Self {
        History { states: VecDeque::with_capacity(capacity), capacity }
    }

    /// Adds the state of `tick` (ticks increase), dropping the oldest beyond capacity.
    pub fn push(&mut self, tick: u64, state: Arc<EntityState>) {
        self.states.push_back((tick, Kept::Whole(state)));
        while self.states.len() > self.capacity {
            self.states.pop_front();
        }
        if let Some(i) = self.states.len().checked_sub(KEPT_WHOLE + 1) {
            if let (_, Kept::Whole(old)) = &self.states[i] {
                let packed = pack(old);
                self.states[i].1 = Kept::Packed(packed);
            }
        }
    }

    /// Whether the state of `tick` is still held.
    pub fn contains(&self, tick: u64) -> bool {
        self.index(tick).is_some()
    }

    /// The state of `tick`, if still held (unpacked if it is an older one).
    pub fn get(&self, tick: u64) -> Option<Arc<EntityState>> {
        match &self.states[self.index(tick)?].1 {
            Kept::Whole(state) => Some(state.clone()),
            Kept::Packed(bytes) => unpack(bytes).map(Arc::new),
        }
    }

    fn index(&self, tick: u64) -> Option<usize> {
        let first = self.states.front()?.0;
        let i = usize::try_from(tick.checked_sub(first)?).ok()?;
        // Ticks can skip (a room that missed a world tick), so check rather than trust i.
        match self.states.get(i) {
            Some((t, _)) if *t == tick => Some(i),
            _ => self.states.iter().position(|(t, _)| *t == tick),
        }
    }

    /// Chooses the base of a member's update for `tick`. `baseline` 0 means none.
    pub fn choose_base(&self, baseline: u64, tick: u64, max_age: u64) -> UpdateBase {
        if baseline == 0 || baseline >= tick || tick - baseline > max_age || !self.contains(baseline) {
            UpdateBase::Keyframe
        } else {
            UpdateBase::Delta(baseline)
        }
    }
}

/// Packs `state` for the ring: the entity count, then per entity its id as the difference
/// from the previous one, its kind, its field count and its fields, all varints.
fn pack(state: &EntityState) -> Box<[u8]> {
    let mut out = Vec::with_capacity(8 + state.len() * 8);
    let mut w = Writer::new(&mut out);
    w.u64(state.len() as u64);
    let mut previous = 0i64;
    for e in state.iter() {
        // Signed: ids rise in a finished state, and any order still round-trips.
        w.i64(i64::from(e.id) - previous);
        previous = i64::from(e.id);
        w.u64(u64::from(e.kind));
        w.u64(e.fields.len() as u64);
        for &v in e.fields {
            w.i64(i64::from(v));
        }
    }
    out.into_boxed_slice()
}

/// The state [`pack`] packed (`None` only if the bytes are not its: they never leave the
/// ring, so that would be a bug; the fan-out then sends a keyframe, never a wrong delta).
fn unpack(bytes: &[u8]) -> Option<EntityState> {
    let mut r = Reader::new(bytes);
    // Every entity takes at least three bytes: the count cannot ask for more room.
    let n = r.count(bytes.len() / 3).ok()?;
    let mut state = EntityState::with_capacity(n, n * 3);
    let (mut id, mut fields) = (0i64, Vec::new());
    for _ in 0..n {
        id = id.checked_add(r.i64().ok()?)?;
        let kind = u16::try_from(r.u64().ok()?).ok()?;
        let len = r.count(r.remaining()).ok()?;
        fields.clear();
        for _ in 0..len {
            fields.push(r.i32().ok()?);
        }
        state.push(u32::try_from(id).ok()?, kind, &fields);
    }
    (r.remaining() == 0).then_some(state)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(tick: i32) -> Arc<EntityState> {
        let mut s = EntityState::new();
        s.push(1, 0, &[tick, -tick, 70_000 * tick]);
        s.push(7, 1, &[i32::MIN, i32::MAX]);
        s.push(300, 0, &[]);
        Arc::new(s)
    }

    #[test]
    fn older_states_come_back_as_they_went_in() {
        let mut ring = History::new(5);
        for tick in 1..=8 {
            ring.push(tick, state(tick as i32));
        }
        assert!(!ring.contains(3), "only five are kept");
        for tick in 4..=8 {
            assert_eq!(ring.get(tick).as_deref(), Some(&*state(tick as i32)), "tick {tick}");
        }
        assert!(matches!(ring.states[0].1, Kept::Packed(_)));
        assert!(matches!(ring.states[4].1, Kept::Whole(_)));
        assert!(matches!(ring.states[3].1, Kept::Whole(_)));
        assert!(matches!(ring.states[2].1, Kept::Packed(_)));
    }

    #[test]
    fn a_packed_state_is_smaller_than_the_whole_one() {
        let mut s = EntityState::new();
        for id in 1..=70 {
            s.push(id, 0, &[4_000 + id as i32, 5_000 - id as i32, 3]);
        }
        let whole = s.len() * (12 + 3 * 4);
        assert!(pack(&s).len() * 2 < whole, "{} packed against {whole}", pack(&s).len());
    }

    #[test]
    fn bytes_that_are_not_a_packed_state_unpack_to_nothing() {
        assert_eq!(unpack(&[]), None);
        assert_eq!(unpack(&[200]), None);
        let mut bytes = pack(&state(3)).into_vec();
        bytes.push(0);
        assert_eq!(unpack(&bytes), None);
    }
}

//! Per-member baselines: which recent states a room keeps, and what each member gets.
//!
//! A member's baseline is the last tick whose bytes were handed to its socket. A member
//! in step gets the shared delta from the previous tick; one that missed ticks gets a
//! delta from its own baseline; one whose baseline is older than
//! `sync.max_baseline_age_ticks`, or gone from the ring of `sync.history_ticks` states,
//! or that has none yet, gets a keyframe. The chain a client holds is never broken.

use super::state::EntityState;
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

/// The recent states of a room, oldest first, at most `capacity` of them.
#[derive(Debug, Clone)]
pub struct History {
    states: VecDeque<(u64, Arc<EntityState>)>,
    capacity: usize,
}

impl History {
    /// An empty ring holding at most `capacity` states.
    pub fn new(capacity: usize) -> Self {
        History { states: VecDeque::with_capacity(capacity), capacity }
    }

    /// Adds the state of `tick` (ticks increase), dropping the oldest beyond capacity.
    pub fn push(&mut self, tick: u64, state: Arc<EntityState>) {
        self.states.push_back((tick, state));
        while self.states.len() > self.capacity {
            self.states.pop_front();
        }
    }

    /// The state of `tick`, if still held.
    pub fn get(&self, tick: u64) -> Option<&Arc<EntityState>> {
        let first = self.states.front()?.0;
        let i = usize::try_from(tick.checked_sub(first)?).ok()?;
        // Ticks can skip (a room that missed a world tick), so check rather than trust i.
        match self.states.get(i) {
            Some((t, s)) if *t == tick => Some(s),
            _ => self.states.iter().find(|(t, _)| *t == tick).map(|(_, s)| s),
        }
    }

    /// Chooses the base of a member's update for `tick`. `baseline` 0 means none.
    pub fn choose_base(&self, baseline: u64, tick: u64, max_age: u64) -> UpdateBase {
        if baseline == 0 || baseline >= tick || tick - baseline > max_age || self.get(baseline).is_none() {
            UpdateBase::Keyframe
        } else {
            UpdateBase::Delta(baseline)
        }
    }
}

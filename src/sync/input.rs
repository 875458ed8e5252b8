//! One player's pending inputs: a bounded FIFO shared by the player's session (which
//! pushes decoded inputs) and the world (which applies one per tick, oldest first).
//!
//! A short parking_lot critical section instead of a mailbox message per input: the bound
//! is per player (`limits.input_queue`), which the world's shared mailbox could not give.
//! Sequence numbers must increase; stale and duplicate inputs are refused here, so the
//! world applies each input at most once and in order.

use parking_lot::Mutex;
use std::collections::VecDeque;

/// What happened to a pushed input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PushOutcome {
    /// Queued for a later tick.
    Queued,
    /// Its sequence number was not above the last one accepted: dropped.
    Stale,
    /// The queue was full: dropped.
    Overflow,
}

#[derive(Debug)]
struct Inner {
    items: VecDeque<(u32, Vec<i32>)>,
    last_accepted: u32,
}

/// A bounded queue of one player's inputs.
#[derive(Debug)]
pub struct InputQueue {
    inner: Mutex<Inner>,
    capacity: usize,
}

impl InputQueue {
    /// A queue holding at most `capacity` inputs; sequence numbers must exceed `last_seq`.
    pub fn new(capacity: usize, last_seq: u32) -> Self {
        InputQueue {
            inner: Mutex::new(Inner { items: VecDeque::with_capacity(capacity.min(64)), last_accepted: last_seq }),
            capacity,
        }
    }

    /// Queues an input unless it is stale or the queue is full.
    pub fn push(&self, seq: u32, values: Vec<i32>) -> PushOutcome {
        let mut inner = self.inner.lock();
        if seq <= inner.last_accepted {
            return PushOutcome::Stale;
        }
        if inner.items.len() >= self.capacity {
            return PushOutcome::Overflow;
        }
        inner.last_accepted = seq;
        inner.items.push_back((seq, values));
        PushOutcome::Queued
    }

    /// The oldest queued input, if any.
    pub fn pop(&self) -> Option<(u32, Vec<i32>)> {
        self.inner.lock().items.pop_front()
    }

    /// Number of queued inputs.
    pub fn len(&self) -> usize {
        self.inner.lock().items.len()
    }

    /// True when nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_stale_and_duplicate_and_overflow() {
        let q = InputQueue::new(2, 0);
        assert_eq!(q.push(1, vec![1]), PushOutcome::Queued);
        assert_eq!(q.push(1, vec![1]), PushOutcome::Stale);
        assert_eq!(q.push(3, vec![3]), PushOutcome::Queued);
        assert_eq!(q.push(2, vec![2]), PushOutcome::Stale);
        assert_eq!(q.push(4, vec![4]), PushOutcome::Overflow);
        assert_eq!(q.pop(), Some((1, vec![1])));
        assert_eq!(q.push(4, vec![4]), PushOutcome::Queued);
        assert_eq!(q.pop().map(|p| p.0), Some(3));
        assert_eq!(q.pop().map(|p| p.0), Some(4));
        assert_eq!(q.pop(), None);
    }
}

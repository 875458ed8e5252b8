//! One player's pending inputs: a bounded FIFO shared by the player's session (which
//! pushes decoded inputs) and the world (which applies one per tick, oldest first). The
//! values are held inline ([`InputValues`]), so an input costs no allocation.
//!
//! A short parking_lot critical section instead of a mailbox message per input: the bound
//! is per player (`limits.input_queue`), which the world's shared mailbox could not give.
//! Sequence numbers must increase; stale and duplicate inputs are refused here, so the
//! world applies each input at most once and in order.

use crate::protocol::MAX_INPUT_FIELDS;
use parking_lot::Mutex;
use std::collections::VecDeque;

/// One input's values, held inline: queueing an input allocates nothing. A game has at
/// most [`MAX_INPUT_FIELDS`] input fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InputValues {
    len: u8,
    values: [i32; MAX_INPUT_FIELDS],
}

impl InputValues {
    /// The values of `values`, if there are at most [`MAX_INPUT_FIELDS`] of them.
    pub fn new(values: &[i32]) -> Option<Self> {
        let mut v = InputValues { len: values.len().try_into().ok()?, values: [0; MAX_INPUT_FIELDS] };
        v.values.get_mut(..values.len())?.copy_from_slice(values);
        Some(v)
    }
}

impl std::ops::Deref for InputValues {
    type Target = [i32];
    fn deref(&self) -> &[i32] {
        &self.values[..self.len as usize]
    }
}

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
    items: VecDeque<(u32, InputValues)>,
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
    pub fn push(&self, seq: u32, values: InputValues) -> PushOutcome {
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
    pub fn pop(&self) -> Option<(u32, InputValues)> {
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
        let v = |x: i32| InputValues::new(&[x]).unwrap();
        assert_eq!(q.push(1, v(1)), PushOutcome::Queued);
        assert_eq!(q.push(1, v(1)), PushOutcome::Stale);
        assert_eq!(q.push(3, v(3)), PushOutcome::Queued);
        assert_eq!(q.push(2, v(2)), PushOutcome::Stale);
        assert_eq!(q.push(4, v(4)), PushOutcome::Overflow);
        assert_eq!(q.pop().map(|(s, v)| (s, v.to_vec())), Some((1, vec![1])));
        assert_eq!(q.push(4, v(4)), PushOutcome::Queued);
        assert_eq!(q.pop().map(|p| p.0), Some(3));
        assert_eq!(q.pop().map(|p| p.0), Some(4));
        assert_eq!(q.pop(), None);
    }

    #[test]
    fn input_values_hold_up_to_the_schema_limit() {
        let most = [7; MAX_INPUT_FIELDS];
        assert_eq!(&*InputValues::new(&most).unwrap(), &most[..]);
        assert_eq!(&*InputValues::new(&[]).unwrap(), &[] as &[i32]);
        assert!(InputValues::new(&[0; MAX_INPUT_FIELDS + 1]).is_none());
    }
}

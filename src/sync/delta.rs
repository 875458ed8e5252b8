//! The update body: a full snapshot, or a delta between two states, then the tick's events.
//!
//! Layout (every integer a bincode-standard varint, see `docs/PROTOCOL.md`):
//! - snapshot: `count, (id_gap, kind, field…)*, events`
//! - delta: `created_count, (id_gap, kind, field…)*, changed_count, (id_gap, mask,
//!   field_change…)*, removed_count, id_gap*, events`
//!
//! Ids in each list are increasing and sent as the gap from the previous id of the same
//! list (the first from 0). A changed entity sends a u32 mask of its changed fields and,
//! for each set bit from the lowest, `new - old` (wrapping i32, zigzag): a player moving
//! a few hundred quanta per tick costs one byte per axis. Entities whose kind changed are
//! sent as created. Created entities and snapshot fields are absolute values (zigzag).
//!
//! The client side (decoding a body, applying it to the state held) is the
//! `tickcast-client` crate's (`UpdateHeader::decode_body`, `World::apply`), which the
//! tests use to check these encoders.

use super::state::{EntityRef, EntityState};
use crate::protocol::{EntityId, Writer};

/// What one delta encoding contained, for metrics and benches.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DeltaStats {
    /// Entities sent whole.
    pub created: usize,
    /// Entities sent as field changes.
    pub changed: usize,
    /// Entities removed.
    pub removed: usize,
    /// Bytes of the state part (without events).
    pub state_bytes: usize,
}

fn write_entity(w: &mut Writer<'_>, prev: &mut EntityId, e: EntityRef<'_>) {
    w.u64((e.id - *prev) as u64);
    *prev = e.id;
    w.u64(e.kind as u64);
    for &v in e.fields {
        w.i64(v as i64);
    }
}

/// Encodes a full snapshot body of `state` followed by the events section `events`
/// (as made by [`encode_events`]).
pub fn encode_snapshot(state: &EntityState, events: &[u8], out: &mut Vec<u8>) -> DeltaStats {
    let start = out.len();
    let mut w = Writer::new(out);
    w.u64(state.len() as u64);
    let mut prev = 0;
    for e in state.iter() {
        write_entity(&mut w, &mut prev, e);
    }
    let state_bytes = out.len() - start;
    out.extend_from_slice(events);
    DeltaStats { created: state.len(), changed: 0, removed: 0, state_bytes }
}

/// Encodes the delta from `base` to `current` followed by the events section `events`.
/// `scratch` holds reusable buffers so a warm tick allocates nothing.
pub fn encode_delta(
    base: &EntityState,
    current: &EntityState,
    events: &[u8],
    scratch: &mut [Vec<u8>; 3],
    out: &mut Vec<u8>,
) -> DeltaStats {
    let [created, changed, removed] = scratch;
    created.clear();
    changed.clear();
    removed.clear();
    let mut stats = DeltaStats::default();
    let (mut prev_created, mut prev_changed, mut prev_removed) = (0, 0, 0);
    let (mut i, mut j) = (0, 0);
    while i < base.len() || j < current.len() {
        let old = (i < base.len()).then(|| base.at(i));
        let new = (j < current.len()).then(|| current.at(j));
        match (old, new) {
            (Some(o), Some(n)) if o.id == n.id => {
                i += 1;
                j += 1;
                if o.kind != n.kind || o.fields.len() != n.fields.len() {
                    write_entity(&mut Writer::new(created), &mut prev_created, n);
                    stats.created += 1;
                    continue;
                }
                let mut mask = 0u32;
                for (bit, (a, b)) in o.fields.iter().zip(n.fields).enumerate() {
                    if a != b {
                        mask |= 1 << bit;
                    }
                }
                if mask == 0 {
                    continue;
                }
                let mut w = Writer::new(changed);
                w.u64((n.id - prev_changed) as u64);
                prev_changed = n.id;
                w.u64(mask as u64);
                for (a, b) in o.fields.iter().zip(n.fields) {
                    if a != b {
                        w.i64(b.wrapping_sub(*a) as i64);
                    }
                }
                stats.changed += 1;
            }
            (Some(o), Some(n)) if o.id < n.id => {
                i += 1;
                Writer::new(removed).u64((o.id - prev_removed) as u64);
                prev_removed = o.id;
                stats.removed += 1;
            }
            (Some(o), None) => {
                i += 1;
                Writer::new(removed).u64((o.id - prev_removed) as u64);
                prev_removed = o.id;
                stats.removed += 1;
            }
            (_, Some(n)) => {
                j += 1;
                write_entity(&mut Writer::new(created), &mut prev_created, n);
                stats.created += 1;
            }
            (None, None) => unreachable!("loop condition"),
        }
    }
    let start = out.len();
    let mut w = Writer::new(out);
    w.u64(stats.created as u64);
    w.raw(created);
    w.u64(stats.changed as u64);
    w.raw(changed);
    w.u64(stats.removed as u64);
    w.raw(removed);
    stats.state_bytes = out.len() - start;
    out.extend_from_slice(events);
    stats
}

/// Encodes an events section: a count, then each event (bincode enum).
pub fn encode_events<'a>(events: impl ExactSizeIterator<Item = &'a [u8]>, out: &mut Vec<u8>) {
    Writer::new(out).u64(events.len() as u64);
    for e in events {
        out.extend_from_slice(e);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moving_entity_costs_four_bytes() {
        let mut a = EntityState::new();
        let mut b = EntityState::new();
        for id in 1..=50 {
            a.push(id, 0, &[1000, 1000]);
            b.push(id, 0, &[1100, 929]);
        }
        let mut body = Vec::new();
        let stats = encode_delta(&a, &b, &[0], &mut Default::default(), &mut body);
        assert_eq!(stats.changed, 50);
        assert!(stats.state_bytes <= 50 * 4 + 3, "{} bytes", stats.state_bytes);
    }
}

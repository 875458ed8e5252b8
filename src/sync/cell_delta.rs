//! The body of a cell section that is a delta (`docs/PROTOCOL.md`, "Cell delta body"):
//! like a Delta's, but compact for what cells are — a few entities with scattered ids.
//!
//! Layout (varints as everywhere): `flags`, then only the lists the flags name —
//! bit 0 `created_count, (id_gap, kind, field…)*`; bit 1 `changed_count, (index_gap,
//! mask, change…)*`; bit 2 `removed_count, index_gap*`; bit 3 the events section.
//!
//! A changed or removed entity is named by its **index** in the client's copy of the
//! cell (sorted by id), as a gap from the previous index of the same list (the first
//! from 0): entities of one cell have ids far apart (three bytes a gap) but neighbouring
//! indexes (one byte). Created entities carry their ids, as in a Delta.

use super::delta::DeltaStats;
use super::state::{EntityRef, EntityState};
use crate::protocol::{EntityId, Writer};

/// Flag: a created list follows.
pub const CELL_CREATED: u8 = 1;
/// Flag: a changed list follows.
pub const CELL_CHANGED: u8 = 2;
/// Flag: a removed list follows.
pub const CELL_REMOVED: u8 = 4;
/// Flag: an events section follows.
pub const CELL_EVENTS: u8 = 8;

fn write_created(w: &mut Writer<'_>, prev: &mut EntityId, e: EntityRef<'_>) {
    w.u64(u64::from(e.id - *prev));
    *prev = e.id;
    w.u64(u64::from(e.kind));
    for &v in e.fields {
        w.i64(i64::from(v));
    }
}

/// Encodes the cell delta from `base` to `current`, then `events` (an events section
/// as [`super::encode_events`] makes it; `event_count` 0 leaves it out). `scratch` holds
/// reusable buffers. The stats count entities as a Delta's do.
pub fn encode_cell_delta(
    base: &EntityState,
    current: &EntityState,
    events: &[u8],
    event_count: usize,
    scratch: &mut [Vec<u8>; 3],
    out: &mut Vec<u8>,
) -> DeltaStats {
    let [created, changed, removed] = scratch;
    created.clear();
    changed.clear();
    removed.clear();
    let mut stats = DeltaStats::default();
    let (mut prev_created, mut prev_changed, mut prev_removed) = (0, 0usize, 0usize);
    let (mut i, mut j) = (0, 0);
    while i < base.len() || j < current.len() {
        let old = (i < base.len()).then(|| base.at(i));
        let new = (j < current.len()).then(|| current.at(j));
        match (old, new) {
            (Some(o), Some(n)) if o.id == n.id => {
                i += 1;
                j += 1;
                if o.kind != n.kind || o.fields.len() != n.fields.len() {
                    // Sent whole: it replaces the entity of that id.
                    write_created(&mut Writer::new(created), &mut prev_created, n);
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
                let index = i - 1;
                let mut w = Writer::new(changed);
                w.u64((index - prev_changed) as u64);
                prev_changed = index;
                w.u64(u64::from(mask));
                for (a, b) in o.fields.iter().zip(n.fields) {
                    if a != b {
                        w.i64(i64::from(b.wrapping_sub(*a)));
                    }
                }
                stats.changed += 1;
            }
            (Some(o), n) if n.is_none_or(|n| o.id < n.id) => {
                let index = i;
                i += 1;
                Writer::new(removed).u64((index - prev_removed) as u64);
                prev_removed = index;
                stats.removed += 1;
            }
            (_, Some(n)) => {
                j += 1;
                write_created(&mut Writer::new(created), &mut prev_created, n);
                stats.created += 1;
            }
            _ => break,
        }
    }
    let flag = |on: bool, bit: u8| if on { bit } else { 0 };
    let flags = flag(stats.created > 0, CELL_CREATED)
        | flag(stats.changed > 0, CELL_CHANGED)
        | flag(stats.removed > 0, CELL_REMOVED)
        | flag(event_count > 0, CELL_EVENTS);
    let start = out.len();
    let mut w = Writer::new(out);
    w.u64(u64::from(flags));
    for (count, list) in [(stats.created, &*created), (stats.changed, &*changed), (stats.removed, &*removed)] {
        if count > 0 {
            w.u64(count as u64);
            w.raw(list);
        }
    }
    stats.state_bytes = out.len() - start;
    if event_count > 0 {
        out.extend_from_slice(events);
    }
    stats
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entities_far_apart_cost_one_byte_to_name() {
        let (mut a, mut b) = (EntityState::new(), EntityState::new());
        for k in 0..5 {
            a.push(300 * k + 1, 0, &[1000, 1000]);
            b.push(300 * k + 1, 0, &[1100, 990]);
        }
        let mut out = Vec::new();
        let stats = encode_cell_delta(&a, &b, &[], 0, &mut Default::default(), &mut out);
        assert_eq!(stats.changed, 5);
        // flags, count, then per entity: index gap, mask, two one-byte changes... 100
        // is zigzag 200, still one byte.
        assert_eq!(out.len(), 2 + 5 * 4);
        assert_eq!(out[0], CELL_CHANGED);
    }

    #[test]
    fn nothing_changed_is_one_byte() {
        let mut a = EntityState::new();
        a.push(5, 0, &[1]);
        let mut out = Vec::new();
        encode_cell_delta(&a, &a, &[], 0, &mut Default::default(), &mut out);
        assert_eq!(out, vec![0]);
    }
}

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

use super::state::{EntityRef, EntityState};
use crate::protocol::{codec::Reader, DecodeError, EntityId, Event, Schema, ServerMessage, Writer};
use std::collections::BTreeMap;

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

/// A client's copy of a room's state, rebuilt from Snapshots and Deltas. Used by the
/// tests and the load generator; `assets/state.js` implements the same rules.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientState {
    /// The tick the state describes (0: nothing received yet).
    pub tick: u64,
    /// Entities by id: kind and field values.
    pub entities: BTreeMap<EntityId, (u16, Vec<i32>)>,
}

impl ClientState {
    /// Applies a Snapshot or Delta, returning its events. Other messages are ignored.
    /// A delta whose base is not the tick held is refused: the chain would be broken.
    pub fn apply(&mut self, msg: &ServerMessage<'_>, schema: &Schema) -> Result<Vec<Event>, DecodeError> {
        match msg {
            ServerMessage::Snapshot { header, body } => {
                let mut r = Reader::new(body);
                let mut entities = BTreeMap::new();
                read_entities(&mut r, schema, &mut entities)?;
                let events = read_events(&mut r)?;
                self.entities = entities;
                self.tick = header.tick;
                Ok(events)
            }
            ServerMessage::Delta { header, body } => {
                if header.base_tick != self.tick {
                    return Err(DecodeError::Invalid(format!(
                        "delta from tick {} but client holds tick {}",
                        header.base_tick, self.tick
                    )));
                }
                let mut next = self.entities.clone();
                let mut r = Reader::new(body);
                read_entities(&mut r, schema, &mut next)?;
                let n = r.count(r.remaining())?;
                let mut prev = 0u32;
                for _ in 0..n {
                    let id = next_id(&mut r, &mut prev)?;
                    let mask = r.u32()?;
                    let (_, fields) = next
                        .get_mut(&id)
                        .ok_or_else(|| DecodeError::Invalid(format!("change to unknown entity {id}")))?;
                    if fields.len() < 32 && mask >> fields.len() != 0 {
                        return Err(DecodeError::Invalid(format!("mask {mask:#x} beyond fields of {id}")));
                    }
                    for (bit, f) in fields.iter_mut().enumerate() {
                        if mask & (1 << bit) != 0 {
                            *f = f.wrapping_add(r.i32()?);
                        }
                    }
                }
                let n = r.count(r.remaining())?;
                let mut prev = 0u32;
                for _ in 0..n {
                    let id = next_id(&mut r, &mut prev)?;
                    next.remove(&id);
                }
                let events = read_events(&mut r)?;
                self.entities = next;
                self.tick = header.tick;
                Ok(events)
            }
            _ => Ok(Vec::new()),
        }
    }

    /// The state as an [`EntityState`], to compare with the server's.
    pub fn to_state(&self) -> EntityState {
        let mut s = EntityState::new();
        for (id, (kind, fields)) in &self.entities {
            s.push(*id, *kind, fields);
        }
        s
    }
}

fn next_id(r: &mut Reader<'_>, prev: &mut u32) -> Result<EntityId, DecodeError> {
    let gap = r.u32()?;
    *prev = prev.checked_add(gap).ok_or_else(|| DecodeError::Invalid("entity id overflows u32".into()))?;
    Ok(*prev)
}

fn read_entities(
    r: &mut Reader<'_>,
    schema: &Schema,
    into: &mut BTreeMap<EntityId, (u16, Vec<i32>)>,
) -> Result<(), DecodeError> {
    let n = r.count(r.remaining())?;
    let mut prev = 0u32;
    for _ in 0..n {
        let id = next_id(r, &mut prev)?;
        let kind = r.u32()?;
        let count =
            schema.field_count(kind).ok_or_else(|| DecodeError::Invalid(format!("unknown entity kind {kind}")))?;
        let fields = (0..count).map(|_| r.i32()).collect::<Result<Vec<_>, _>>()?;
        into.insert(id, (kind as u16, fields));
    }
    Ok(())
}

fn read_events(r: &mut Reader<'_>) -> Result<Vec<Event>, DecodeError> {
    let n = r.count(r.remaining())?;
    let events = (0..n).map(|_| r.value::<Event>()).collect::<Result<Vec<_>, _>>()?;
    if r.remaining() != 0 {
        return Err(DecodeError::TrailingBytes(r.remaining()));
    }
    Ok(events)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{EntityKind, FieldDef, UpdateHeader};

    fn schema() -> Schema {
        Schema {
            game: "t".into(),
            entity_kinds: vec![
                EntityKind { name: "a".into(), fields: vec![FieldDef::new("x", 1), FieldDef::new("y", 1)] },
                EntityKind { name: "b".into(), fields: vec![FieldDef::new("v", 1)] },
            ],
            input: vec![],
            event_kinds: vec![],
        }
    }

    fn header(tick: u64, base_tick: u64) -> UpdateHeader {
        UpdateHeader { tick, base_tick, ack_input: 0, server_time_us: 0 }
    }

    #[test]
    fn delta_round_trips_create_change_remove() {
        let mut a = EntityState::new();
        a.push(1, 0, &[10, 20]);
        a.push(5, 1, &[7]);
        a.push(9, 0, &[0, 0]);
        let mut b = EntityState::new();
        b.push(1, 0, &[12, 20]);
        b.push(7, 1, &[3]);
        b.push(9, 1, &[4]);
        let events = {
            let mut e = Vec::new();
            encode_events(std::iter::empty(), &mut e);
            e
        };
        let mut body = Vec::new();
        encode_snapshot(&a, &events, &mut body);
        let mut client = ClientState::default();
        client.apply(&ServerMessage::Snapshot { header: header(1, 0), body: &body }, &schema()).unwrap();
        assert_eq!(client.to_state(), a);
        let mut scratch = Default::default();
        let mut body = Vec::new();
        let stats = encode_delta(&a, &b, &events, &mut scratch, &mut body);
        assert_eq!((stats.created, stats.changed, stats.removed), (2, 1, 1));
        client.apply(&ServerMessage::Delta { header: header(2, 1), body: &body }, &schema()).unwrap();
        assert_eq!(client.to_state(), b);
        assert_eq!(client.tick, 2);
    }

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

    #[test]
    fn delta_on_wrong_base_is_refused() {
        let s = EntityState::new();
        let mut body = Vec::new();
        encode_delta(&s, &s, &[0], &mut Default::default(), &mut body);
        let mut client = ClientState { tick: 3, ..Default::default() };
        let err = client.apply(&ServerMessage::Delta { header: header(5, 4), body: &body }, &schema());
        assert!(err.is_err());
    }

    /// PROTOCOL.md, "Update body": removing an id the client does not hold is not
    /// malformed (the server never does it; clients ignore it), unlike a change to one.
    #[test]
    fn a_removed_id_the_client_does_not_hold_is_ignored() {
        let mut client = ClientState { tick: 3, ..Default::default() };
        client.entities.insert(1, (0, vec![1, 2]));
        // No created, no changed, removed [7], no events.
        let body = [0, 0, 1, 7, 0];
        client.apply(&ServerMessage::Delta { header: header(4, 3), body: &body }, &schema()).unwrap();
        assert_eq!(client.tick, 4);
        assert_eq!(client.entities.keys().copied().collect::<Vec<_>>(), [1]);
        // A change to it is refused, and leaves the state as it was.
        let body = [0, 1, 7, 1, 2, 0, 0];
        let err = client.apply(&ServerMessage::Delta { header: header(5, 4), body: &body }, &schema());
        assert!(err.is_err());
        assert_eq!(client.tick, 4);
    }
}

//! The Cell update of protocol version 3 (docs/PROTOCOL.md, "Cell update (version 3)"):
//! after the room part, one section per cell of the world the player sees that has
//! something new, then the cells it no longer sees.
//!
//! Everything a section holds is checked here, before any state sees it: the sections
//! and dropped cells are strictly sorted, no cell is both, every `body_len` fits in the
//! bytes left and its body decodes to exactly that many bytes. Counts are bounded by the
//! bytes left and nothing is reserved ahead of what was decoded, so a hostile frame
//! allocates no more than its own size.

use crate::body::{read_entities, read_events, read_state, Body, Change, Entity, Event, Schema};
use crate::wire::{Reader, WireError};
use std::ops::Range;

/// A cell of the world's grid: its column and row (`cell_x`, `cell_y`).
pub type CellId = (i32, i32);

/// What a Cell update carries beyond the room part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cells {
    /// How many of the update's `events` are the room part's (they come first).
    pub room_events: usize,
    /// The cells with something new, sorted by cell, each at most once.
    pub sections: Vec<CellSection>,
    /// The cells the player no longer sees (forget them), sorted, none with a section.
    pub dropped: Vec<CellId>,
}

/// One cell's section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CellSection {
    /// The cell.
    pub cell: CellId,
    /// Its state: the cell whole (`cell_age` 0), or a cell delta from the copy the
    /// client holds (which the client does not check against anything: PROTOCOL.md).
    pub body: SectionBody,
    /// Where its events are in the update's `events` (see
    /// [`Update::section_events`](crate::message::Update::section_events)).
    pub events: Range<usize>,
}

/// A cell section's state (PROTOCOL.md, "Cell delta body").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionBody {
    /// The cell whole: its entities.
    Whole(Vec<Entity>),
    /// The changes from the client's copy of the cell, which is the cell at
    /// `base_tick`: changed and removed entities are named by their index in that copy
    /// (sorted by id), created ones by their id.
    Delta {
        /// `tick − cell_age`: the tick of the copy.
        base_tick: u64,
        /// New entities, or ones re-sent whole.
        created: Vec<Entity>,
        /// Changed entities, by index.
        changed: Vec<IndexedChange>,
        /// Indexes of removed entities, increasing.
        removed: Vec<usize>,
    },
}

/// A changed entity of a cell delta, named by its index in the client's copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexedChange {
    /// Its index in the copy, sorted by id.
    pub index: usize,
    /// Bit i set: field i changed.
    pub mask: u32,
    /// The differences, one per set bit, lowest bit first.
    pub changes: Vec<i32>,
}

/// Flags of a cell delta body: which parts follow.
const CREATED: u64 = 1;
const CHANGED: u64 = 2;
const REMOVED: u64 = 4;
const EVENTS: u64 = 8;

impl SectionBody {
    /// This section as a [`Body`] over `ids`, the ids of the copy held (sorted):
    /// indexes become ids. An index beyond the copy is malformed.
    pub fn resolve(&self, ids: &[u32]) -> Result<Body, WireError> {
        let id_at = |index: usize| {
            ids.get(index).copied().ok_or_else(|| {
                WireError::Invalid(format!("index {index} beyond the {} entities of the cell's copy", ids.len()))
            })
        };
        Ok(match self {
            SectionBody::Whole(entities) => Body::Snapshot(entities.clone()),
            SectionBody::Delta { base_tick, created, changed, removed } => Body::Delta {
                base_tick: *base_tick,
                created: created.clone(),
                changed: changed
                    .iter()
                    .map(|c| Ok(Change { id: id_at(c.index)?, mask: c.mask, changes: c.changes.clone() }))
                    .collect::<Result<_, WireError>>()?,
                removed: removed.iter().map(|&i| id_at(i)).collect::<Result<_, WireError>>()?,
            },
        })
    }
}

/// Reads increasing indexes as gaps (the first from 0), each next gap at least 1.
fn next_index(r: &mut Reader<'_>, prev: &mut Option<usize>) -> Result<usize, WireError> {
    let gap = usize::try_from(r.u64()?).map_err(|_| invalid("index gap too large".into()))?;
    let index = match *prev {
        None => gap,
        Some(_) if gap == 0 => return Err(invalid("index gap 0: indexes must increase".into())),
        Some(p) => p.checked_add(gap).ok_or_else(|| invalid("index beyond usize".into()))?,
    };
    *prev = Some(index);
    Ok(index)
}

/// Reads a cell delta body (its state part; events are appended to `events`).
fn read_cell_delta(
    r: &mut Reader<'_>,
    base_tick: u64,
    schema: &Schema,
    events: &mut Vec<Event>,
) -> Result<SectionBody, WireError> {
    let flags = r.u64()?;
    if flags > CREATED | CHANGED | REMOVED | EVENTS {
        return Err(invalid(format!("cell delta flags {flags:#x} name unknown parts")));
    }
    let created = if flags & CREATED != 0 { read_entities(r, schema)? } else { Vec::new() };
    let mut changed = Vec::new();
    if flags & CHANGED != 0 {
        let mut prev = None;
        for _ in 0..r.count()? {
            let index = next_index(r, &mut prev)?;
            let mask = r.u32()?;
            let changes = (0..mask.count_ones()).map(|_| r.i32()).collect::<Result<_, WireError>>()?;
            changed.push(IndexedChange { index, mask, changes });
        }
    }
    let mut removed = Vec::new();
    if flags & REMOVED != 0 {
        let mut prev = None;
        for _ in 0..r.count()? {
            removed.push(next_index(r, &mut prev)?);
        }
    }
    if flags & EVENTS != 0 {
        events.extend(read_events(r)?);
    }
    Ok(SectionBody::Delta { base_tick, created, changed, removed })
}

fn invalid(why: String) -> WireError {
    WireError::Invalid(why)
}

/// Reads the sections and dropped cells after the room part; each section's events are
/// appended to `events` (which holds the room part's).
pub(crate) fn read_cells(
    r: &mut Reader<'_>,
    tick: u64,
    schema: &Schema,
    events: &mut Vec<Event>,
) -> Result<Cells, WireError> {
    let room_events = events.len();
    let mut sections: Vec<CellSection> = Vec::new();
    for _ in 0..r.count()? {
        let cell = (r.i32()?, r.i32()?);
        if let Some(prev) = sections.last() {
            if cell <= prev.cell {
                return Err(invalid(format!("cell section {cell:?} after {:?}: not sorted or repeated", prev.cell)));
            }
        }
        let age = r.u64()?;
        if age > tick {
            return Err(invalid(format!("cell {cell:?}: age {age} is older than tick 0 (tick {tick})")));
        }
        let len = r.u64()?;
        if len > r.remaining() as u64 {
            return Err(invalid(format!("cell {cell:?}: body_len {len} exceeds the {} bytes left", r.remaining())));
        }
        // Fits in usize: it is at most the bytes left.
        let mut body_reader = Reader::new(r.take(len as usize)?);
        let in_cell = |e: WireError| match e {
            WireError::Truncated => invalid(format!("cell {cell:?}: body ends before its body_len {len} says")),
            WireError::Invalid(why) => invalid(format!("cell {cell:?}: {why}")),
        };
        let start = events.len();
        let body = if age == 0 {
            let Body::Snapshot(entities) = read_state(&mut body_reader, None, schema).map_err(in_cell)? else {
                unreachable!("no base: a snapshot")
            };
            events.extend(read_events(&mut body_reader).map_err(in_cell)?);
            SectionBody::Whole(entities)
        } else {
            read_cell_delta(&mut body_reader, tick - age, schema, events).map_err(in_cell)?
        };
        if body_reader.remaining() != 0 {
            let left = body_reader.remaining();
            return Err(invalid(format!("cell {cell:?}: body decodes to {} of its {len} bytes", len as usize - left)));
        }
        sections.push(CellSection { cell, body, events: start..events.len() });
    }
    let mut dropped: Vec<CellId> = Vec::new();
    for _ in 0..r.count()? {
        let cell = (r.i32()?, r.i32()?);
        if let Some(prev) = dropped.last() {
            if cell <= *prev {
                return Err(invalid(format!("dropped cell {cell:?} after {prev:?}: not sorted or repeated")));
            }
        }
        if sections.binary_search_by(|s| s.cell.cmp(&cell)).is_ok() {
            return Err(invalid(format!("cell {cell:?} is both dropped and sent")));
        }
        dropped.push(cell);
    }
    Ok(Cells { room_events, sections, dropped })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{Entity, Frame, ServerMessage, Update};
    use crate::test_encoder::{cell_delta_body, cell_update, delta_body, nothing, schema, snapshot_body};

    fn decode(bytes: &[u8]) -> Result<Update, WireError> {
        match ServerMessage::decode(bytes, Some(&schema()))? {
            ServerMessage::Update(u) => Ok(u),
            other => panic!("not an update: {other:?}"),
        }
    }

    fn scored(player: u32, value: i32) -> Event {
        Event::Game { kind: 0, player, value }
    }

    /// A small example: tick 51, the room part in step (base 50, nothing, no
    /// events); cell (2, 3) has player 7 moving, cell (3, 3) arrives whole with one orb,
    /// cell (0, 1) is dropped. Plus one event in the room part and one in a cell, to
    /// pin their order.
    fn example() -> Vec<u8> {
        let room = delta_body(&[], &[], &[], &[Event::Left { player: 9 }]);
        let moving = cell_delta_body(&[], &[(0, 0b11, &[5, -3])], &[], &[scored(7, 4)]);
        let orb = snapshot_body(&[(16_777_216, 1, &[1234, -8765])], &[]);
        cell_update(51, 50, &room, &[((2, 3), 1, moving), ((3, 3), 0, orb)], &[(0, 1)])
    }

    #[test]
    fn a_cell_update_decodes_to_its_parts() {
        let bytes = example();
        let Frame::Update { header, .. } = Frame::parse(&bytes).expect("parses") else { panic!("an update") };
        assert!(header.cells);
        assert_eq!((header.tick, header.base_tick, header.ack_input, header.server_time_us), (51, Some(50), 7, 1_000));
        let u = decode(&bytes).expect("decodes");
        assert_eq!(u.body, Body::Delta { base_tick: 50, created: vec![], changed: vec![], removed: vec![] });
        let cells = u.cells.as_ref().expect("a Cell update has cells");
        assert_eq!(cells.sections.iter().map(|s| s.cell).collect::<Vec<_>>(), [(2, 3), (3, 3)]);
        assert!(
            matches!(&cells.sections[0].body, SectionBody::Delta { base_tick: 50, changed, .. } if changed[0].changes == [5, -3] && changed[0].index == 0)
        );
        assert_eq!(
            cells.sections[1].body,
            SectionBody::Whole(vec![Entity { id: 16_777_216, kind: 1, fields: vec![1234, -8765] }])
        );
        assert_eq!(cells.dropped, [(0, 1)]);
        // Room part first, then each section's, in section order.
        assert_eq!(u.events, [Event::Left { player: 9 }, scored(7, 4)]);
        assert_eq!(u.room_events(), [Event::Left { player: 9 }]);
        assert_eq!(u.section_events(&cells.sections[0]), [scored(7, 4)]);
        assert!(u.section_events(&cells.sections[1]).is_empty());
    }

    #[test]
    fn a_room_part_with_base_0_is_a_snapshot() {
        let bytes = cell_update(3, 0, &snapshot_body(&[(1, 1, &[0, 0])], &[]), &[], &[]);
        let Frame::Update { header, .. } = Frame::parse(&bytes).expect("parses") else { panic!("an update") };
        assert_eq!(header.base_tick, None);
        let u = decode(&bytes).expect("decodes");
        assert!(matches!(u.body, Body::Snapshot(ref e) if e.len() == 1));
        assert_eq!(u.cells, Some(Cells { room_events: 0, sections: vec![], dropped: vec![] }));
    }

    #[test]
    fn every_cut_and_a_trailing_byte_are_refused() {
        let bytes = example();
        for end in 0..bytes.len() {
            assert!(decode(&bytes[..end]).is_err(), "cut at {end}");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(decode(&longer).is_err(), "a trailing byte");
    }

    fn refused(bytes: &[u8], why: &str) {
        match decode(bytes) {
            Err(WireError::Invalid(msg)) => assert!(msg.contains(why), "{why:?} not in {msg:?}"),
            other => panic!("expected a refusal with {why:?}, got {other:?}"),
        }
    }

    #[test]
    fn sections_and_drops_out_of_order_or_overlapping_are_refused() {
        let s = |cell| (cell, 0, snapshot_body(&[], &[]));
        refused(&cell_update(2, 1, &nothing(), &[s((1, 0)), s((0, 5))], &[]), "not sorted");
        refused(&cell_update(2, 1, &nothing(), &[s((0, 2)), s((0, 1))], &[]), "not sorted");
        refused(&cell_update(2, 1, &nothing(), &[s((0, 1)), s((0, 1))], &[]), "repeated");
        refused(&cell_update(2, 1, &nothing(), &[], &[(3, 3), (2, 9)]), "not sorted");
        refused(&cell_update(2, 1, &nothing(), &[], &[(3, 3), (3, 3)]), "repeated");
        refused(&cell_update(2, 1, &nothing(), &[s((0, 1))], &[(0, 1)]), "both dropped and sent");
        // Sorted by (x, y) as signed integers: -1 before 0, and y only within one x.
        let ok = cell_update(2, 1, &nothing(), &[s((-1, 7)), s((0, -3)), s((0, 2))], &[(-5, 0), (0, 0)]);
        assert!(decode(&ok).is_ok());
    }

    /// Bytes with a section whose `body_len` is `len`, over a body `body`.
    fn with_body_len(body: &[u8], len: u64) -> Vec<u8> {
        let mut bytes = cell_update(2, 1, &nothing(), &[], &[]);
        bytes.truncate(bytes.len() - 2); // no sections, no drops
        let mut w = crate::wire::Writer(&mut bytes);
        w.u64(1);
        w.i64(0);
        w.i64(0);
        w.u64(0);
        w.u64(len);
        bytes.extend_from_slice(body);
        bytes.push(0); // no drops
        bytes
    }

    #[test]
    fn a_body_len_that_does_not_match_its_body_is_refused() {
        let body = snapshot_body(&[(1, 1, &[3, 4])], &[]);
        assert!(decode(&with_body_len(&body, body.len() as u64)).is_ok());
        // Longer than its body: the body decodes short of it.
        let mut padded = body.clone();
        padded.push(0);
        refused(&with_body_len(&padded, padded.len() as u64), "decodes to");
        // Shorter: the body is cut (and what is left is not a section list).
        refused(&with_body_len(&body, body.len() as u64 - 1), "body ends before");
        // Beyond the frame.
        refused(&with_body_len(&body, 1_000_000), "exceeds");
        refused(&with_body_len(&body, u64::MAX), "exceeds");
    }

    #[test]
    fn hostile_counts_are_refused_before_allocating() {
        let mut bytes = cell_update(2, 1, &nothing(), &[], &[]);
        bytes.truncate(bytes.len() - 2);
        crate::wire::Writer(&mut bytes).u64(u64::MAX); // section_count
        refused(&bytes, "count");
        let mut bytes = cell_update(2, 1, &nothing(), &[], &[]);
        bytes.pop();
        crate::wire::Writer(&mut bytes).u64(1 << 40); // dropped_count
        refused(&bytes, "count");
    }

    #[test]
    fn a_section_body_is_checked_against_the_schema() {
        // Kind 2 does not exist.
        let bad = snapshot_body(&[(1, 2, &[])], &[]);
        refused(&cell_update(2, 1, &nothing(), &[((0, 0), 0, bad)], &[]), "cell (0, 0): unknown entity kind 2");
    }

    /// Bytes changed at random never panic the decoder or the state: they decode and
    /// apply, or are refused.
    #[test]
    fn mutated_frames_never_panic() {
        let good = example();
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for _ in 0..20_000 {
            let mut bytes = good.clone();
            for _ in 0..1 + next() % 3 {
                let at = (next() as usize) % bytes.len();
                bytes[at] = next() as u8;
            }
            if next() % 4 == 0 {
                bytes.truncate((next() as usize) % bytes.len());
            }
            if let Ok(u) = decode(&bytes) {
                let mut state = crate::room::RoomState::default();
                let _ = state.apply(&u);
            }
        }
    }
}

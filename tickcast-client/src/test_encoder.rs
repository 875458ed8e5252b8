//! A small encoder of server messages for this crate's tests, written from
//! docs/PROTOCOL.md like the decoder: the bytes of hand-built Snapshot, Delta and Cell
//! updates, so the tests need neither the server crate nor a socket.

use crate::message::{EntityKind, Event, Schema};
use crate::wire::Writer;

/// An entity as the tests state it: id, kind, fields.
pub type Spec<'a> = (u32, u16, &'a [i32]);

/// A schema of two kinds: `p` (x, y, score) and `o` (x, y), like the arena's.
pub fn schema() -> Schema {
    let field = |n: &str| (n.to_string(), 1);
    Schema {
        game: "t".into(),
        entity_kinds: vec![
            EntityKind { name: "p".into(), fields: vec![field("x"), field("y"), field("score")] },
            EntityKind { name: "o".into(), fields: vec![field("x"), field("y")] },
        ],
        input: vec![],
        event_kinds: vec!["scored".into()],
    }
}

fn u(out: &mut Vec<u8>, v: u64) {
    Writer(out).u64(v);
}

fn i(out: &mut Vec<u8>, v: i64) {
    Writer(out).i64(v);
}

/// An id list written as gaps from the previous id (PROTOCOL.md, "Update body").
fn ids(out: &mut Vec<u8>, list: impl IntoIterator<Item = u32>) {
    let mut prev = 0;
    for id in list {
        u(out, u64::from(id - prev));
        prev = id;
    }
}

fn entities(out: &mut Vec<u8>, list: &[Spec<'_>]) {
    u(out, list.len() as u64);
    let mut prev = 0;
    for (id, kind, fields) in list {
        u(out, u64::from(id - prev));
        prev = *id;
        u(out, u64::from(*kind));
        for f in *fields {
            i(out, i64::from(*f));
        }
    }
}

fn events(out: &mut Vec<u8>, list: &[Event]) {
    u(out, list.len() as u64);
    for e in list {
        match e {
            Event::Joined { player, name } => {
                u(out, 0);
                u(out, u64::from(*player));
                Writer(out).string(name);
            }
            Event::Left { player } => {
                u(out, 1);
                u(out, u64::from(*player));
            }
            Event::Chat { player, text } => {
                u(out, 2);
                u(out, u64::from(*player));
                Writer(out).string(text);
            }
            Event::Game { kind, player, value } => {
                u(out, 3);
                u(out, u64::from(*kind));
                u(out, u64::from(*player));
                i(out, i64::from(*value));
            }
        }
    }
}

/// A snapshot body: the entities, then the events.
pub fn snapshot_body(list: &[Spec<'_>], evs: &[Event]) -> Vec<u8> {
    let mut out = Vec::new();
    entities(&mut out, list);
    events(&mut out, evs);
    out
}

/// A delta body: created, changed (id, mask, changes), removed, then the events.
pub fn delta_body(created: &[Spec<'_>], changed: &[(u32, u32, &[i32])], removed: &[u32], evs: &[Event]) -> Vec<u8> {
    let mut out = Vec::new();
    entities(&mut out, created);
    u(&mut out, changed.len() as u64);
    let mut prev = 0;
    for (id, mask, changes) in changed {
        u(&mut out, u64::from(id - prev));
        prev = *id;
        u(&mut out, u64::from(*mask));
        for c in *changes {
            i(&mut out, i64::from(*c));
        }
    }
    u(&mut out, removed.len() as u64);
    ids(&mut out, removed.iter().copied());
    events(&mut out, evs);
    out
}

/// A cell delta body (PROTOCOL.md, "Cell delta body"): flags, then created (ids),
/// changed (index, mask, changes) and removed (indexes) when not empty, then the events.
pub fn cell_delta_body(
    created: &[Spec<'_>],
    changed: &[(usize, u32, &[i32])],
    removed: &[usize],
    evs: &[Event],
) -> Vec<u8> {
    let flags = u64::from(!created.is_empty())
        | u64::from(!changed.is_empty()) << 1
        | u64::from(!removed.is_empty()) << 2
        | u64::from(!evs.is_empty()) << 3;
    let mut out = Vec::new();
    u(&mut out, flags);
    if !created.is_empty() {
        entities(&mut out, created);
    }
    let gaps = |out: &mut Vec<u8>, indexes: &mut dyn Iterator<Item = usize>| {
        let mut prev = 0;
        for index in indexes {
            u(out, (index - prev) as u64);
            prev = index;
        }
    };
    if !changed.is_empty() {
        u(&mut out, changed.len() as u64);
        let mut prev = 0;
        for (index, mask, changes) in changed {
            u(&mut out, (index - prev) as u64);
            prev = *index;
            u(&mut out, u64::from(*mask));
            for c in *changes {
                i(&mut out, i64::from(*c));
            }
        }
    }
    if !removed.is_empty() {
        u(&mut out, removed.len() as u64);
        gaps(&mut out, &mut removed.iter().copied());
    }
    if !evs.is_empty() {
        events(&mut out, evs);
    }
    out
}

/// One section of a Cell update: cell, `cell_age`, and its body (as made above).
pub type Section = ((i32, i32), u64, Vec<u8>);

/// A whole Cell update (tag 5): header, room body, sections, dropped cells.
pub fn cell_update(tick: u64, base_tick: u64, room: &[u8], sections: &[Section], dropped: &[(i32, i32)]) -> Vec<u8> {
    let mut out = Vec::new();
    for v in [5, tick, base_tick, 7, 1_000] {
        u(&mut out, v);
    }
    out.extend_from_slice(room);
    u(&mut out, sections.len() as u64);
    for ((x, y), age, body) in sections {
        i(&mut out, i64::from(*x));
        i(&mut out, i64::from(*y));
        u(&mut out, *age);
        u(&mut out, body.len() as u64);
        out.extend_from_slice(body);
    }
    u(&mut out, dropped.len() as u64);
    for (x, y) in dropped {
        i(&mut out, i64::from(*x));
        i(&mut out, i64::from(*y));
    }
    out
}

/// An empty delta body: nothing created, changed or removed, no events.
pub fn nothing() -> Vec<u8> {
    delta_body(&[], &[], &[], &[])
}

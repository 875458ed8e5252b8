//! The pieces every update body is made of (docs/PROTOCOL.md, "Update body"): the
//! game's schema that lays them out, entities, changes, events, and their readers.
//! Snapshots, Deltas and the Cell update's room part and sections are all built from
//! these, so both `message` (whole messages) and `cells` (sections) read them from here.

use crate::wire::{Reader, WireError};

/// A game's schema, from Welcome: how its entities, inputs and events are laid out.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Schema {
    /// The game's name.
    pub game: String,
    /// Entity kinds; an entity's `kind` indexes this list.
    pub entity_kinds: Vec<EntityKind>,
    /// The fields of an Input, in order, with the ranges the server accepts.
    pub input: Vec<InputField>,
    /// Names of game events; a game event's `kind` indexes this list.
    pub event_kinds: Vec<String>,
}

/// One kind of entity.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityKind {
    /// Its name (`player`, `orb`, …).
    pub name: String,
    /// Its integer fields: name and scale (game value = wire value / scale).
    pub fields: Vec<(String, u32)>,
}

/// One field of an Input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputField {
    /// Its name.
    pub name: String,
    /// Smallest value accepted.
    pub min: i32,
    /// Largest value accepted.
    pub max: i32,
}

impl Schema {
    /// The index of the entity kind named `name`.
    pub fn kind(&self, name: &str) -> Option<u16> {
        self.entity_kinds.iter().position(|k| k.name == name).map(|i| i as u16)
    }

    /// The index of field `field` of entity kind `kind`.
    pub fn field(&self, kind: u16, field: &str) -> Option<usize> {
        self.entity_kinds.get(kind as usize)?.fields.iter().position(|(n, _)| n == field)
    }
}

/// Something that happened in the room, in an update's events section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A player joined.
    Joined {
        /// Its id.
        player: u32,
        /// Its name.
        name: String,
    },
    /// A player left for good.
    Left {
        /// Its id.
        player: u32,
    },
    /// A chat line.
    Chat {
        /// Who said it.
        player: u32,
        /// What.
        text: String,
    },
    /// A game event.
    Game {
        /// Index into `schema.event_kinds`.
        kind: u16,
        /// The player it concerns (0: none).
        player: u32,
        /// A game-defined value.
        value: i32,
    },
}

/// One entity: id, kind, fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    /// Its id.
    pub id: u32,
    /// Its kind (index into the schema's kinds).
    pub kind: u16,
    /// Its fields, in the kind's order.
    pub fields: Vec<i32>,
}

/// A changed entity of a Delta: which fields changed, and by how much (wrapping i32).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// The entity.
    pub id: u32,
    /// Bit i set: field i changed.
    pub mask: u32,
    /// The differences, one per set bit, lowest bit first.
    pub changes: Vec<i32>,
}

/// The state part of an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// A keyframe: every entity.
    Snapshot(Vec<Entity>),
    /// The changes from `base_tick`.
    Delta {
        /// The tick the changes are from.
        base_tick: u64,
        /// New entities (or re-sent whole).
        created: Vec<Entity>,
        /// Changed entities.
        changed: Vec<Change>,
        /// Removed ids.
        removed: Vec<u32>,
    },
}

/// The next id of an increasing list written as gaps.
fn next_id(r: &mut Reader<'_>, prev: &mut u32) -> Result<u32, WireError> {
    let gap = r.u32()?;
    *prev = prev.checked_add(gap).ok_or_else(|| WireError::Invalid("entity id beyond u32".into()))?;
    Ok(*prev)
}

/// An entity list: ids as gaps, each entity's fields as its kind in `schema` says.
pub(crate) fn read_entities(r: &mut Reader<'_>, schema: &Schema) -> Result<Vec<Entity>, WireError> {
    let mut prev = 0;
    (0..r.count()?)
        .map(|_| {
            let id = next_id(r, &mut prev)?;
            let kind = r.u16()?;
            let n = schema
                .entity_kinds
                .get(kind as usize)
                .ok_or_else(|| WireError::Invalid(format!("unknown entity kind {kind}")))?
                .fields
                .len();
            let fields = (0..n).map(|_| r.i32()).collect::<Result<_, WireError>>()?;
            Ok(Entity { id, kind, fields })
        })
        .collect()
}

/// The state part of a body: a snapshot's entity list without a base, a delta's
/// created, changed and removed lists with one.
pub(crate) fn read_state(r: &mut Reader<'_>, base_tick: Option<u64>, schema: &Schema) -> Result<Body, WireError> {
    Ok(match base_tick {
        Some(base_tick) => {
            let created = read_entities(r, schema)?;
            let mut prev = 0;
            let changed = (0..r.count()?)
                .map(|_| {
                    let id = next_id(r, &mut prev)?;
                    let mask = r.u32()?;
                    let changes = (0..mask.count_ones()).map(|_| r.i32()).collect::<Result<_, WireError>>()?;
                    Ok(Change { id, mask, changes })
                })
                .collect::<Result<_, WireError>>()?;
            let mut prev = 0;
            let removed = (0..r.count()?).map(|_| next_id(r, &mut prev)).collect::<Result<_, WireError>>()?;
            Body::Delta { base_tick, created, changed, removed }
        }
        None => Body::Snapshot(read_entities(r, schema)?),
    })
}

/// The events section that ends every body.
pub(crate) fn read_events(r: &mut Reader<'_>) -> Result<Vec<Event>, WireError> {
    (0..r.count()?).map(|_| read_event(r)).collect()
}

fn read_event(r: &mut Reader<'_>) -> Result<Event, WireError> {
    Ok(match r.u32()? {
        0 => Event::Joined { player: r.u32()?, name: r.string()? },
        1 => Event::Left { player: r.u32()? },
        2 => Event::Chat { player: r.u32()?, text: r.string()? },
        3 => Event::Game { kind: r.u16()?, player: r.u32()?, value: r.i32()? },
        other => return Err(WireError::Invalid(format!("unknown event tag {other}"))),
    })
}

//! The room's state as the client holds it (docs/PROTOCOL.md, "Keeping the state"): a
//! Snapshot replaces it, a Delta applies only on the tick held, and a malformed update
//! leaves it untouched.
//!
//! A [`World`] is one set of entities: a whole room without interest management, or
//! the room-wide part of a big one. A room of either kind is kept by
//! [`RoomState`](crate::room::RoomState), which holds the cells of a big room too.

use crate::message::{Body, Update};
use crate::wire::WireError;
use std::collections::BTreeMap;

/// The entities of the room at one tick.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct World {
    /// The tick held (0 before the first update).
    pub tick: u64,
    /// Entities by id: kind and fields.
    pub entities: BTreeMap<u32, (u16, Vec<i32>)>,
}

/// Why an update was not applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApplyError {
    /// A Delta from another tick than the one held: the chain is broken (resume to get a
    /// Snapshot).
    BaseMismatch {
        /// The Delta's base.
        base_tick: u64,
        /// The tick held.
        held: u64,
    },
    /// The update contradicts the state or the schema.
    Malformed(WireError),
    /// A Cell update (protocol version 3) given to a [`World`], which has nowhere to
    /// keep cells: apply it to a [`RoomState`](crate::room::RoomState).
    NeedsRoomState,
}

impl std::fmt::Display for ApplyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApplyError::BaseMismatch { base_tick, held } => {
                write!(f, "delta from tick {base_tick} but the client holds tick {held}")
            }
            ApplyError::Malformed(e) => write!(f, "malformed update: {e}"),
            ApplyError::NeedsRoomState => write!(f, "a Cell update applies to a RoomState, not a World"),
        }
    }
}

impl std::error::Error for ApplyError {}

impl World {
    /// The fields of entity `id`.
    pub fn get(&self, id: u32) -> Option<&[i32]> {
        self.entities.get(&id).map(|(_, f)| &f[..])
    }

    /// Applies a Snapshot or Delta `update`; on an error the state is as it was. A Cell
    /// update is refused ([`ApplyError::NeedsRoomState`]): its cells would be lost.
    pub fn apply(&mut self, update: &Update) -> Result<(), ApplyError> {
        if update.cells.is_some() {
            return Err(ApplyError::NeedsRoomState);
        }
        if let Body::Delta { base_tick, .. } = &update.body {
            if *base_tick != self.tick {
                return Err(ApplyError::BaseMismatch { base_tick: *base_tick, held: self.tick });
            }
        }
        self.entities = applied(&self.entities, &update.body)?;
        self.tick = update.tick;
        Ok(())
    }
}

/// Entities by id: kind and fields.
pub(crate) type Entities = BTreeMap<u32, (u16, Vec<i32>)>;

/// `held` with `body` applied, as a new map (`held` is untouched, so a caller commits
/// only once every part of an update applied). A delta's base is not checked here:
/// the room part's is, by the caller, and a cell's must not be (PROTOCOL.md).
pub(crate) fn applied(held: &Entities, body: &Body) -> Result<Entities, ApplyError> {
    match body {
        Body::Snapshot(entities) => Ok(entities.iter().map(|e| (e.id, (e.kind, e.fields.clone()))).collect()),
        Body::Delta { created, changed, removed, .. } => {
            let mut next = held.clone();
            for e in created {
                next.insert(e.id, (e.kind, e.fields.clone()));
            }
            for c in changed {
                let malformed = |why: String| ApplyError::Malformed(WireError::Invalid(why));
                let (_, fields) =
                    next.get_mut(&c.id).ok_or_else(|| malformed(format!("change to unknown entity {}", c.id)))?;
                if fields.len() < 32 && c.mask >> fields.len() != 0 {
                    return Err(malformed(format!("mask {:#x} beyond the fields of {}", c.mask, c.id)));
                }
                let mut changes = c.changes.iter();
                for (bit, f) in fields.iter_mut().enumerate() {
                    if c.mask & (1 << bit) != 0 {
                        // Decoding gave one change per set bit.
                        let d = changes.next().ok_or_else(|| malformed("fewer changes than bits".into()))?;
                        *f = f.wrapping_add(*d);
                    }
                }
            }
            // A removed id the client does not hold is not an error (PROTOCOL.md).
            for id in removed {
                next.remove(id);
            }
            Ok(next)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::{EntityKind, Schema, UpdateHeader};

    fn schema() -> Schema {
        Schema {
            game: "t".into(),
            entity_kinds: vec![EntityKind { name: "a".into(), fields: vec![("x".into(), 1), ("y".into(), 1)] }],
            input: vec![],
            event_kinds: vec![],
        }
    }

    /// A Delta from `base_tick` to `tick` whose body (created, changed, removed, events)
    /// is `body`.
    fn delta(tick: u64, base_tick: u64, body: &[u8]) -> Update {
        let header = UpdateHeader { tick, base_tick: Some(base_tick), ack_input: 0, server_time_us: 0, cells: false };
        header.decode_body(body, &schema()).expect("the body decodes")
    }

    #[test]
    fn a_delta_on_another_tick_than_the_one_held_is_refused() {
        let mut world = World { tick: 3, ..Default::default() };
        world.entities.insert(1, (0, vec![1, 2]));
        let held = world.clone();
        // Nothing created, changed or removed; no events.
        let refused = world.apply(&delta(5, 4, &[0, 0, 0, 0]));
        assert_eq!(refused, Err(ApplyError::BaseMismatch { base_tick: 4, held: 3 }));
        assert_eq!(world, held, "a refused delta leaves the state as it was");
    }

    /// PROTOCOL.md, "Update body": removing an id the client does not hold is not
    /// malformed (the server never does it; clients ignore it), unlike a change to one.
    #[test]
    fn a_removed_id_the_client_does_not_hold_is_ignored() {
        let mut world = World { tick: 3, ..Default::default() };
        world.entities.insert(1, (0, vec![1, 2]));
        // No created, no changed, removed [7], no events.
        world.apply(&delta(4, 3, &[0, 0, 1, 7, 0])).expect("applies");
        assert_eq!(world.tick, 4);
        assert_eq!(world.entities.keys().copied().collect::<Vec<_>>(), [1]);
        // A change to it (id 7, mask 1, +1) is refused, and leaves the state as it was.
        let held = world.clone();
        let refused = world.apply(&delta(5, 4, &[0, 1, 7, 1, 2, 0, 0]));
        assert!(matches!(refused, Err(ApplyError::Malformed(_))), "{refused:?}");
        assert_eq!(world, held);
    }
}

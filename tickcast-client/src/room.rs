//! A room's state for either kind of room (docs/PROTOCOL.md, "Keeping the state" and
//! "Cell update (version 3)"): the room-wide part as a [`World`], plus, in a room with
//! interest management, a copy of every cell the player sees.
//!
//! One type for both kinds, so a caller does not care which room it is in: a
//! [`RoomState`] applies Snapshots, Deltas and Cell updates alike, and reads as the
//! [`World`] of every entity the player sees (it derefs to that merged view). In a
//! room without cells the merged view *is* the room part, so nothing is copied.

use crate::cells::CellId;
use crate::message::{Body, Update};
use crate::wire::WireError;
use crate::world::{applied, ApplyError, Entities, World};
use std::collections::BTreeMap;
use std::ops::Deref;

/// The client's copy of one cell.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CellCopy {
    /// The tick of the update whose section last changed it (not its `cell_base`):
    /// what decides which copy of an entity held by two cells is current.
    pub tick: u64,
    /// Its entities by id: kind and fields.
    pub entities: BTreeMap<u32, (u16, Vec<i32>)>,
}

/// The state of a room of either kind.
///
/// - Reading: it derefs to a [`World`] holding every entity the player sees, so
///   `state.tick`, `state.entities` and `state.get(id)` read the same in every room.
///   That view is the room part plus every held cell; an id held by two cells (its old
///   cell was deferred or lingers) takes the copy of the cell updated at the newest
///   tick, on a tie the first cell in `(x, y)` order; an id of the room part takes the
///   room part's copy, which is never deferred. [`RoomState::room`] and
///   [`RoomState::cells`] are the parts.
/// - Changing: only [`RoomState::apply`] (there is no `DerefMut`), so the view cannot
///   drift from the parts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoomState {
    room: World,
    cells: BTreeMap<CellId, CellCopy>,
    /// The merged view while any cell is held (unused, and empty, otherwise): rebuilt
    /// after each update, which costs a copy of the entities the player sees per update
    /// in a big room and nothing in another.
    merged: World,
}

impl Deref for RoomState {
    type Target = World;

    /// Every entity the player sees, at the room part's tick.
    fn deref(&self) -> &World {
        self.view()
    }
}

impl RoomState {
    /// A state holding `room` as the room part and `cells` (e.g. a test's starting point).
    pub fn new(room: World, cells: impl IntoIterator<Item = (CellId, CellCopy)>) -> Self {
        let mut state = RoomState { room, cells: cells.into_iter().collect(), merged: World::default() };
        state.rebuild();
        state
    }

    /// Every entity the player sees (what the state derefs to).
    pub fn view(&self) -> &World {
        if self.cells.is_empty() {
            &self.room
        } else {
            &self.merged
        }
    }

    /// The room-wide part: the whole room when it has no interest management.
    pub fn room(&self) -> &World {
        &self.room
    }

    /// The cells held, by cell (empty in a room without interest management).
    pub fn cells(&self) -> &BTreeMap<CellId, CellCopy> {
        &self.cells
    }

    /// The copy of `cell`, if held.
    pub fn cell(&self, cell: CellId) -> Option<&CellCopy> {
        self.cells.get(&cell)
    }

    /// The kind and fields of entity `id` in the merged view.
    pub fn entity(&self, id: u32) -> Option<(u16, &[i32])> {
        self.view().entities.get(&id).map(|(k, f)| (*k, &f[..]))
    }

    /// Applies a Snapshot, Delta or Cell update; on an error the state is as it was.
    ///
    /// - Snapshot: replaces everything, cells included. Delta: applies to the room part
    ///   if its base is the tick held ([`ApplyError::BaseMismatch`] otherwise).
    /// - Cell update: the room part as a Snapshot or Delta; then each section replaces
    ///   its cell (`cell_age` 0) or applies as a cell delta to that cell's entities only
    ///   (indexes name entities of the copy; a cell never received is empty), without
    ///   comparing its base with anything;
    ///   then dropped cells are forgotten (one not held is ignored). Every part is
    ///   applied to copies first and committed only when all of them applied.
    pub fn apply(&mut self, update: &Update) -> Result<(), ApplyError> {
        let Some(cells) = &update.cells else {
            self.room.apply(update)?;
            if matches!(update.body, Body::Snapshot(_)) {
                self.cells.clear();
            }
            self.rebuild();
            return Ok(());
        };
        if let Body::Delta { base_tick, .. } = &update.body {
            if *base_tick != self.room.tick {
                return Err(ApplyError::BaseMismatch { base_tick: *base_tick, held: self.room.tick });
            }
        }
        let room = applied(&self.room.entities, &update.body)?;
        let empty = Entities::new();
        let mut copies = Vec::with_capacity(cells.sections.len());
        for section in &cells.sections {
            let held = self.cells.get(&section.cell).map_or(&empty, |c| &c.entities);
            let ids: Vec<u32> = held.keys().copied().collect();
            let in_cell =
                |why: String| ApplyError::Malformed(WireError::Invalid(format!("cell {:?}: {why}", section.cell)));
            let body = section.body.resolve(&ids).map_err(|e| match e {
                WireError::Invalid(why) => in_cell(why),
                other => ApplyError::Malformed(other),
            })?;
            let entities = applied(held, &body).map_err(|e| match e {
                ApplyError::Malformed(WireError::Invalid(why)) => {
                    ApplyError::Malformed(WireError::Invalid(format!("cell {:?}: {why}", section.cell)))
                }
                other => other,
            })?;
            copies.push((section.cell, CellCopy { tick: update.tick, entities }));
        }
        self.room = World { tick: update.tick, entities: room };
        self.cells.extend(copies);
        for cell in &cells.dropped {
            self.cells.remove(cell);
        }
        self.rebuild();
        Ok(())
    }

    /// Makes the merged view again from the parts (see [`RoomState`] for the rules).
    fn rebuild(&mut self) {
        if self.cells.is_empty() {
            self.merged = World::default();
            return;
        }
        let mut entities = self.room.entities.clone();
        // The tick of the cell each id was taken from; ids of the room part are absent.
        let mut taken_at: BTreeMap<u32, u64> = BTreeMap::new();
        for copy in self.cells.values() {
            for (id, entity) in &copy.entities {
                if self.room.entities.contains_key(id) {
                    continue;
                }
                // Strictly newer only: on a tie the first cell in (x, y) order stays.
                if taken_at.get(id).is_some_and(|t| *t >= copy.tick) {
                    continue;
                }
                taken_at.insert(*id, copy.tick);
                entities.insert(*id, entity.clone());
            }
        }
        self.merged = World { tick: self.room.tick, entities };
    }
}

#[cfg(test)]
#[path = "room_tests.rs"]
mod tests;

//! The replicated state of one room at one tick: entities with ids, kinds and integer
//! fields, kept sorted by id in two flat vectors so a tick allocates nothing once warm.

use crate::protocol::EntityId;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Entry {
    id: EntityId,
    kind: u16,
    len: u16,
    start: u32,
}

/// All entities of a room at one tick, sorted by id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EntityState {
    entries: Vec<Entry>,
    values: Vec<i32>,
    sorted: bool,
}

/// One entity, borrowed from an [`EntityState`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntityRef<'a> {
    /// The entity's id.
    pub id: EntityId,
    /// Index into the schema's entity kinds.
    pub kind: u16,
    /// Field values, in schema order (quantized integers).
    pub fields: &'a [i32],
}

impl EntityState {
    /// An empty state.
    pub fn new() -> Self {
        EntityState { entries: Vec::new(), values: Vec::new(), sorted: true }
    }

    /// An empty state with room for `entities` entities and `values` field values.
    pub fn with_capacity(entities: usize, values: usize) -> Self {
        EntityState { entries: Vec::with_capacity(entities), values: Vec::with_capacity(values), sorted: true }
    }

    /// Current allocation sizes, to size the next tick's state.
    pub fn capacity(&self) -> (usize, usize) {
        (self.entries.capacity(), self.values.capacity())
    }

    /// Removes every entity, keeping the allocations.
    pub fn clear(&mut self) {
        self.entries.clear();
        self.values.clear();
        self.sorted = true;
    }

    /// Adds an entity. Ids must be unique; they may come in any order.
    pub fn push(&mut self, id: EntityId, kind: u16, fields: &[i32]) {
        if let Some(last) = self.entries.last() {
            if last.id >= id {
                self.sorted = false;
            }
        }
        self.entries.push(Entry { id, kind, len: fields.len() as u16, start: self.values.len() as u32 });
        self.values.extend_from_slice(fields);
    }

    /// Sorts by id (after pushes out of order); a game's `write_state` need not care.
    pub fn finish(&mut self) {
        if !self.sorted {
            self.entries.sort_unstable_by_key(|e| e.id);
            self.sorted = true;
        }
    }

    /// Number of entities.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are no entities.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entity at position `i` (in id order).
    pub fn at(&self, i: usize) -> EntityRef<'_> {
        let e = self.entries[i];
        EntityRef { id: e.id, kind: e.kind, fields: &self.values[e.start as usize..e.start as usize + e.len as usize] }
    }

    /// Entities in id order.
    pub fn iter(&self) -> impl Iterator<Item = EntityRef<'_>> + '_ {
        (0..self.entries.len()).map(move |i| self.at(i))
    }

    /// The entity with id `id`, if present.
    pub fn get(&self, id: EntityId) -> Option<EntityRef<'_>> {
        debug_assert!(self.sorted, "call finish() after out-of-order pushes");
        self.entries.binary_search_by_key(&id, |e| e.id).ok().map(|i| self.at(i))
    }
}

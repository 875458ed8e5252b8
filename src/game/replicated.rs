//! What the state derives generate, as traits: a game's entities ([`Entity`]), its input
//! ([`PlayerInput`]) and its whole state ([`GameState`]: the schema, the writing of
//! entities into an [`EntityState`], versioned save and restore).
//!
//! A game derives them on plain structs (`#[derive(GameState)]` and friends, from the
//! `tickcast-derive` crate, re-exported in [`crate::game`]) and puts
//! [`game_state_methods!`](crate::game_state_methods) in its `impl Game`, which fills in
//! `schema`, `write_state`, `save` and `restore` from the derived [`GameState`].
//! Everything here is also usable by hand; the derives only write it for you.

use crate::game::saved::SaveFormat;
use crate::protocol::{EntityId, FieldDef, InputField, Schema};
use crate::sync::EntityState;
use std::collections::BTreeMap;

/// A value a replicated entity field or an input field may hold, and how it maps to the
/// wire's `i32`.
///
/// Integers and `bool` go as they are (a `scale` on an integer field only tells clients
/// its unit: the game already counts in quanta). Floats are multiplied by their field's
/// `scale` and rounded, saturating at the `i32` range (NaN goes as 0); a float field
/// without a scale does not compile.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot go on the wire: a replicated or input field is an integer (at most 32 bits), a bool, or a float with a scale"
)]
pub trait WireValue: Sized {
    /// Whether the value is an integer (a float needs a scale).
    const INTEGER: bool;
    /// The smallest wire value the type holds (an input range must lie inside).
    const MIN: i32;
    /// The largest wire value the type holds.
    const MAX: i32;
    /// The wire value of `self` for a field of `scale` quanta per unit.
    fn to_wire(&self, scale: u32) -> i32;
    /// The value of wire value `wire`, if this type can hold it.
    fn from_wire(wire: i32, scale: u32) -> Option<Self>;
}

macro_rules! integer_wire {
    ($($t:ty),*) => {$(
        impl WireValue for $t {
            const INTEGER: bool = true;
            const MIN: i32 = <$t>::MIN as i32;
            const MAX: i32 = <$t>::MAX as i32;
            fn to_wire(&self, _scale: u32) -> i32 {
                i32::from(*self)
            }
            fn from_wire(wire: i32, _scale: u32) -> Option<Self> {
                <$t>::try_from(wire).ok()
            }
        }
    )*};
}

integer_wire!(i8, i16, i32, u8, u16);

impl WireValue for bool {
    const INTEGER: bool = true;
    const MIN: i32 = 0;
    const MAX: i32 = 1;
    fn to_wire(&self, _scale: u32) -> i32 {
        i32::from(*self)
    }
    fn from_wire(wire: i32, _scale: u32) -> Option<Self> {
        match wire {
            0 => Some(false),
            1 => Some(true),
            _ => None,
        }
    }
}

impl WireValue for f32 {
    const INTEGER: bool = false;
    const MIN: i32 = i32::MIN;
    const MAX: i32 = i32::MAX;
    fn to_wire(&self, scale: u32) -> i32 {
        (*self as f64 * scale as f64).round() as i32
    }
    fn from_wire(wire: i32, scale: u32) -> Option<Self> {
        Some((wire as f64 / scale.max(1) as f64) as f32)
    }
}

impl WireValue for f64 {
    const INTEGER: bool = false;
    const MIN: i32 = i32::MIN;
    const MAX: i32 = i32::MAX;
    fn to_wire(&self, scale: u32) -> i32 {
        (*self * scale as f64).round() as i32
    }
    fn from_wire(wire: i32, scale: u32) -> Option<Self> {
        Some(wire as f64 / scale.max(1) as f64)
    }
}

/// One kind of replicated entity: `#[derive(Entity)]` on a struct whose
/// `#[tickcast(replicate)]` fields go on the wire, in declaration order.
pub trait Entity: SaveFormat {
    /// The kind's name in the schema.
    const KIND: &'static str;
    /// The schema entries of the replicated fields, in wire order.
    fn fields() -> Vec<FieldDef>;
    /// Appends this entity, as `id` of kind index `kind`, to `out`.
    fn write(&self, id: EntityId, kind: u16, out: &mut EntityState);
}

/// A game's input: `#[derive(PlayerInput)]` on a struct whose fields, in declaration
/// order, are the Input message's values, each with `#[tickcast(range = MIN..=MAX)]`.
pub trait PlayerInput: SaveFormat {
    /// The schema's input fields, with the ranges the server enforces.
    fn fields() -> Vec<InputField>;
    /// The input of checked `values` (the server has checked count and ranges already;
    /// `None` only when they do not fit the struct's types).
    fn from_values(values: &[i32]) -> Option<Self>;
    /// The wire values of this input, in schema order.
    fn to_values(&self) -> Vec<i32>;
}

/// A collection of one kind of entity inside a game's state, and the ids they go by.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a collection of entities: use a `BTreeMap<u32, E>` keyed by id or a `Vec<E>`, with E an `Entity`"
)]
pub trait EntityCollection {
    /// The entity type.
    type Item: Entity;
    /// Calls `f` with each entity and its id, in a deterministic order.
    fn for_each_entity(&self, id_base: EntityId, f: impl FnMut(EntityId, &Self::Item));
}

/// Entities keyed by id (players by their player id): entity id = `id_base + key`.
impl<T: Entity> EntityCollection for BTreeMap<u32, T> {
    type Item = T;
    fn for_each_entity(&self, id_base: EntityId, mut f: impl FnMut(EntityId, &T)) {
        self.iter().for_each(|(k, v)| f(id_base.wrapping_add(*k), v));
    }
}

/// Entities in a list: entity id = `id_base + index`.
impl<T: Entity> EntityCollection for Vec<T> {
    type Item = T;
    fn for_each_entity(&self, id_base: EntityId, mut f: impl FnMut(EntityId, &T)) {
        self.iter().enumerate().for_each(|(i, v)| f(id_base.wrapping_add(i as EntityId), v));
    }
}

/// A game's whole state: `#[derive(GameState)]` on the struct that implements `Game`.
///
/// Its `#[tickcast(entities)]` fields are the entity kinds, in declaration order (kind
/// index 0 first). Save writes a format version, then every field that is not
/// `#[tickcast(skip)]` in declaration order ([`SaveFormat`]). Restore honours the
/// contract on [`crate::game::Game::restore`]: it refuses another version, a
/// `#[tickcast(check)]` field that differs from this game's (the configuration), any
/// value its type or `range` cannot hold, bytes after the end, and whatever the game's
/// own `check` function refuses; on a refusal the game is unchanged.
pub trait GameState: Sized {
    /// The save format version this game writes and the only one it restores.
    const SAVE_VERSION: u64;
    /// The game's schema: its name, entity kinds, input fields and event kinds.
    fn schema() -> Schema;
    /// Appends every entity of every kind to `out`.
    fn write_state(&self, out: &mut EntityState);
    /// The whole state, as bytes.
    fn save_state(&self) -> Vec<u8>;
    /// Replaces the state with one from [`GameState::save_state`], or refuses it.
    fn restore_state(&mut self, saved: &[u8]) -> Result<(), String>;
}

/// Fills in `schema`, `write_state`, `save` and `restore` of an `impl Game` from the
/// game's `#[derive(GameState)]`:
///
/// ```ignore
/// impl Game for Tag {
///     tickcast::game_state_methods!();
///     fn join(&mut self, player: PlayerId, _name: &str) { /* … */ }
///     // …
/// }
/// ```
#[macro_export]
macro_rules! game_state_methods {
    () => {
        fn schema(&self) -> $crate::protocol::Schema {
            <Self as $crate::game::GameState>::schema()
        }
        fn write_state(&self, out: &mut $crate::sync::EntityState) {
            <Self as $crate::game::GameState>::write_state(self, out)
        }
        fn save(&self) -> ::std::option::Option<::std::vec::Vec<u8>> {
            ::std::option::Option::Some(<Self as $crate::game::GameState>::save_state(self))
        }
        fn restore(&mut self, saved: &[u8]) -> ::std::result::Result<(), ::std::string::String> {
            <Self as $crate::game::GameState>::restore_state(self, saved)
        }
    };
}

//! A game's schema: the shape of its replicated entities, its input and its events.
//!
//! The wire format of entities and inputs is generic over the schema and Welcome carries
//! it, so any client decodes any game without generated code.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Most fields one entity kind may have: the change mask of a delta is a u32.
pub const MAX_FIELDS_PER_KIND: usize = 32;
/// Most entity kinds one game may declare.
pub const MAX_ENTITY_KINDS: usize = 64;
/// Most input fields one game may declare.
pub const MAX_INPUT_FIELDS: usize = 16;

/// What a game replicates and accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Schema {
    /// The game's name, for people and logs.
    pub game: String,
    /// Entity kinds; an entity's `kind` on the wire is an index into this list.
    pub entity_kinds: Vec<EntityKind>,
    /// The fields of one Input message, in wire order.
    pub input: Vec<InputField>,
    /// Names of game events; a game event's `kind` is an index into this list.
    pub event_kinds: Vec<String>,
}

/// One kind of replicated entity (a player, an orb, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntityKind {
    /// The kind's name.
    pub name: String,
    /// Its integer fields, in wire order.
    pub fields: Vec<FieldDef>,
}

/// One integer field of an entity kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldDef {
    /// The field's name.
    pub name: String,
    /// Quantization: the game value is `wire value / scale` (1 for plain integers).
    pub scale: u32,
}

/// One field of a player's input, with the range the server accepts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InputField {
    /// The field's name.
    pub name: String,
    /// Smallest value accepted.
    pub min: i32,
    /// Largest value accepted.
    pub max: i32,
}

/// Why a schema cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError(pub String);

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid game schema: {}", self.0)
    }
}

impl std::error::Error for SchemaError {}

impl FieldDef {
    /// A field with the given name and scale.
    pub fn new(name: &str, scale: u32) -> Self {
        FieldDef { name: name.to_string(), scale }
    }
}

impl InputField {
    /// An input field accepting `min..=max`.
    pub fn new(name: &str, min: i32, max: i32) -> Self {
        InputField { name: name.to_string(), min, max }
    }
}

impl Schema {
    /// Number of fields of entity kind `kind`, if it exists.
    pub fn field_count(&self, kind: u32) -> Option<usize> {
        self.entity_kinds.get(kind as usize).map(|k| k.fields.len())
    }

    /// Checks the limits the wire format relies on.
    pub fn validate(&self) -> Result<(), SchemaError> {
        if self.entity_kinds.is_empty() || self.entity_kinds.len() > MAX_ENTITY_KINDS {
            return Err(SchemaError(format!(
                "needs 1..={MAX_ENTITY_KINDS} entity kinds, has {}",
                self.entity_kinds.len()
            )));
        }
        for kind in &self.entity_kinds {
            if kind.fields.len() > MAX_FIELDS_PER_KIND {
                return Err(SchemaError(format!(
                    "kind {} has {} fields, at most {MAX_FIELDS_PER_KIND}",
                    kind.name,
                    kind.fields.len()
                )));
            }
            if kind.fields.iter().any(|f| f.scale == 0) {
                return Err(SchemaError(format!("kind {} has a field with scale 0", kind.name)));
            }
        }
        if self.input.len() > MAX_INPUT_FIELDS {
            return Err(SchemaError(format!("{} input fields, at most {MAX_INPUT_FIELDS}", self.input.len())));
        }
        if let Some(f) = self.input.iter().find(|f| f.min > f.max) {
            return Err(SchemaError(format!("input field {} has min > max", f.name)));
        }
        Ok(())
    }

    /// Checks one input's values against the declared fields and ranges.
    pub fn check_input(&self, values: &[i32]) -> Result<(), String> {
        if values.len() != self.input.len() {
            return Err(format!("input has {} values, schema declares {}", values.len(), self.input.len()));
        }
        for (v, f) in values.iter().zip(&self.input) {
            if *v < f.min || *v > f.max {
                return Err(format!("input {} = {v} outside {}..={}", f.name, f.min, f.max));
            }
        }
        Ok(())
    }
}

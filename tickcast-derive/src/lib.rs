//! Derives for tickcast game state, re-exported by `tickcast::game`: write a game's
//! state as plain structs with attributes, and get its schema, the writing of its
//! entities into each tick's state, and a versioned save/restore that honours the
//! contract on `Game::restore` (bounded, never panics on hostile bytes, refuses unknown
//! versions).
//!
//! ```ignore
//! #[derive(Entity, Clone, Debug, PartialEq)]
//! struct Runner {
//!     #[tickcast(replicate, range = 0..GRID)] col: i32,
//!     #[tickcast(replicate, range = 0..GRID)] row: i32,
//!     #[tickcast(replicate)] it: bool,
//!     cooldown: u32, // saved, not replicated
//! }
//!
//! #[derive(PlayerInput, Clone, Copy, Debug, Default, PartialEq)]
//! struct Move { #[tickcast(range = 0..=4)] dir: u8 }
//!
//! #[derive(GameState, Clone, Debug)]
//! #[tickcast(input = Move, events = ["tagged"])]
//! struct Tag {
//!     rng: SplitMix64,
//!     #[tickcast(entities)] runners: BTreeMap<PlayerId, Runner>,
//! }
//! ```
//!
//! The attributes, all inside `#[tickcast(...)]`:
//! - `Entity`: `kind = "name"` on the struct (default: the struct's name in snake case);
//!   on fields `replicate` (on the wire, in declaration order, at most 32), `scale = N`
//!   (quanta per unit: required on a float, which is multiplied and rounded; on an
//!   integer it only tells clients the unit), `range = EXPR` (restore refuses a value
//!   outside), `skip` (not saved; restored as `Default`).
//! - `PlayerInput`: on every field `range = MIN..=MAX` (at most 16 fields, integers).
//! - `SaveFormat`: a nested struct of a saved state; fields take `range` and `skip`.
//! - `GameState`: `game = "name"`, `input = Type`, `events = ["a", …]`, `version = N`
//!   (default 1), `check = path` (a `fn(&Self) -> Result<(), String>` that refuses
//!   restored states the game could not reach) on the struct; on fields `entities` (a
//!   `BTreeMap<u32, E>` keyed by id or a `Vec<E>`, one entity kind each, kind index in
//!   declaration order), `id_base = EXPR` (the first id of that collection; required on
//!   every collection after the first, so ids cannot collide), `check`
//!   (saved, and a save whose value differs from this game's is refused: the
//!   configuration), `range = EXPR`, `skip` (not saved; kept from the fresh game).
//!
//! The structs take no generic parameters. What the attributes need of a field's type:
//! `range` needs `PartialOrd` and `Debug`, `check` needs `PartialEq` and `Debug`, `skip`
//! needs `Default` (Entity, SaveFormat) or `Clone` (GameState).

mod attrs;
mod entity;
mod game;
mod input;
mod save;

use proc_macro::TokenStream;
use syn::{parse_macro_input, DeriveInput, Type};

/// One kind of replicated entity: see the crate docs.
#[proc_macro_derive(Entity, attributes(tickcast))]
pub fn derive_entity(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    entity::derive(&input).unwrap_or_else(syn::Error::into_compile_error).into()
}

/// A game's input: see the crate docs.
#[proc_macro_derive(PlayerInput, attributes(tickcast))]
pub fn derive_player_input(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    input::derive(&input).unwrap_or_else(syn::Error::into_compile_error).into()
}

/// A game's whole state: see the crate docs.
#[proc_macro_derive(GameState, attributes(tickcast))]
pub fn derive_game_state(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    game::derive(&input).unwrap_or_else(syn::Error::into_compile_error).into()
}

/// A struct inside a game's saved state: see the crate docs.
#[proc_macro_derive(SaveFormat, attributes(tickcast))]
pub fn derive_save_format(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    let derive = || -> syn::Result<proc_macro2::TokenStream> {
        let container = attrs::container(&input.attrs)?;
        attrs::only(&container.given, &[], "SaveFormat")?;
        let fields = save::named_fields(&input, "SaveFormat")?;
        for f in &fields {
            attrs::only(&f.attrs.given, &["range", "skip"], "SaveFormat")?;
        }
        Ok(save::impl_save_format(&input, &fields, None))
    };
    derive().unwrap_or_else(syn::Error::into_compile_error).into()
}

/// A field's name as the schema and error paths show it (`r#type` is `type`).
fn field_name(ident: &syn::Ident) -> String {
    syn::ext::IdentExt::unraw(ident).to_string()
}

/// The last segment of a type path (`f32` of `core::primitive::f32`), if it is a path.
fn type_name(ty: &Type) -> Option<String> {
    match ty {
        Type::Path(p) => p.path.segments.last().map(|s| s.ident.to_string()),
        _ => None,
    }
}

/// `RunnerState` → `runner_state`.
fn snake_case(name: &str) -> String {
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

//! `#[derive(GameState)]`: a game's whole state. Its `entities` fields are the entity
//! kinds (kind index = their order); together with the `input` type and the `events`
//! they make the schema; every field not `skip` is saved, after a format version.

use crate::attrs;
use crate::save::{hidden, named_fields, read_field};
use proc_macro2::TokenStream;
use quote::quote;
use syn::DeriveInput;

/// Most entity kinds one game may declare.
const MAX_ENTITY_KINDS: usize = 64;

/// The `GameState` impl of `input`, or the error that explains the mistake.
pub fn derive(input: &DeriveInput) -> syn::Result<TokenStream> {
    let container = attrs::container(&input.attrs)?;
    attrs::only(&container.given, &["game", "input", "events", "version", "check"], "GameState")?;
    let fields = named_fields(input, "GameState")?;
    for f in &fields {
        attrs::only(&f.attrs.given, &["entities", "id_base", "check", "skip", "range"], "GameState")?;
        if f.attrs.id_base.is_some() && !f.attrs.entities {
            return Err(syn::Error::new_spanned(f.ident, "`id_base` applies to `entities` fields"));
        }
        if f.attrs.skip && (f.attrs.entities || f.attrs.check || f.attrs.range.is_some()) {
            return Err(syn::Error::new_spanned(f.ident, "a `skip` field is not saved: it takes no other attribute"));
        }
    }
    let entities: Vec<_> = fields.iter().filter(|f| f.attrs.entities).collect();
    if entities.is_empty() || entities.len() > MAX_ENTITY_KINDS {
        return Err(syn::Error::new_spanned(
            &input.ident,
            format!(
                "a game needs 1..={MAX_ENTITY_KINDS} #[tickcast(entities)] fields, {} has {}",
                input.ident,
                entities.len()
            ),
        ));
    }

    // The generated code's own names, out of reach of the game's field names.
    let (r, w, out, fail, restored, version_read, result) = (
        hidden("r"),
        hidden("w"),
        hidden("out"),
        hidden("fail"),
        hidden("restored"),
        hidden("version"),
        hidden("result"),
    );
    if let Some(f) = entities.iter().skip(1).find(|f| f.attrs.id_base.is_none()) {
        return Err(syn::Error::new_spanned(
            f.ident,
            "every entities collection after the first needs its own `id_base`, so their entity ids cannot collide",
        ));
    }
    let name = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let game = match &container.game {
        Some(game) => game.value(),
        None => crate::snake_case(&name.to_string()),
    };
    let version: u64 = match &container.version {
        Some(v) => v.base10_parse()?,
        None => 1,
    };
    let events = &container.events;
    let input_fields = match &container.input {
        Some(ty) => quote!(<#ty as ::tickcast::game::PlayerInput>::fields()),
        None => quote!(::std::vec::Vec::new()),
    };
    let kind_types: Vec<_> = entities
        .iter()
        .map(|f| {
            let ty = &f.field.ty;
            quote!(<#ty as ::tickcast::game::EntityCollection>::Item)
        })
        .collect();
    let writes = entities.iter().enumerate().map(|(kind, f)| {
        let ident = f.ident;
        let base =
            f.attrs.id_base.as_ref().map(|b| quote!((#b) as ::tickcast::protocol::EntityId)).unwrap_or(quote!(0));
        let kind = kind as u16;
        quote! {
            ::tickcast::game::EntityCollection::for_each_entity(&self.#ident, #base, |id, entity| {
                ::tickcast::game::Entity::write(entity, id, #kind, #out)
            });
        }
    });
    let saved: Vec<_> = fields.iter().filter(|f| !f.attrs.skip).collect();
    let saves = saved.iter().map(|f| f.ident);
    let reads = saved.iter().map(|f| {
        let read = read_field(f, true);
        if !f.attrs.check {
            return read;
        }
        let (ident, shown) = (f.ident, crate::field_name(f.ident));
        quote! {
            #read
            if #ident != self.#ident {
                return ::core::result::Result::Err(::tickcast::game::RestoreError::new(::std::format!(
                    "made with {} {:?}, this room runs {:?}", #shown, #ident, self.#ident
                )));
            }
        }
    });
    let restored_fields = saved.iter().map(|f| f.ident);
    let kept = fields.iter().filter(|f| f.attrs.skip).map(|f| f.ident);
    let check = container.check.as_ref().map(|check| {
        quote! {
            #check(&#restored).map_err(|e| ::std::format!("{} save: {}", #game, e))?;
        }
    });
    Ok(quote! {
        impl #impl_generics ::tickcast::game::GameState for #name #ty_generics #where_clause {
            const SAVE_VERSION: u64 = #version;
            fn schema() -> ::tickcast::protocol::Schema {
                ::tickcast::protocol::Schema {
                    game: ::std::string::String::from(#game),
                    entity_kinds: ::std::vec![ #( ::tickcast::protocol::EntityKind {
                        name: ::std::string::String::from(<#kind_types as ::tickcast::game::Entity>::KIND),
                        fields: <#kind_types as ::tickcast::game::Entity>::fields(),
                    } ),* ],
                    input: #input_fields,
                    event_kinds: ::std::vec![ #( ::std::string::String::from(#events) ),* ],
                }
            }
            fn write_state(&self, #out: &mut ::tickcast::sync::EntityState) {
                #( #writes )*
            }
            fn save_state(&self) -> ::std::vec::Vec<u8> {
                let mut #out = ::std::vec::Vec::with_capacity(64);
                let mut #w = ::tickcast::protocol::Writer::new(&mut #out);
                #w.u64(#version);
                #( ::tickcast::game::SaveFormat::save_to(&self.#saves, &mut #w); )*
                #out
            }
            fn restore_state(&mut self, saved: &[u8]) -> ::core::result::Result<(), ::std::string::String> {
                let #fail = |e: ::tickcast::game::RestoreError| ::std::format!("{} save: {}", #game, e);
                let #restored = {
                    let #r = &mut ::tickcast::protocol::Reader::new(saved);
                    let #version_read = #r.u64().map_err(|e| #fail(e.into()))?;
                    if #version_read != #version {
                        return ::core::result::Result::Err(::std::format!(
                            "{} save: unknown format version {} (this server reads {})", #game, #version_read, #version
                        ));
                    }
                    let #result: ::core::result::Result<Self, ::tickcast::game::RestoreError> = (|| {
                        #( #reads )*
                        if #r.remaining() != 0 {
                            return ::core::result::Result::Err(::tickcast::game::RestoreError::new(
                                ::std::format!("{} bytes after the end", #r.remaining()),
                            ));
                        }
                        ::core::result::Result::Ok(Self {
                            #( #restored_fields, )*
                            #( #kept: ::core::clone::Clone::clone(&self.#kept), )*
                        })
                    })();
                    #result.map_err(#fail)?
                };
                #check
                *self = #restored;
                ::core::result::Result::Ok(())
            }
        }
    })
}

//! `#[derive(Entity)]`: one kind of replicated entity. Its `replicate` fields, in
//! declaration order, are the kind's schema fields and the values written each tick.

use crate::attrs;
use crate::save::{impl_save_format, named_fields};
use proc_macro2::TokenStream;
use quote::quote;
use syn::{DeriveInput, LitStr};

/// Most replicated fields of one kind: a delta's change mask is a u32.
const MAX_FIELDS_PER_KIND: usize = 32;

/// The `Entity` and `SaveFormat` impls of `input`, or the error that explains the mistake.
pub fn derive(input: &DeriveInput) -> syn::Result<TokenStream> {
    let container = attrs::container(&input.attrs)?;
    attrs::only(&container.given, &["kind"], "Entity")?;
    let fields = named_fields(input, "Entity")?;
    for f in &fields {
        attrs::only(&f.attrs.given, &["replicate", "scale", "range", "skip"], "Entity")?;
        if f.attrs.scale.is_some() && !f.attrs.replicate {
            return Err(syn::Error::new_spanned(f.ident, "`scale` applies to `replicate` fields"));
        }
        if f.attrs.replicate && f.attrs.skip {
            return Err(syn::Error::new_spanned(f.ident, "a replicated field is state: it cannot be `skip`"));
        }
    }
    let replicated: Vec<_> = fields.iter().filter(|f| f.attrs.replicate).collect();
    if replicated.len() > MAX_FIELDS_PER_KIND {
        return Err(syn::Error::new_spanned(
            &input.ident,
            format!(
                "{} has {} replicated fields, at most {MAX_FIELDS_PER_KIND} (a delta's change mask is a u32)",
                input.ident,
                replicated.len()
            ),
        ));
    }
    let mut float_checks = Vec::new();
    for f in &replicated {
        if f.attrs.scale.is_some() {
            continue;
        }
        let ty = &f.field.ty;
        if matches!(crate::type_name(ty).as_deref(), Some("f32" | "f64")) {
            return Err(syn::Error::new_spanned(
                ty,
                format!(
                    "`{}` is not an integer: give it a quantization scale, #[tickcast(replicate, scale = N)]",
                    f.ident
                ),
            ));
        }
        // A type alias of a float gets here: refuse it when the constant is evaluated.
        let message = LitStr::new(
            &format!("field `{}` of `{}` is not an integer: give it a scale", f.ident, input.ident),
            f.ident.span(),
        );
        float_checks.push(quote! {
            const _: () = ::core::assert!(<#ty as ::tickcast::game::WireValue>::INTEGER, #message);
        });
    }

    let name = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let kind = match &container.kind {
        Some(kind) => kind.value(),
        None => crate::snake_case(&name.to_string()),
    };
    let names = replicated.iter().map(|f| crate::field_name(f.ident));
    let scales: Vec<TokenStream> = replicated
        .iter()
        .map(|f| match &f.attrs.scale {
            Some(scale) => quote!(((#scale) as u32)),
            None => quote!(1u32),
        })
        .collect();
    let scale_checks = replicated.iter().filter_map(|f| f.attrs.scale.as_ref()).map(|scale| {
        quote! {
            const _: () = {
                // A scale is a u32 (no cast: a negative or fractional scale must not compile).
                const SCALE: u32 = #scale;
                ::core::assert!(SCALE >= 1, "a scale is the quanta per unit: at least 1");
            };
        }
    });
    let idents = replicated.iter().map(|f| f.ident);
    let types = replicated.iter().map(|f| &f.field.ty);
    let save = impl_save_format(input, &fields, None);
    Ok(quote! {
        #save
        #( #float_checks )*
        #( #scale_checks )*
        impl #impl_generics ::tickcast::game::Entity for #name #ty_generics #where_clause {
            const KIND: &'static str = #kind;
            fn fields() -> ::std::vec::Vec<::tickcast::protocol::FieldDef> {
                ::std::vec![ #( ::tickcast::protocol::FieldDef::new(#names, #scales) ),* ]
            }
            fn write(&self, id: ::tickcast::protocol::EntityId, kind: u16, out: &mut ::tickcast::sync::EntityState) {
                out.push(id, kind, &[ #( <#types as ::tickcast::game::WireValue>::to_wire(&self.#idents, #scales) ),* ]);
            }
        }
    })
}

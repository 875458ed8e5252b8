//! The `SaveFormat` impl every derive writes for its struct: the fields that are not
//! `skip`, in declaration order, each read back with its `range` checked.

use crate::attrs::FieldAttrs;
use proc_macro2::{Span, TokenStream};
use quote::quote;
use syn::{DeriveInput, Field, Ident};

/// An identifier of the generated code that the game's own names (its fields) cannot
/// shadow or be shadowed by: a field called `r` or `wire` is just a field.
pub fn hidden(name: &str) -> Ident {
    Ident::new(name, Span::mixed_site())
}

/// A named field with its parsed attributes.
pub struct NamedField<'a> {
    pub field: &'a Field,
    pub ident: &'a Ident,
    pub attrs: FieldAttrs,
}

/// The named fields of a struct, or an error saying why the derive needs them.
pub fn named_fields<'a>(input: &'a DeriveInput, derive: &str) -> syn::Result<Vec<NamedField<'a>>> {
    if !input.generics.params.is_empty() {
        return Err(syn::Error::new_spanned(
            &input.generics,
            format!("#[derive({derive})] takes a struct without generic parameters"),
        ));
    }
    let syn::Data::Struct(data) = &input.data else {
        return Err(syn::Error::new_spanned(&input.ident, format!("#[derive({derive})] needs a struct")));
    };
    let syn::Fields::Named(fields) = &data.fields else {
        return Err(syn::Error::new_spanned(&input.ident, format!("#[derive({derive})] needs named fields")));
    };
    fields
        .named
        .iter()
        .map(|field| {
            let ident = field.ident.as_ref().expect("named fields have names");
            Ok(NamedField { field, ident, attrs: crate::attrs::field(field)? })
        })
        .collect()
}

/// Reads field `f` into a local of its name, checking its `range` (if any, and if
/// `typed_range`: the input derive checks its ranges on the wire value instead).
pub fn read_field(f: &NamedField<'_>, typed_range: bool) -> TokenStream {
    let (ident, ty, reader) = (f.ident, &f.field.ty, hidden("r"));
    let name = crate::field_name(ident);
    let check = f.attrs.range.as_ref().filter(|_| typed_range).map(|range| {
        let shown = quote!(#range).to_string().replace(' ', "");
        quote! {
            if !::core::ops::RangeBounds::contains(&(#range), &#ident) {
                return ::core::result::Result::Err(
                    ::tickcast::game::RestoreError::new(::std::format!("{:?} is outside {}", #ident, #shown)).at(#name),
                );
            }
        }
    });
    quote! {
        let #ident: #ty = <#ty as ::tickcast::game::SaveFormat>::restore_from(#reader).map_err(|e| e.at(#name))?;
        #check
    }
}

/// The `SaveFormat` impl of a struct. `extra_check`, when given, runs on each field after
/// it is read, instead of the `range` check (the input derive checks the wire value).
pub fn impl_save_format(
    input: &DeriveInput,
    fields: &[NamedField<'_>],
    extra_check: Option<&dyn Fn(&NamedField<'_>) -> TokenStream>,
) -> TokenStream {
    let name = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let saved: Vec<_> = fields.iter().filter(|f| !f.attrs.skip).collect();
    let saved_idents = saved.iter().map(|f| f.ident);
    let saved_types = saved.iter().map(|f| &f.field.ty);
    let reads = saved.iter().map(|f| {
        let read = read_field(f, extra_check.is_none());
        let extra = extra_check.map(|check| check(f));
        quote!(#read #extra)
    });
    let skipped = fields.iter().filter(|f| f.attrs.skip).map(|f| f.ident);
    let all_saved = saved.iter().map(|f| f.ident);
    let reader = hidden("r");
    quote! {
        impl #impl_generics ::tickcast::game::SaveFormat for #name #ty_generics #where_clause {
            const MIN_BYTES: usize = 0 #( + <#saved_types as ::tickcast::game::SaveFormat>::MIN_BYTES )*;
            fn save_to(&self, w: &mut ::tickcast::protocol::Writer<'_>) {
                #( ::tickcast::game::SaveFormat::save_to(&self.#saved_idents, w); )*
            }
            fn restore_from(
                #reader: &mut ::tickcast::protocol::Reader<'_>,
            ) -> ::core::result::Result<Self, ::tickcast::game::RestoreError> {
                #( #reads )*
                ::core::result::Result::Ok(Self {
                    #( #all_saved, )*
                    #( #skipped: ::core::default::Default::default(), )*
                })
            }
        }
    }
}

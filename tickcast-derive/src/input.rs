//! `#[derive(PlayerInput)]`: a game's input. Each field, in declaration order, is one
//! value of the Input message, with the inclusive range the server enforces.

use crate::attrs;
use crate::save::{impl_save_format, named_fields};
use proc_macro2::TokenStream;
use quote::quote;
use syn::{DeriveInput, Expr, LitStr, RangeLimits};

/// Most input fields a game may declare.
const MAX_INPUT_FIELDS: usize = 16;

/// The `PlayerInput` and `SaveFormat` impls of `input`, or the error that explains the mistake.
pub fn derive(input: &DeriveInput) -> syn::Result<TokenStream> {
    let container = attrs::container(&input.attrs)?;
    attrs::only(&container.given, &[], "PlayerInput")?;
    let fields = named_fields(input, "PlayerInput")?;
    if fields.len() > MAX_INPUT_FIELDS {
        return Err(syn::Error::new_spanned(
            &input.ident,
            format!("{} has {} input fields, at most {MAX_INPUT_FIELDS}", input.ident, fields.len()),
        ));
    }
    let mut bounds = Vec::new();
    let mut integer_checks = Vec::new();
    for f in &fields {
        attrs::only(&f.attrs.given, &["range"], "PlayerInput")?;
        let range = match &f.attrs.range {
            Some(Expr::Range(r))
                if matches!(r.limits, RangeLimits::Closed(_)) && r.start.is_some() && r.end.is_some() =>
            {
                r
            }
            _ => {
                return Err(syn::Error::new_spanned(
                    f.ident,
                    format!("input field `{}` needs its inclusive range: #[tickcast(range = MIN..=MAX)]", f.ident),
                ))
            }
        };
        bounds.push((range.start.clone(), range.end.clone()));
        let ty = &f.field.ty;
        let message =
            LitStr::new(&format!("input field `{}` of `{}` must be an integer", f.ident, input.ident), f.ident.span());
        let (lo, hi) = (&range.start, &range.end);
        let fits = LitStr::new(
            &format!("the range of input field `{}` of `{}` must be MIN..=MAX within its type", f.ident, input.ident),
            f.ident.span(),
        );
        integer_checks.push(quote! {
            const _: () = ::core::assert!(<#ty as ::tickcast::game::WireValue>::INTEGER, #message);
            const _: () = {
                const LO: i32 = (#lo) as i32;
                const HI: i32 = (#hi) as i32;
                ::core::assert!(
                    <#ty as ::tickcast::game::WireValue>::MIN <= LO
                        && LO <= HI
                        && HI <= <#ty as ::tickcast::game::WireValue>::MAX,
                    #fits
                );
            };
        });
    }

    let name = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let names: Vec<String> = fields.iter().map(|f| crate::field_name(f.ident)).collect();
    let idents: Vec<_> = fields.iter().map(|f| f.ident).collect();
    let types: Vec<_> = fields.iter().map(|f| &f.field.ty).collect();
    let mins: Vec<_> = bounds.iter().map(|(lo, _)| quote!((#lo) as i32)).collect();
    let maxs: Vec<_> = bounds.iter().map(|(_, hi)| quote!((#hi) as i32)).collect();
    // Restore refuses a saved input the server would not have accepted.
    let in_range = |f: &crate::save::NamedField<'_>| {
        let i = fields.iter().position(|g| g.ident == f.ident).expect("a field of this struct");
        let (ident, ty, lo, hi, field) = (f.ident, &f.field.ty, &mins[i], &maxs[i], &names[i]);
        let wire = crate::save::hidden("wire");
        quote! {
            let #wire = <#ty as ::tickcast::game::WireValue>::to_wire(&#ident, 1);
            if #wire < #lo || #wire > #hi {
                return ::core::result::Result::Err(::tickcast::game::RestoreError::new(
                    ::std::format!("{} is outside {}..={}", #wire, #lo, #hi),
                ).at(#field));
            }
        }
    };
    let save = impl_save_format(input, &fields, Some(&in_range));
    Ok(quote! {
        #save
        #( #integer_checks )*
        impl #impl_generics ::tickcast::game::PlayerInput for #name #ty_generics #where_clause {
            fn fields() -> ::std::vec::Vec<::tickcast::protocol::InputField> {
                ::std::vec![ #( ::tickcast::protocol::InputField::new(#names, #mins, #maxs) ),* ]
            }
            fn from_values(values: &[i32]) -> ::core::option::Option<Self> {
                match values {
                    [ #( #idents ),* ] => ::core::option::Option::Some(Self {
                        #( #idents: <#types as ::tickcast::game::WireValue>::from_wire(*#idents, 1)?, )*
                    }),
                    _ => ::core::option::Option::None,
                }
            }
            fn to_values(&self) -> ::std::vec::Vec<i32> {
                ::std::vec![ #( <#types as ::tickcast::game::WireValue>::to_wire(&self.#idents, 1) ),* ]
            }
        }
    })
}

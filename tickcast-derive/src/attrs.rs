//! The `#[tickcast(...)]` attributes, parsed once into plain structs; each derive then
//! refuses the ones that do not apply to it, with an error on the attribute.

use proc_macro2::Span;
use syn::{Attribute, Expr, ExprPath, Field, LitInt, LitStr, Type};

/// Attributes on the struct itself.
#[derive(Default)]
pub struct ContainerAttrs {
    /// `kind = "runner"` (Entity).
    pub kind: Option<LitStr>,
    /// `game = "tag"` (GameState).
    pub game: Option<LitStr>,
    /// `input = Move` (GameState).
    pub input: Option<Type>,
    /// `events = ["tagged", …]` (GameState).
    pub events: Vec<LitStr>,
    /// `version = 2` (GameState).
    pub version: Option<LitInt>,
    /// `check = Self::check` (GameState).
    pub check: Option<ExprPath>,
    /// Each attribute given, with its span, for "does not apply here" errors.
    pub given: Vec<(&'static str, Span)>,
}

/// Attributes on one field.
#[derive(Default)]
pub struct FieldAttrs {
    /// `replicate` (Entity).
    pub replicate: bool,
    /// `scale = 10` or `scale = SOME_CONST` (Entity, with `replicate`).
    pub scale: Option<Expr>,
    /// `range = EXPR` (restore refuses values outside; PlayerInput: `MIN..=MAX`).
    pub range: Option<Expr>,
    /// `skip`: not saved.
    pub skip: bool,
    /// `check`: saved, and restore refuses a value unlike this game's (GameState).
    pub check: bool,
    /// `entities`: a collection of one entity kind (GameState).
    pub entities: bool,
    /// `id_base = EXPR`: the first entity id of the collection (GameState).
    pub id_base: Option<Expr>,
    /// Each attribute given, with its span.
    pub given: Vec<(&'static str, Span)>,
}

fn tickcast_attrs(attrs: &[Attribute]) -> impl Iterator<Item = &Attribute> {
    attrs.iter().filter(|a| a.path().is_ident("tickcast"))
}

/// Parses the struct's `#[tickcast(...)]` attributes.
pub fn container(attrs: &[Attribute]) -> syn::Result<ContainerAttrs> {
    let mut out = ContainerAttrs::default();
    for attr in tickcast_attrs(attrs) {
        attr.parse_nested_meta(|meta| {
            let span = meta.path.span_of_ident();
            let name = if meta.path.is_ident("kind") {
                out.kind = Some(meta.value()?.parse()?);
                "kind"
            } else if meta.path.is_ident("game") {
                out.game = Some(meta.value()?.parse()?);
                "game"
            } else if meta.path.is_ident("input") {
                out.input = Some(meta.value()?.parse()?);
                "input"
            } else if meta.path.is_ident("events") {
                let list: syn::ExprArray = meta.value()?.parse()?;
                for e in list.elems {
                    match e {
                        Expr::Lit(syn::ExprLit { lit: syn::Lit::Str(s), .. }) => out.events.push(s),
                        other => return Err(syn::Error::new_spanned(other, "event kinds are string literals")),
                    }
                }
                "events"
            } else if meta.path.is_ident("version") {
                out.version = Some(meta.value()?.parse()?);
                "version"
            } else if meta.path.is_ident("check") {
                out.check = Some(meta.value()?.parse()?);
                "check"
            } else {
                return Err(meta.error("unknown tickcast attribute (kind, game, input, events, version, check)"));
            };
            out.given.push((name, span));
            Ok(())
        })?;
    }
    Ok(out)
}

/// Parses one field's `#[tickcast(...)]` attributes.
pub fn field(f: &Field) -> syn::Result<FieldAttrs> {
    let mut out = FieldAttrs::default();
    for attr in tickcast_attrs(&f.attrs) {
        attr.parse_nested_meta(|meta| {
            let span = meta.path.span_of_ident();
            let name = if meta.path.is_ident("replicate") {
                out.replicate = true;
                "replicate"
            } else if meta.path.is_ident("scale") {
                let scale: Expr = meta.value()?.parse()?;
                if let Expr::Lit(syn::ExprLit { lit: syn::Lit::Int(lit), .. }) = &scale {
                    if lit.base10_parse::<u32>()? == 0 {
                        return Err(syn::Error::new_spanned(lit, "a scale is the quanta per unit: at least 1"));
                    }
                }
                out.scale = Some(scale);
                "scale"
            } else if meta.path.is_ident("range") {
                out.range = Some(meta.value()?.parse()?);
                "range"
            } else if meta.path.is_ident("skip") {
                out.skip = true;
                "skip"
            } else if meta.path.is_ident("check") {
                out.check = true;
                "check"
            } else if meta.path.is_ident("entities") {
                out.entities = true;
                "entities"
            } else if meta.path.is_ident("id_base") {
                out.id_base = Some(meta.value()?.parse()?);
                "id_base"
            } else {
                return Err(meta.error(
                    "unknown tickcast field attribute (replicate, scale, range, skip, check, entities, id_base)",
                ));
            };
            out.given.push((name, span));
            Ok(())
        })?;
    }
    Ok(out)
}

/// Refuses any attribute in `given` that is not in `allowed`, naming the derive.
pub fn only(given: &[(&'static str, Span)], allowed: &[&str], derive: &str) -> syn::Result<()> {
    match given.iter().find(|(name, _)| !allowed.contains(name)) {
        Some((name, span)) => Err(syn::Error::new(
            *span,
            format!("`{name}` does not apply to #[derive({derive})] (it takes: {})", allowed.join(", ")),
        )),
        None => Ok(()),
    }
}

trait SpanOfIdent {
    fn span_of_ident(&self) -> Span;
}

impl SpanOfIdent for syn::Path {
    fn span_of_ident(&self) -> Span {
        self.segments.last().map(|s| s.ident.span()).unwrap_or_else(Span::call_site)
    }
}

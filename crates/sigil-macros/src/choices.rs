//! `#[derive(SigilEnum)]`: a fieldless enum as a fixed set of literal choices.

use proc_macro2::TokenStream;
use quote::quote;
use syn::ext::IdentExt;
use syn::{Attribute, Data, DeriveInput, Fields, LitStr};

use crate::util::{Errors, RenameRule, set_once, skip_meta_value};

/// Naming options read from `#[sigil(...)]` and `#[serde(...)]`.
#[derive(Default)]
struct Naming {
    rename: Option<LitStr>,
    rename_all: Option<LitStr>,
    skip: bool,
}

/// `#[sigil(rename = "..", rename_all = "..", skip)]`; unknown options are errors.
fn read_sigil(attrs: &[Attribute], on_variant: bool, errors: &mut Errors) -> Naming {
    let mut n = Naming::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("sigil")) {
        let res = attr.parse_nested_meta(|meta| {
            if on_variant && meta.path.is_ident("rename") {
                set_once(&mut n.rename, &meta, "rename")
            } else if on_variant && meta.path.is_ident("skip") {
                n.skip = true;
                Ok(())
            } else if !on_variant && meta.path.is_ident("rename_all") {
                set_once(&mut n.rename_all, &meta, "rename_all")
            } else if on_variant {
                Err(meta.error("unknown option in #[sigil(...)] on a variant; expected `rename = \"...\"` or `skip`"))
            } else {
                Err(meta.error("unknown option in #[sigil(...)] on an enum; expected `rename_all = \"...\"`"))
            }
        });
        if let Err(e) = res {
            errors.push(e);
        }
    }
    n
}

/// The parts of `#[serde(...)]` that change how a unit variant is written. Serde checks
/// its own attributes, so anything we can't read is left alone. For
/// `rename(serialize = .., deserialize = ..)` the deserialize name wins: it is the one an
/// LM's answer has to match.
fn read_serde(attrs: &[Attribute]) -> Naming {
    let mut n = Naming::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = attr.parse_nested_meta(|meta| {
            let slot = if meta.path.is_ident("rename") {
                Some(&mut n.rename)
            } else if meta.path.is_ident("rename_all") {
                Some(&mut n.rename_all)
            } else {
                None
            };
            match slot {
                Some(slot) if meta.input.peek(syn::Token![=]) => {
                    *slot = Some(meta.value()?.parse()?);
                }
                Some(slot) => {
                    meta.parse_nested_meta(|inner| {
                        if inner.path.is_ident("deserialize") {
                            *slot = Some(inner.value()?.parse()?);
                        } else {
                            skip_meta_value(&inner)?;
                        }
                        Ok(())
                    })?;
                }
                None => {
                    if meta.path.is_ident("skip") || meta.path.is_ident("skip_deserializing") {
                        n.skip = true;
                    }
                    skip_meta_value(&meta)?;
                }
            }
            Ok(())
        });
    }
    n
}

pub fn derive(input: DeriveInput) -> syn::Result<TokenStream> {
    let data = match &input.data {
        Data::Enum(e) => e,
        Data::Struct(s) => {
            return Err(syn::Error::new_spanned(
                s.struct_token,
                "#[derive(SigilEnum)] works on fieldless enums; for a struct used as a field type, \
                 use #[derive(schemars::JsonSchema, SigilObject)]",
            ));
        }
        Data::Union(u) => {
            return Err(syn::Error::new_spanned(
                u.union_token,
                "#[derive(SigilEnum)] works on fieldless enums, not unions",
            ));
        }
    };

    let mut errors = Errors::default();
    let sigil_enum = read_sigil(&input.attrs, false, &mut errors);
    let serde_enum = read_serde(&input.attrs);
    let rule_lit = sigil_enum.rename_all.or(serde_enum.rename_all);
    let rule = rule_lit.as_ref().and_then(|lit| {
        let r = RenameRule::from_str(&lit.value());
        if r.is_none() {
            errors.push_at(
                lit,
                format!(
                    "unknown rename_all rule `{}`; expected one of {}",
                    lit.value(),
                    RenameRule::NAMES
                ),
            );
        }
        r
    });

    let mut choices: Vec<String> = Vec::new();
    for v in &data.variants {
        if !matches!(v.fields, Fields::Unit) {
            errors.push_at(
                v,
                format!(
                    "variant `{}` has fields; #[derive(SigilEnum)] turns an enum into a fixed set of strings, \
                     so every variant must be fieldless (for data-carrying enums use #[derive(schemars::JsonSchema, SigilObject)])",
                    v.ident
                ),
            );
            continue;
        }
        let sigil_v = read_sigil(&v.attrs, true, &mut errors);
        let serde_v = read_serde(&v.attrs);
        if sigil_v.skip || serde_v.skip {
            continue;
        }
        let name = match sigil_v.rename.or(serde_v.rename) {
            Some(lit) => lit.value(),
            None => {
                let raw = v.ident.unraw().to_string();
                match rule {
                    Some(r) => r.apply_to_variant(&raw),
                    None => raw,
                }
            }
        };
        if choices.contains(&name) {
            errors.push_at(&v.ident, format!("choice `{name}` appears more than once"));
        }
        choices.push(name);
    }
    if choices.is_empty()
        && data
            .variants
            .iter()
            .all(|v| matches!(v.fields, Fields::Unit))
    {
        errors.push_at(
            &input.ident,
            "#[derive(SigilEnum)] needs at least one (non-skipped) variant to offer as a choice",
        );
    }
    errors.finish()?;

    let ident = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        #[automatically_derived]
        impl #impl_generics ::sigil::signature::SigilType for #ident #ty_generics #where_clause {
            fn field_type() -> ::sigil::signature::FieldType {
                ::sigil::signature::FieldType::Literal {
                    choices: ::std::vec![#(::std::string::String::from(#choices)),*],
                }
            }
        }
    })
}

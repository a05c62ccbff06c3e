//! `#[derive(Signature)]`.

use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::ext::IdentExt;
use syn::spanned::Spanned;
use syn::{Attribute, Data, DeriveInput, Fields, LitStr, Meta};

use crate::util::{Errors, doc_text, is_identifier, set_once};

#[derive(Clone, Copy, PartialEq)]
enum Side {
    Input,
    Output,
}

impl Side {
    fn attr(self) -> &'static str {
        match self {
            Side::Input => "input",
            Side::Output => "output",
        }
    }
}

struct FieldSpec {
    side: Side,
    name: String,
    ty: syn::Type,
    desc: Option<String>,
    prefix: Option<String>,
}

/// Options from `#[input(...)]` / `#[output(...)]`.
#[derive(Default)]
struct FieldOpts {
    desc: Option<LitStr>,
    prefix: Option<LitStr>,
    rename: Option<LitStr>,
}

fn parse_field_attr(attr: &Attribute, side: Side, opts: &mut FieldOpts) -> syn::Result<()> {
    let name = side.attr();
    match &attr.meta {
        Meta::Path(_) => Ok(()),
        Meta::List(_) => attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("desc") {
                set_once(&mut opts.desc, &meta, "desc")
            } else if meta.path.is_ident("prefix") {
                set_once(&mut opts.prefix, &meta, "prefix")
            } else if meta.path.is_ident("rename") {
                set_once(&mut opts.rename, &meta, "rename")
            } else {
                Err(meta.error(format!(
                    "unknown option in #[{name}(...)]; expected `desc = \"...\"`, `prefix = \"...\"` or `rename = \"...\"`"
                )))
            }
        }),
        Meta::NameValue(nv) => Err(syn::Error::new_spanned(
            nv,
            format!("expected `#[{name}]` or `#[{name}(desc = \"...\")]`"),
        )),
    }
}

/// `#[signature(instructions = "...")]` on the struct.
fn parse_struct_attrs(attrs: &[Attribute], errors: &mut Errors) -> Option<LitStr> {
    let mut instructions = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("signature")) {
        let res = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("instructions") {
                set_once(&mut instructions, &meta, "instructions")
            } else {
                Err(meta.error(
                    "unknown option in #[signature(...)]; expected `instructions = \"...\"`",
                ))
            }
        });
        if let Err(e) = res {
            errors.push(e);
        }
    }
    instructions
}

pub fn derive(input: DeriveInput) -> syn::Result<TokenStream> {
    let fields = match &input.data {
        Data::Struct(s) => match &s.fields {
            Fields::Named(named) => named,
            Fields::Unnamed(unnamed) => {
                return Err(syn::Error::new_spanned(
                    unnamed,
                    "#[derive(Signature)] needs named fields: signature fields are named after the struct's fields \
                     (e.g. `struct QA { #[input] question: String, #[output] answer: String }`), so a tuple struct can't be one",
                ));
            }
            Fields::Unit => {
                return Err(syn::Error::new_spanned(
                    &input.ident,
                    "#[derive(Signature)] needs a struct with named #[input] and #[output] fields, \
                     e.g. `struct QA { #[input] question: String, #[output] answer: String }`",
                ));
            }
        },
        Data::Enum(e) => {
            return Err(syn::Error::new_spanned(
                e.enum_token,
                "#[derive(Signature)] works on structs with named fields, not enums; \
                 to use a fieldless enum as a field type, use #[derive(SigilEnum)]",
            ));
        }
        Data::Union(u) => {
            return Err(syn::Error::new_spanned(
                u.union_token,
                "#[derive(Signature)] works on structs with named fields, not unions",
            ));
        }
    };

    let mut errors = Errors::default();
    let explicit = parse_struct_attrs(&input.attrs, &mut errors);
    let instructions = match explicit {
        Some(lit) => Some(lit.value()),
        None => doc_text(
            &input.attrs,
            &mut errors,
            "#[signature(instructions = \"...\")]",
        ),
    };

    let mut specs: Vec<FieldSpec> = Vec::new();
    let mut seen: Vec<(String, proc_macro2::Span)> = Vec::new();
    for field in &fields.named {
        let ident = field.ident.as_ref().expect("named field");
        let mut side: Option<(Side, &Attribute)> = None;
        let mut opts = FieldOpts::default();
        for attr in &field.attrs {
            let this = if attr.path().is_ident("input") {
                Side::Input
            } else if attr.path().is_ident("output") {
                Side::Output
            } else {
                continue;
            };
            match side {
                Some((prev, _)) if prev == this => {
                    errors.push_at(
                        attr,
                        format!("field `{ident}` has #[{}] more than once", this.attr()),
                    );
                    continue;
                }
                Some(_) => {
                    errors.push_at(
                        attr,
                        format!("field `{ident}` is marked both #[input] and #[output]; a signature field is on one side only"),
                    );
                    continue;
                }
                None => side = Some((this, attr)),
            }
            if let Err(e) = parse_field_attr(attr, this, &mut opts) {
                errors.push(e);
            }
        }
        let Some((side, _)) = side else {
            errors.push_at(
                ident,
                format!(
                    "field `{ident}` is not marked as part of the signature; \
                     add #[input] or #[output] (optionally with `desc = \"...\"`)"
                ),
            );
            continue;
        };

        let name = match &opts.rename {
            Some(lit) => {
                let n = lit.value();
                if !is_identifier(&n) {
                    errors.push_at(lit, format!("`{n}` is not a valid signature field name (letters, digits and `_`, not starting with a digit)"));
                }
                n
            }
            None => {
                let n = ident.unraw().to_string();
                if !is_identifier(&n) {
                    errors.push_at(ident, format!("`{n}` is not a valid signature field name; give one with `rename = \"...\"`"));
                }
                n
            }
        };
        let name_span = opts
            .rename
            .as_ref()
            .map(|l| l.span())
            .unwrap_or_else(|| ident.span());
        if let Some((_, first)) = seen.iter().find(|(n, _)| *n == name) {
            let mut e = syn::Error::new(
                name_span,
                format!("signature field `{name}` appears more than once"),
            );
            e.combine(syn::Error::new(*first, format!("`{name}` first used here")));
            errors.push(e);
        }
        seen.push((name.clone(), name_span));

        specs.push(FieldSpec {
            side,
            name,
            ty: field.ty.clone(),
            desc: match opts.desc {
                Some(lit) => Some(lit.value()),
                None => doc_text(
                    &field.attrs,
                    &mut errors,
                    &format!("#[{}(desc = \"...\")]", side.attr()),
                ),
            },
            prefix: opts.prefix.map(|l| l.value()),
        });
    }
    errors.finish()?;

    let build = |side: Side| {
        let items = specs.iter().filter(|s| s.side == side).map(|s| {
            let name = &s.name;
            let ty = &s.ty;
            let field_type = quote_spanned! {ty.span()=>
                <#ty as ::sigil::signature::SigilType>::field_type()
            };
            let desc = opt_string(&s.desc);
            let prefix = opt_string(&s.prefix);
            quote! {
                {
                    let mut field = ::sigil::signature::Field::new(#name, #field_type);
                    field.desc = #desc;
                    field.prefix = #prefix;
                    field
                }
            }
        });
        quote! { ::std::vec![#(#items),*] }
    };
    let inputs = build(Side::Input);
    let outputs = build(Side::Output);
    let with_instructions = match &instructions {
        Some(text) => quote! { let signature = signature.with_instructions(#text); },
        None => quote! {},
    };

    let ident = &input.ident;
    let mut generics = input.generics.clone();
    if generics.type_params().next().is_some() {
        let where_clause = generics.make_where_clause();
        for s in &specs {
            let ty = &s.ty;
            where_clause
                .predicates
                .push(syn::parse_quote!(#ty: ::sigil::signature::SigilType));
        }
    }
    let (impl_generics, ty_generics, where_clause) = generics.split_for_impl();
    let ident_str = ident.to_string();

    Ok(quote! {
        #[automatically_derived]
        impl #impl_generics ::sigil::signature::TypedSignature for #ident #ty_generics #where_clause {
            fn signature() -> ::sigil::signature::Signature {
                let signature = ::sigil::signature::Signature::new(#inputs, #outputs)
                    .unwrap_or_else(|e| ::std::panic!("#[derive(Signature)] on `{}` built an invalid signature: {}", #ident_str, e));
                #with_instructions
                signature
            }
        }
    })
}

fn opt_string(s: &Option<String>) -> TokenStream {
    match s {
        Some(s) => quote! { ::std::option::Option::Some(::std::string::String::from(#s)) },
        None => quote! { ::std::option::Option::None },
    }
}

//! Derives for Sigil: `#[derive(Signature)]`, `#[derive(SigilEnum)]`, `#[derive(SigilObject)]`.
//!
//! Use them through the `sigil` crate (`sigil::Signature`, `sigil::SigilEnum`,
//! `sigil::SigilObject`); the generated code names `::sigil::...` paths.

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

mod choices;
mod object;
mod signature;
mod util;

/// Declares a signature as a struct: implements `sigil::signature::TypedSignature`.
///
/// ```text
/// use sigil::Signature;
/// use sigil::signature::TypedSignature;
///
/// /// Answer questions with short factoid answers.
/// #[derive(Signature)]
/// struct QA {
///     #[input]
///     question: String,
///     #[input(desc = "may contain relevant facts")]
///     context: Vec<String>,
///     #[output(desc = "often between 1 and 5 words", prefix = "Answer:")]
///     answer: String,
/// }
///
/// let sig = QA::signature();
/// ```
///
/// - The struct's doc comment becomes the instructions (lines joined with `\n` and
///   cleaned like a Python docstring); without one the signature keeps DSPy's default
///   instructions. `#[signature(instructions = "...")]` on the struct overrides the doc.
/// - Every field is marked `#[input]` or `#[output]`; fields keep declaration order on
///   each side. Options: `desc = "..."` (otherwise the field's doc comment, if any),
///   `prefix = "..."`, and `rename = "..."` (the field name in the signature; `r#type`
///   is `type` without it).
/// - A field's type gives its field type through `sigil::signature::SigilType`:
///   `String` → str, integers → int, floats → float, `bool`, `Vec<T>` → list[T],
///   `HashMap<String, T>` → dict[str, T], `Option<T>` → optional[T], a
///   `#[derive(SigilEnum)]` enum → a literal choice, a `#[derive(SigilObject)]` type → an
///   object with its JSON schema.
#[proc_macro_derive(Signature, attributes(input, output, signature))]
pub fn derive_signature(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    signature::derive(input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Makes a fieldless enum a signature field type with a fixed set of choices
/// (`FieldType::Literal`), one per variant.
///
/// A choice is the variant's name, changed by `#[sigil(rename = "...")]` or
/// `#[serde(rename = "...")]` on the variant, or by `#[sigil(rename_all = "...")]` /
/// `#[serde(rename_all = "...")]` on the enum (serde's rules, e.g. `"snake_case"`), so
/// choices match what serde reads back. Variants with `#[sigil(skip)]`,
/// `#[serde(skip)]` or `#[serde(skip_deserializing)]` are left out.
///
/// ```text
/// #[derive(sigil::SigilEnum, serde::Deserialize)]
/// #[serde(rename_all = "lowercase")]
/// enum Sentiment { Positive, Negative, Neutral }
/// // field type: Literal { choices: ["positive", "negative", "neutral"] }
/// ```
#[proc_macro_derive(SigilEnum, attributes(sigil, serde))]
pub fn derive_sigil_enum(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    choices::derive(input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

/// Makes a type that implements `schemars::JsonSchema` (usually a struct) a signature
/// field type: `FieldType::Object { name, schema }` where `name` is its schema name (the
/// type's name unless renamed) and `schema` its JSON schema with subschemas inlined
/// (see `sigil::signature::FieldType::object_of`).
///
/// ```text
/// #[derive(schemars::JsonSchema, sigil::SigilObject)]
/// struct Citation { source: String, page: u32 }
/// ```
#[proc_macro_derive(SigilObject)]
pub fn derive_sigil_object(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    object::derive(input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

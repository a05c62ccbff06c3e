//! Helpers shared by the derives: doc comments, names, rename rules, error collection.

use syn::{Attribute, Expr, ExprLit, Lit, LitStr, Meta};

/// Collects several errors so one compile reports them all.
#[derive(Default)]
pub struct Errors(Option<syn::Error>);

impl Errors {
    pub fn push(&mut self, e: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(e),
            None => self.0 = Some(e),
        }
    }
    pub fn push_at<T: quote::ToTokens>(&mut self, tokens: T, msg: impl std::fmt::Display) {
        self.push(syn::Error::new_spanned(tokens, msg));
    }
    pub fn finish(self) -> syn::Result<()> {
        match self.0 {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

/// The text of an item's doc comment, cleaned the way Python's `inspect.cleandoc`
/// cleans a docstring: the first line loses its leading whitespace, later lines lose
/// their common indentation, blank lines at either end are dropped. `None` when there
/// is no doc comment or it is blank.
///
/// A doc attribute that is not a string literal (`#[doc = include_str!(..)]`) can't be
/// read by a derive; it is reported as an error naming `alternative`.
pub fn doc_text(attrs: &[Attribute], errors: &mut Errors, alternative: &str) -> Option<String> {
    let mut lines: Vec<String> = Vec::new();
    for attr in attrs.iter().filter(|a| a.path().is_ident("doc")) {
        // `#[doc(hidden)]`, `#[doc(alias = "..")]` are not text.
        if let Meta::NameValue(nv) = &attr.meta {
            match &nv.value {
                Expr::Lit(ExprLit { lit: Lit::Str(s), .. }) => {
                    lines.extend(s.value().split('\n').map(|l| l.replace('\t', "    ")));
                }
                other => errors.push_at(
                    other,
                    format!("a doc comment that is not a string literal can't be read here; use {alternative} instead"),
                ),
            }
        }
    }
    clean_doc(lines)
}

fn clean_doc(mut lines: Vec<String>) -> Option<String> {
    if lines.is_empty() {
        return None;
    }
    let indent = |l: &str| l.len() - l.trim_start().len();
    let margin = lines
        .iter()
        .skip(1)
        .filter(|l| !l.trim().is_empty())
        .map(|l| indent(l))
        .min()
        .unwrap_or(0);
    lines[0] = lines[0].trim_start().to_string();
    for l in lines.iter_mut().skip(1) {
        *l = if l.trim().is_empty() {
            String::new()
        } else {
            l[margin.min(indent(l))..].to_string()
        };
    }
    for l in lines.iter_mut() {
        l.truncate(l.trim_end().len());
    }
    let text = lines.join("\n");
    let text = text.trim_matches('\n');
    if text.trim().is_empty() {
        None
    } else {
        Some(text.to_string())
    }
}

/// The same rule `Signature` applies to field names.
pub fn is_identifier(s: &str) -> bool {
    let mut cs = s.chars();
    matches!(cs.next(), Some(c) if c.is_alphabetic() || c == '_')
        && cs.all(|c| c.is_alphanumeric() || c == '_')
}

/// Serde's `rename_all` rules, applied to a variant name written in PascalCase.
#[derive(Clone, Copy)]
pub enum RenameRule {
    Lower,
    Upper,
    Pascal,
    Camel,
    Snake,
    ScreamingSnake,
    Kebab,
    ScreamingKebab,
}

impl RenameRule {
    pub const NAMES: &'static str = "\"lowercase\", \"UPPERCASE\", \"PascalCase\", \"camelCase\", \"snake_case\", \
                                     \"SCREAMING_SNAKE_CASE\", \"kebab-case\", \"SCREAMING-KEBAB-CASE\"";

    pub fn from_str(s: &str) -> Option<Self> {
        Some(match s {
            "lowercase" => RenameRule::Lower,
            "UPPERCASE" => RenameRule::Upper,
            "PascalCase" => RenameRule::Pascal,
            "camelCase" => RenameRule::Camel,
            "snake_case" => RenameRule::Snake,
            "SCREAMING_SNAKE_CASE" => RenameRule::ScreamingSnake,
            "kebab-case" => RenameRule::Kebab,
            "SCREAMING-KEBAB-CASE" => RenameRule::ScreamingKebab,
            _ => return None,
        })
    }

    pub fn apply_to_variant(self, variant: &str) -> String {
        let snake = || {
            let mut out = String::new();
            for (i, c) in variant.char_indices() {
                if i > 0 && c.is_uppercase() {
                    out.push('_');
                }
                out.extend(c.to_lowercase());
            }
            out
        };
        match self {
            RenameRule::Lower => variant.to_lowercase(),
            RenameRule::Upper => variant.to_uppercase(),
            RenameRule::Pascal => variant.to_string(),
            RenameRule::Camel => {
                let mut cs = variant.chars();
                match cs.next() {
                    Some(f) => f.to_lowercase().chain(cs).collect(),
                    None => String::new(),
                }
            }
            RenameRule::Snake => snake(),
            RenameRule::ScreamingSnake => snake().to_uppercase(),
            RenameRule::Kebab => snake().replace('_', "-"),
            RenameRule::ScreamingKebab => snake().to_uppercase().replace('_', "-"),
        }
    }
}

/// Reads the string after `key =` in a nested meta, reporting a repeat of the same key.
pub fn set_once(
    slot: &mut Option<LitStr>,
    meta: &syn::meta::ParseNestedMeta<'_>,
    key: &str,
) -> syn::Result<()> {
    let lit: LitStr = meta.value()?.parse()?;
    if slot.is_some() {
        return Err(syn::Error::new(
            lit.span(),
            format!("`{key}` is given more than once"),
        ));
    }
    *slot = Some(lit);
    Ok(())
}

/// Skips the value of a nested meta we don't interpret (`key = expr`, `key(...)` or bare `key`).
pub fn skip_meta_value(meta: &syn::meta::ParseNestedMeta<'_>) -> syn::Result<()> {
    if meta.input.peek(syn::Token![=]) {
        meta.value()?.parse::<Expr>()?;
    } else if meta.input.peek(syn::token::Paren) {
        let _content;
        syn::parenthesized!(_content in meta.input);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn cleans_like_cleandoc() {
        assert_eq!(
            clean_doc(lines(&[" Answer questions."])).as_deref(),
            Some("Answer questions.")
        );
        assert_eq!(
            clean_doc(lines(&[" First.", "", "   indented", " Second.  "])).as_deref(),
            Some("First.\n\n  indented\nSecond.")
        );
        assert_eq!(
            clean_doc(lines(&["", " a", " b", ""])).as_deref(),
            Some("a\nb")
        );
        assert_eq!(clean_doc(lines(&["  ", ""])), None);
        assert_eq!(clean_doc(vec![]), None);
    }

    #[test]
    fn rename_rules_match_serde() {
        let v = "VeryPositive";
        let got: Vec<String> = [
            "lowercase",
            "UPPERCASE",
            "PascalCase",
            "camelCase",
            "snake_case",
            "SCREAMING_SNAKE_CASE",
            "kebab-case",
            "SCREAMING-KEBAB-CASE",
        ]
        .iter()
        .map(|r| RenameRule::from_str(r).unwrap().apply_to_variant(v))
        .collect();
        assert_eq!(
            got,
            [
                "verypositive",
                "VERYPOSITIVE",
                "VeryPositive",
                "veryPositive",
                "very_positive",
                "VERY_POSITIVE",
                "very-positive",
                "VERY-POSITIVE"
            ]
        );
        assert!(RenameRule::from_str("Title Case").is_none());
    }
}

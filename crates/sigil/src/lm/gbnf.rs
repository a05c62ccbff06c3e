//! Output constraints written as GBNF grammars, the grammar language llama.cpp's
//! servers (`llama-server`, and llama-cpp-python's server) accept in a chat request's
//! `grammar` field. With it a compatible server decodes only completions the adapter
//! can parse: the ChatAdapter's `[[ ## field ## ]]` sections with typed values, or one
//! of a set of strings.
//!
//! The value grammars match the embedded engine's constrained decoding (`sigil-local`):
//! free text is non-empty, starts with neither white space nor `[`, and has no blank
//! line (a blank line ends it); numbers are `-?[0-9]+` with an optional fraction; chat
//! booleans are `True` / `False`; lists, dicts and nested objects are JSON (a nested
//! object is any JSON object here, not checked against its schema).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::lm::OutputConstraint;
use crate::signature::FieldType;

/// Deeper types than this are refused (a type that deep is a mistake, and a grammar
/// for it would be large).
const MAX_DEPTH: usize = 24;

/// Why a constraint has no grammar.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrammarError {
    #[error("impossible constraint: {0}")]
    Impossible(&'static str),
    #[error("type nested more than {MAX_DEPTH} levels deep")]
    TooDeep,
    #[error("a JSON-schema constraint is sent as response_format, not as a grammar")]
    JsonSchema,
}

/// The GBNF grammar (root rule `root`) of a `Choice` or `ChatFields` constraint.
pub fn grammar(constraint: &OutputConstraint) -> Result<String, GrammarError> {
    let mut g = Builder::default();
    let root = match constraint {
        OutputConstraint::Choice { choices } => g.choice(choices)?,
        OutputConstraint::ChatFields { fields } => {
            if fields.is_empty() {
                return Err(GrammarError::Impossible("no output fields"));
            }
            let mut seq = Vec::with_capacity(fields.len() * 2 + 1);
            for (i, (name, ty)) in fields.iter().enumerate() {
                let sep = if i == 0 { "" } else { "\n\n" };
                seq.push(literal(&format!("{sep}[[ ## {name} ## ]]\n")));
                seq.push(g.chat_value(ty, 0)?);
            }
            seq.push(literal("\n\n[[ ## completed ## ]]"));
            seq.join(" ")
        }
        OutputConstraint::JsonSchema { .. } => return Err(GrammarError::JsonSchema),
    };
    let mut out = format!("root ::= {root}\n");
    for (name, body) in &g.rules {
        let _ = writeln!(out, "{name} ::= {body}");
    }
    Ok(out)
}

/// A GBNF string literal.
fn literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(out, "\\x{:02X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Named helper rules, each written once.
#[derive(Default)]
struct Builder {
    rules: BTreeMap<String, String>,
}

impl Builder {
    /// Adds `name ::= body` (once) and returns the name.
    fn rule(
        &mut self,
        name: &str,
        body: impl FnOnce(&mut Self) -> Result<String, GrammarError>,
    ) -> Result<String, GrammarError> {
        if !self.rules.contains_key(name) {
            // Reserve the name first so recursive rules terminate.
            self.rules.insert(name.to_string(), String::new());
            let b = body(self)?;
            self.rules.insert(name.to_string(), b);
        }
        Ok(name.to_string())
    }

    fn choice(&mut self, choices: &[String]) -> Result<String, GrammarError> {
        if choices.is_empty() {
            return Err(GrammarError::Impossible("an empty set of choices"));
        }
        if choices.iter().any(String::is_empty) {
            return Err(GrammarError::Impossible("an empty choice"));
        }
        let alts: Vec<String> = choices.iter().map(|c| literal(c)).collect();
        Ok(format!("({})", alts.join(" | ")))
    }

    fn int(&mut self) -> Result<String, GrammarError> {
        self.rule("int", |_| Ok(r#""-"? [0-9]+"#.into()))
    }

    fn float(&mut self) -> Result<String, GrammarError> {
        self.rule("float", |_| Ok(r#""-"? [0-9]+ ("." [0-9]+)?"#.into()))
    }

    /// A ChatAdapter field value.
    fn chat_value(&mut self, ty: &FieldType, depth: usize) -> Result<String, GrammarError> {
        if depth > MAX_DEPTH {
            return Err(GrammarError::TooDeep);
        }
        match ty {
            FieldType::Str => self.rule("chat-text", |_| {
                Ok(r#"[^ \t\n\r[] ([^\n] | "\n" [^\n])*"#.into())
            }),
            FieldType::Int => self.int(),
            FieldType::Float => self.float(),
            FieldType::Bool => Ok(r#"("True" | "False")"#.into()),
            FieldType::Literal { choices } => self.choice(choices),
            FieldType::Optional { inner } => self.chat_value(inner, depth + 1),
            other => self.json(other, depth),
        }
    }

    /// A JSON value of a field type (inside lists, dicts and nested values).
    fn json(&mut self, ty: &FieldType, depth: usize) -> Result<String, GrammarError> {
        if depth > MAX_DEPTH {
            return Err(GrammarError::TooDeep);
        }
        match ty {
            FieldType::Str => self.json_string(),
            FieldType::Int => self.int(),
            FieldType::Float => self.float(),
            FieldType::Bool => Ok(r#"("true" | "false")"#.into()),
            FieldType::Literal { choices } => {
                let quoted: Vec<String> = choices
                    .iter()
                    .map(|c| serde_json::Value::String(c.clone()).to_string())
                    .collect();
                self.choice(&quoted)
            }
            FieldType::Optional { inner } => self.json(inner, depth + 1),
            FieldType::List { item } => {
                let item = self.json(item, depth + 1)?;
                let name = format!("list-{}", rule_suffix(&item));
                self.rule(&name, |_| {
                    Ok(format!(r#""[" ({item} ("," " "? {item})*)? "]""#))
                })
            }
            FieldType::Dict { value } => {
                let value = self.json(value, depth + 1)?;
                let key = self.json_string()?;
                let name = format!("dict-{}", rule_suffix(&value));
                self.rule(&name, |_| {
                    Ok(format!(
                        r#""{{" ({key} ":" " "? {value} ("," " "? {key} ":" " "? {value})*)? "}}""#
                    ))
                })
            }
            FieldType::Object { .. } => self.json_object(),
        }
    }

    fn json_string(&mut self) -> Result<String, GrammarError> {
        self.rule("json-string", |_| {
            Ok(r#""\"" ([^"\\\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F] [0-9a-fA-F]))* "\"""#.into())
        })
    }

    /// Any JSON object (with the `json-value` rules it needs).
    fn json_object(&mut self) -> Result<String, GrammarError> {
        let s = self.json_string()?;
        self.rule("json-number", |_| {
            Ok(r#""-"? [0-9]+ ("." [0-9]+)? ([eE] [-+]? [0-9]+)?"#.into())
        })?;
        self.rule("json-value", |_| {
            Ok(format!(
                r#"json-object | json-array | {s} | json-number | "true" | "false" | "null""#
            ))
        })?;
        self.rule("json-array", |_| {
            Ok(r#""[" (json-value ("," " "? json-value)*)? "]""#.into())
        })?;
        self.rule("json-object", |_| {
            Ok(format!(
                r#""{{" ({s} ":" " "? json-value ("," " "? {s} ":" " "? json-value)*)? "}}""#
            ))
        })
    }
}

/// A rule-name fragment for the rule (or inline expression) `expr`: rule names pass
/// through, inline expressions get a stable hash.
fn rule_suffix(expr: &str) -> String {
    if expr.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return expr.to_string();
    }
    // FNV-1a: stable across runs and platforms, so grammars (and cache keys) are too.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in expr.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("x{h:016x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chat(fields: &[(&str, FieldType)]) -> String {
        grammar(&OutputConstraint::ChatFields {
            fields: fields
                .iter()
                .map(|(n, t)| (n.to_string(), t.clone()))
                .collect(),
        })
        .unwrap()
    }

    #[test]
    fn chat_fields_grammar_is_the_chat_format() {
        let g = chat(&[("answer", FieldType::Str), ("n", FieldType::Int)]);
        assert_eq!(
            g,
            "root ::= \"[[ ## answer ## ]]\\n\" chat-text \"\\n\\n[[ ## n ## ]]\\n\" int \"\\n\\n[[ ## completed ## ]]\"\n\
             chat-text ::= [^ \\t\\n\\r[] ([^\\n] | \"\\n\" [^\\n])*\n\
             int ::= \"-\"? [0-9]+\n"
        );
    }

    #[test]
    fn literal_choices_are_escaped() {
        let g = grammar(&OutputConstraint::Choice {
            choices: vec!["say \"hi\"".into(), "a\\b".into(), "line\nbreak".into()],
        })
        .unwrap();
        assert_eq!(
            g,
            "root ::= (\"say \\\"hi\\\"\" | \"a\\\\b\" | \"line\\nbreak\")\n"
        );
    }

    #[test]
    fn nested_types_get_one_rule_each() {
        let g = chat(&[
            ("tags", FieldType::list(FieldType::Str)),
            ("more", FieldType::list(FieldType::Str)),
            (
                "scores",
                FieldType::Dict {
                    value: Box::new(FieldType::list(FieldType::Float)),
                },
            ),
            (
                "obj",
                FieldType::Object {
                    name: "O".into(),
                    schema: serde_json::json!({}),
                },
            ),
            (
                "kind",
                FieldType::list(FieldType::Literal {
                    choices: vec!["a".into(), "b".into()],
                }),
            ),
        ]);
        assert_eq!(g.matches("list-json-string ::=").count(), 1, "{g}");
        assert!(g.contains("dict-list-float ::= \"{\" (json-string"), "{g}");
        assert!(g.contains("json-object ::="), "{g}");
        assert!(g.contains("json-value ::="), "{g}");
        // The enum list's item is an inline alternative: its rule name is a hash.
        assert!(g.contains("(\"\\\"a\\\"\" | \"\\\"b\\\"\")"), "{g}");
        // Every rule used is defined.
        for word in g.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
            if word.starts_with("list-") || word.starts_with("dict-") || word.starts_with("json-") {
                assert!(
                    g.contains(&format!("{word} ::=")),
                    "{word} undefined in {g}"
                );
            }
        }
    }

    #[test]
    fn impossible_and_unsupported_constraints_are_errors() {
        assert_eq!(
            grammar(&OutputConstraint::Choice { choices: vec![] }),
            Err(GrammarError::Impossible("an empty set of choices"))
        );
        assert_eq!(
            grammar(&OutputConstraint::ChatFields { fields: vec![] }),
            Err(GrammarError::Impossible("no output fields"))
        );
        assert_eq!(
            grammar(&OutputConstraint::JsonSchema {
                name: "x".into(),
                schema: serde_json::json!({})
            }),
            Err(GrammarError::JsonSchema)
        );
        let mut t = FieldType::Str;
        for _ in 0..30 {
            t = FieldType::list(t);
        }
        assert_eq!(chat_err(&[("deep", t)]), GrammarError::TooDeep);
    }

    fn chat_err(fields: &[(&str, FieldType)]) -> GrammarError {
        grammar(&OutputConstraint::ChatFields {
            fields: fields
                .iter()
                .map(|(n, t)| (n.to_string(), t.clone()))
                .collect(),
        })
        .unwrap_err()
    }
}

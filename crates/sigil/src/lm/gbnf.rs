//! Output constraints written as GBNF grammars, the grammar language llama.cpp's
//! servers (`llama-server`, and llama-cpp-python's server) accept in a chat request's
//! `grammar` field. With it a compatible server decodes only completions the adapter
//! can parse.
//!
//! This is a printer: it writes the [`Node`] tree of a [`CompiledConstraint`], the same
//! tree the embedded engine's matcher (`sigil-local`) reads, so both accept the same
//! strings. Each node's meaning is documented on [`Node`].

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use crate::lm::OutputConstraint;
use crate::lm::constraint::{
    CHAT_TEXT_NOT_FIRST, CompiledConstraint, ConstraintError, MAX_FRACTION_DIGITS, MAX_INT_DIGITS,
    Node,
};

/// The GBNF grammar (root rule `root`) of a constraint.
pub fn grammar(constraint: &OutputConstraint) -> Result<String, ConstraintError> {
    Ok(print(&CompiledConstraint::new(constraint)?))
}

/// The GBNF grammar (root rule `root`) of a compiled constraint.
fn print(compiled: &CompiledConstraint) -> String {
    let mut g = Printer::default();
    let root = match &**compiled.root() {
        // The root sequence needs no parentheses.
        Node::Seq(items) => {
            let parts: Vec<String> = items.iter().map(|n| g.expr(n)).collect();
            parts.join(" ")
        }
        other => g.expr(other),
    };
    let mut out = format!("root ::= {root}\n");
    for (name, body) in &g.rules {
        let _ = writeln!(out, "{name} ::= {body}");
    }
    out
}

/// A GBNF string literal.
fn literal(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c => escape_into(&mut out, c),
        }
    }
    out.push('"');
    out
}

/// Writes `c`, escaped if it is a control or white-space character other than a space.
fn escape_into(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        ' ' => out.push(' '),
        c if (c as u32) < 0x20 || c as u32 == 0x7f => {
            let _ = write!(out, "\\x{:02X}", c as u32);
        }
        c if c.is_whitespace() || c.is_control() => {
            let _ = write!(out, "\\u{:04X}", c as u32);
        }
        c => out.push(c),
    }
}

/// Named helper rules, each written once.
#[derive(Default)]
struct Printer {
    rules: BTreeMap<String, String>,
}

impl Printer {
    /// Adds `name ::= body` (once) and returns the name.
    fn rule(&mut self, name: &str, body: impl FnOnce(&mut Self) -> String) -> String {
        if !self.rules.contains_key(name) {
            // Reserved first, so a recursive rule (`json-value`) refers to itself.
            self.rules.insert(name.to_string(), String::new());
            let b = body(self);
            self.rules.insert(name.to_string(), b);
        }
        name.to_string()
    }

    /// The GBNF expression of a node.
    fn expr(&mut self, node: &Node) -> String {
        match node {
            Node::Literal(s) => literal(s),
            Node::Choice(options) => {
                let alts: Vec<String> = options.iter().map(|c| literal(c)).collect();
                format!("({})", alts.join(" | "))
            }
            Node::Branch(branches) => {
                let alts: Vec<String> = branches
                    .iter()
                    .map(|(key, node)| format!("{} {}", literal(key), self.expr(node)))
                    .collect();
                format!("({})", alts.join(" | "))
            }
            Node::Int => self.rule("int", |_| {
                format!(r#""-"? ("0" | [1-9] [0-9]{{0,{}}})"#, MAX_INT_DIGITS - 1)
            }),
            Node::Float => {
                let int = self.expr(&Node::Int);
                self.rule("float", |_| {
                    format!(r#"{int} ("." [0-9]{{1,{MAX_FRACTION_DIGITS}}})?"#)
                })
            }
            Node::ChatText => self.rule("chat-text", |_| {
                let mut class = String::from("[^");
                for c in CHAT_TEXT_NOT_FIRST {
                    // None of these is `]`, `\\`, `^` or `-`, which a class would need
                    // escaped; `[` needs no escape inside one.
                    escape_into(&mut class, c);
                }
                class.push(']');
                format!(r#"{class} ([^\n] | "\n" [^\n])*"#)
            }),
            Node::JsonString => self.rule("json-string", |_| {
                r#""\"" ([^"\\\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4}))* "\"""#.into()
            }),
            Node::JsonValue => self.rule("json-value", |g| {
                let map = g.expr(&Node::Map(Arc::new(Node::JsonValue)));
                let list = g.expr(&Node::List(Arc::new(Node::JsonValue)));
                let string = g.expr(&Node::JsonString);
                let number = g.expr(&Node::Float);
                format!(r#"{map} | {list} | {string} | {number} | "true" | "false" | "null""#)
            }),
            Node::Seq(items) => {
                let parts: Vec<String> = items.iter().map(|n| self.expr(n)).collect();
                format!("({})", parts.join(" "))
            }
            Node::List(item) => {
                let item = self.expr(item);
                let name = format!("list-{}", rule_suffix(&item));
                self.rule(&name, |_| {
                    format!(r#""[" ({item} ("," " "? {item})*)? "]""#)
                })
            }
            Node::Map(value) => {
                let value = self.expr(value);
                let key = self.expr(&Node::JsonString);
                let name = format!("map-{}", rule_suffix(&value));
                self.rule(&name, |_| {
                    let pair = format!(r#"{key} ":" " "? {value}"#);
                    format!(r#""{{" ({pair} ("," " "? {pair})*)? "}}""#)
                })
            }
        }
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
    use crate::signature::FieldType;

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
             chat-text ::= [^\\t\\n\\x0B\\x0C\\r \\u0085\\u00A0\\u1680\\u2000\\u2001\\u2002\\u2003\\u2004\\u2005\\u2006\\u2007\\u2008\\u2009\\u200A\\u2028\\u2029\\u202F\\u205F\\u3000[] ([^\\n] | \"\\n\" [^\\n])*\n\
             int ::= \"-\"? (\"0\" | [1-9] [0-9]{0,17})\n"
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
                    schema: serde_json::json!({"type": "object", "properties": {"x": {"type": "integer"}}}),
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
        assert!(g.contains("map-list-float ::= \"{\" (json-string"), "{g}");
        // A nested object follows its schema, properties in order.
        assert!(g.contains("(\"{\" \"\\\"x\\\": \" int \"}\")"), "{g}");
        // The enum list's item is an inline alternative: its rule name is a hash.
        assert!(g.contains("(\"\\\"a\\\"\" | \"\\\"b\\\"\")"), "{g}");
        // Every rule used is defined.
        for word in g.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-')) {
            if ["list-", "map-", "json-", "float", "int"]
                .iter()
                .any(|p| word.starts_with(p))
            {
                assert!(
                    g.contains(&format!("\n{word} ::=")),
                    "{word} undefined in {g}"
                );
            }
        }
    }

    #[test]
    fn a_json_schema_is_a_grammar_too() {
        let g = grammar(&OutputConstraint::JsonSchema {
            name: "x".into(),
            schema: serde_json::json!({"type": "array", "items": {"type": "number"}}),
        })
        .unwrap();
        assert_eq!(
            g,
            "root ::= list-float\n\
             float ::= int (\".\" [0-9]{1,17})?\n\
             int ::= \"-\"? (\"0\" | [1-9] [0-9]{0,17})\n\
             list-float ::= \"[\" (float (\",\" \" \"? float)*)? \"]\"\n"
        );
    }

    #[test]
    fn impossible_constraints_are_errors() {
        assert_eq!(
            grammar(&OutputConstraint::Choice { choices: vec![] }),
            Err(ConstraintError::Impossible("an empty set of choices"))
        );
        assert_eq!(
            grammar(&OutputConstraint::ChatFields { fields: vec![] }),
            Err(ConstraintError::Impossible("no output fields"))
        );
    }
}

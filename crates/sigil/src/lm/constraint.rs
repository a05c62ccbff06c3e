//! One representation of an output constraint.
//!
//! An [`OutputConstraint`] says what an LM may output (one of some strings, the
//! ChatAdapter's `[[ ## field ## ]]` sections with typed values, or JSON matching a
//! schema). [`CompiledConstraint::new`] turns it into a tree of [`Node`]s, a small
//! grammar whose every node has one exact meaning. Two consumers read that tree and
//! nothing else:
//!
//! - the GBNF printer ([`crate::lm::gbnf_grammar`]), for llama.cpp's servers;
//! - the embedded engine's character matcher (`sigil-local`), for constrained decoding.
//!
//! So the two cannot drift apart: they accept the same strings (`sigil-local`'s test
//! `constraint_agreement` checks it on a shared corpus, for every constraint kind).
//!
//! The JSON-schema subset: objects (every property, in the schema's order, written
//! `{"a": 1, "b": 2}`), maps (`additionalProperties`), arrays, strings, numbers,
//! integers, booleans, null, `enum`, `const`, `$ref` into the same document, and unions
//! (`anyOf`/`oneOf`/`allOf`), of which the first non-null branch is used.

use std::sync::Arc;

use serde_json::{Map, Value};

use crate::lm::OutputConstraint;
use crate::signature::FieldType;

/// Types (and schemas) nested deeper than this are refused: a type that deep is a
/// mistake, a recursive schema never ends, and a grammar for either would be huge.
pub const MAX_DEPTH: usize = 24;
/// At most this many digits before a number's decimal point.
pub const MAX_INT_DIGITS: usize = 18;
/// At most this many digits after a number's decimal point.
pub const MAX_FRACTION_DIGITS: usize = 17;

/// The characters free text ([`Node::ChatText`]) may not start with: Unicode white
/// space (what `char::is_whitespace` says) and `[`, which would open a field header.
pub const CHAT_TEXT_NOT_FIRST: [char; 26] = [
    '\t', '\n', '\u{0B}', '\u{0C}', '\r', ' ', '\u{85}', '\u{A0}', '\u{1680}', '\u{2000}',
    '\u{2001}', '\u{2002}', '\u{2003}', '\u{2004}', '\u{2005}', '\u{2006}', '\u{2007}', '\u{2008}',
    '\u{2009}', '\u{200A}', '\u{2028}', '\u{2029}', '\u{202F}', '\u{205F}', '\u{3000}', '[',
];

/// One node of a compiled constraint. Each variant's doc is its exact language.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Node {
    /// Exactly this text.
    Literal(String),
    /// Exactly one of these strings (none empty).
    Choice(Vec<String>),
    /// One of these keys, then that key's node. No key is empty or a prefix of
    /// another, so the key read so far always says which branch the text is in.
    Branch(Vec<(String, Arc<Node>)>),
    /// An integer: `-?(0|[1-9][0-9]*)` with at most [`MAX_INT_DIGITS`] digits.
    Int,
    /// An [`Node::Int`], optionally followed by `.` and 1 to [`MAX_FRACTION_DIGITS`]
    /// digits.
    Float,
    /// The ChatAdapter's free text: at least one character, not starting with a
    /// character of [`CHAT_TEXT_NOT_FIRST`], and without a blank line: every `\n` is
    /// followed by a character other than `\n`. Text therefore ends only where a blank
    /// line starts, so the node that follows must start with `\n\n`.
    ChatText,
    /// A JSON string: `"`, then characters other than `"`, `\` and U+0000 to U+001F, or
    /// the escapes `\"` `\\` `\/` `\b` `\f` `\n` `\r` `\t` `\uXXXX`, then `"`.
    JsonString,
    /// These nodes, one after the other.
    Seq(Vec<Arc<Node>>),
    /// A JSON array of this node: `[`, items separated by `,` (each comma optionally
    /// followed by one space), `]`.
    List(Arc<Node>),
    /// Any JSON value: an object ([`Node::Map`] of any JSON values), an array
    /// ([`Node::List`] of them), a [`Node::JsonString`], a [`Node::Float`], `true`,
    /// `false` or `null`. (The one recursive node.)
    JsonValue,
    /// A JSON object with any keys ([`Node::JsonString`]) and values of this node:
    /// `{`, then `key:value` pairs separated by `,`; each `:` and `,` optionally
    /// followed by one space; then `}`.
    Map(Arc<Node>),
}

/// Why a constraint cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConstraintError {
    /// No output could satisfy it (no choices, an empty choice, no fields).
    #[error("impossible constraint: {0}")]
    Impossible(&'static str),
    /// A type or schema nested more than [`MAX_DEPTH`] levels deep (or recursive).
    #[error("type nested more than {MAX_DEPTH} levels deep (or recursive)")]
    TooDeep,
    /// A JSON schema outside the supported subset.
    #[error("unsupported JSON schema: {0}")]
    Unsupported(String),
}

/// An [`OutputConstraint`] compiled to its [`Node`] tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompiledConstraint {
    root: Arc<Node>,
}

impl CompiledConstraint {
    /// Compiles a constraint; an impossible or unsupported one is an error.
    pub fn new(constraint: &OutputConstraint) -> Result<Self, ConstraintError> {
        let root = match constraint {
            OutputConstraint::Choice { choices } => choice(choices.clone())?,
            OutputConstraint::ChatFields { fields } => {
                if fields.is_empty() {
                    return Err(ConstraintError::Impossible("no output fields"));
                }
                let mut seq = Vec::with_capacity(fields.len() * 2 + 1);
                for (i, (name, ty)) in fields.iter().enumerate() {
                    let sep = if i == 0 { "" } else { "\n\n" };
                    seq.push(lit(format!("{sep}[[ ## {name} ## ]]\n")));
                    seq.push(chat_value(ty, 0)?);
                }
                seq.push(lit("\n\n[[ ## completed ## ]]"));
                Arc::new(Node::Seq(seq))
            }
            OutputConstraint::ChatFieldsByChoice {
                fields,
                choice,
                args,
                cases,
            } => chat_fields_by_choice(fields, choice, args, cases)?,
            OutputConstraint::JsonSchema { schema, .. } => json_of_schema(schema, schema, 0)?,
        };
        Ok(CompiledConstraint { root })
    }

    /// The root node.
    pub fn root(&self) -> &Arc<Node> {
        &self.root
    }
}

/// The ChatAdapter's sections where `choice`'s value picks the schema of `args`, the
/// field right after it: a [`Node::Branch`] whose keys run from the choice through
/// `args`'s header.
fn chat_fields_by_choice(
    fields: &[(String, FieldType)],
    choice: &str,
    args: &str,
    cases: &[(String, Value)],
) -> Result<Arc<Node>, ConstraintError> {
    let at = fields
        .iter()
        .position(|(n, _)| n == choice)
        .ok_or(ConstraintError::Impossible(
            "the choice field is not an output",
        ))?;
    if fields.get(at + 1).map(|(n, _)| n.as_str()) != Some(args) {
        return Err(ConstraintError::Impossible(
            "the args field does not follow the choice field",
        ));
    }
    if cases.is_empty() {
        return Err(ConstraintError::Impossible("an empty set of choices"));
    }
    let mut keys: Vec<&str> = Vec::with_capacity(cases.len());
    for (name, _) in cases {
        if name.is_empty() || name.contains('\n') {
            return Err(ConstraintError::Impossible(
                "a choice that is empty or spans lines",
            ));
        }
        if keys.contains(&name.as_str()) {
            return Err(ConstraintError::Impossible("a choice given twice"));
        }
        keys.push(name);
    }
    let mut seq = Vec::with_capacity(fields.len() * 2 + 1);
    for (i, (name, ty)) in fields.iter().enumerate() {
        let sep = if i == 0 { "" } else { "\n\n" };
        if i == at + 1 {
            continue;
        }
        seq.push(lit(format!("{sep}[[ ## {name} ## ]]\n")));
        if i != at {
            seq.push(chat_value(ty, 0)?);
            continue;
        }
        // The keys end with `args`'s header, so none is a prefix of another (no
        // choice spans lines).
        let branches = cases
            .iter()
            .map(|(name, schema)| {
                Ok((
                    format!("{name}\n\n[[ ## {args} ## ]]\n"),
                    json_of_schema(schema, schema, 0)?,
                ))
            })
            .collect::<Result<Vec<_>, ConstraintError>>()?;
        seq.push(Arc::new(Node::Branch(branches)));
    }
    seq.push(lit("\n\n[[ ## completed ## ]]"));
    Ok(Arc::new(Node::Seq(seq)))
}

fn lit(s: impl Into<String>) -> Arc<Node> {
    Arc::new(Node::Literal(s.into()))
}

fn choice(options: Vec<String>) -> Result<Arc<Node>, ConstraintError> {
    if options.is_empty() {
        return Err(ConstraintError::Impossible("an empty set of choices"));
    }
    if options.iter().any(String::is_empty) {
        return Err(ConstraintError::Impossible("an empty choice"));
    }
    Ok(Arc::new(Node::Choice(options)))
}

fn bool_node(json: bool) -> Arc<Node> {
    let (t, f) = if json {
        ("true", "false")
    } else {
        ("True", "False")
    };
    Arc::new(Node::Choice(vec![t.into(), f.into()]))
}

/// A ChatAdapter field value: bare text, numbers, `True`/`False` and enum values;
/// JSON for lists, dicts and objects.
fn chat_value(ty: &FieldType, depth: usize) -> Result<Arc<Node>, ConstraintError> {
    if depth > MAX_DEPTH {
        return Err(ConstraintError::TooDeep);
    }
    Ok(match ty {
        FieldType::Str => Arc::new(Node::ChatText),
        FieldType::Int => Arc::new(Node::Int),
        FieldType::Float => Arc::new(Node::Float),
        FieldType::Bool => bool_node(false),
        FieldType::Literal { choices } => choice(choices.clone())?,
        FieldType::Optional { inner } => chat_value(inner, depth + 1)?,
        FieldType::Any => Arc::new(Node::JsonValue),
        other => json_of_type(other, depth)?,
    })
}

/// The JSON of a field type (inside lists, dicts and JSON answers).
fn json_of_type(ty: &FieldType, depth: usize) -> Result<Arc<Node>, ConstraintError> {
    if depth > MAX_DEPTH {
        return Err(ConstraintError::TooDeep);
    }
    Ok(match ty {
        FieldType::Str => Arc::new(Node::JsonString),
        FieldType::Int => Arc::new(Node::Int),
        FieldType::Float => Arc::new(Node::Float),
        FieldType::Bool => bool_node(true),
        FieldType::List { item } => Arc::new(Node::List(json_of_type(item, depth + 1)?)),
        FieldType::Dict { value } => Arc::new(Node::Map(json_of_type(value, depth + 1)?)),
        FieldType::Optional { inner } => json_of_type(inner, depth + 1)?,
        FieldType::Literal { choices } => choice(
            choices
                .iter()
                .map(|c| Value::String(c.clone()).to_string())
                .collect(),
        )?,
        FieldType::Object { schema, .. } => json_of_schema(schema, schema, depth + 1)?,
        FieldType::ToolCalls | FieldType::Tool => {
            let schema = ty.json_schema();
            json_of_schema(&schema, &schema, depth + 1)?
        }
        FieldType::Any => Arc::new(Node::JsonValue),
    })
}

fn resolve_ref<'a>(root: &'a Value, r: &str) -> Option<&'a Value> {
    if r == "#" {
        return Some(root);
    }
    let path = r.strip_prefix("#/")?;
    path.split('/').try_fold(root, |v, seg| v.get(seg))
}

fn json_of_schema(s: &Value, root: &Value, depth: usize) -> Result<Arc<Node>, ConstraintError> {
    if depth > MAX_DEPTH {
        return Err(ConstraintError::TooDeep);
    }
    // `{}` and `true` allow any value (JSON Schema's meaning; `Any`'s schema).
    if *s == Value::Bool(true) || s.as_object().is_some_and(Map::is_empty) {
        return Ok(Arc::new(Node::JsonValue));
    }
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        let target = resolve_ref(root, r)
            .ok_or_else(|| ConstraintError::Unsupported(format!("unresolved $ref {r}")))?;
        return json_of_schema(target, root, depth + 1);
    }
    if let Some(c) = s.get("const") {
        return Ok(lit(c.to_string()));
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        return choice(e.iter().map(Value::to_string).collect());
    }
    for key in ["anyOf", "oneOf", "allOf"] {
        if let Some(opts) = s.get(key).and_then(Value::as_array) {
            let pick = opts
                .iter()
                .find(|o| o.get("type").and_then(Value::as_str) != Some("null"))
                .or(opts.first())
                .ok_or_else(|| ConstraintError::Unsupported(format!("empty {key}")))?;
            return json_of_schema(pick, root, depth + 1);
        }
    }
    let ty = match s.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(ts)) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null"),
        _ if s.get("properties").is_some() => "object",
        _ if s.get("items").is_some() => "array",
        _ => "string",
    };
    Ok(match ty {
        "string" => Arc::new(Node::JsonString),
        "integer" => Arc::new(Node::Int),
        "number" => Arc::new(Node::Float),
        "boolean" => bool_node(true),
        "null" => lit("null"),
        "array" => {
            let item = match s.get("items") {
                Some(i) => json_of_schema(i, root, depth + 1)?,
                None => Arc::new(Node::JsonString),
            };
            Arc::new(Node::List(item))
        }
        "object" => match s.get("properties").and_then(Value::as_object) {
            Some(props) if !props.is_empty() => {
                let mut seq = vec![lit("{")];
                for (i, (k, v)) in props.iter().enumerate() {
                    let sep = if i == 0 { "" } else { ", " };
                    seq.push(lit(format!("{sep}{}: ", Value::String(k.clone()))));
                    seq.push(json_of_schema(v, root, depth + 1)?);
                }
                seq.push(lit("}"));
                Arc::new(Node::Seq(seq))
            }
            _ if s.get("additionalProperties") == Some(&Value::Bool(false)) => lit("{}"),
            _ => {
                let value = match s.get("additionalProperties") {
                    Some(v @ (Value::Object(_) | Value::Bool(true))) => {
                        json_of_schema(v, root, depth + 1)?
                    }
                    _ => Arc::new(Node::JsonString),
                };
                Arc::new(Node::Map(value))
            }
        },
        other => {
            return Err(ConstraintError::Unsupported(format!(
                "type {other:?} is not supported"
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compile(c: OutputConstraint) -> Result<Arc<Node>, ConstraintError> {
        CompiledConstraint::new(&c).map(|c| c.root().clone())
    }

    #[test]
    fn chat_text_exclusions_are_unicode_white_space_and_a_bracket() {
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            assert_eq!(
                CHAT_TEXT_NOT_FIRST.contains(&c),
                c.is_whitespace() || c == '[',
                "{c:?}"
            );
        }
    }

    #[test]
    fn chat_fields_are_headers_and_typed_values() {
        let root = compile(OutputConstraint::ChatFields {
            fields: vec![
                ("answer".into(), FieldType::Str),
                (
                    "n".into(),
                    FieldType::Optional {
                        inner: Box::new(FieldType::Int),
                    },
                ),
            ],
        })
        .unwrap();
        assert_eq!(
            *root,
            Node::Seq(vec![
                lit("[[ ## answer ## ]]\n"),
                Arc::new(Node::ChatText),
                lit("\n\n[[ ## n ## ]]\n"),
                Arc::new(Node::Int),
                lit("\n\n[[ ## completed ## ]]"),
            ])
        );
    }

    #[test]
    fn schemas_follow_refs_and_property_order() {
        let schema = serde_json::json!({
            "$defs": {"P": {"type": "object", "properties": {"b": {"type": "integer"}, "a": {"const": 1}}}},
            "type": "object",
            "properties": {"p": {"$ref": "#/$defs/P"}, "tags": {"type": ["array", "null"], "items": {"enum": ["x"]}}}
        });
        let root = compile(OutputConstraint::JsonSchema {
            name: "t".into(),
            schema,
        })
        .unwrap();
        let inner = Node::Seq(vec![
            lit("{"),
            lit("\"b\": "),
            Arc::new(Node::Int),
            lit(", \"a\": "),
            lit("1"),
            lit("}"),
        ]);
        assert_eq!(
            *root,
            Node::Seq(vec![
                lit("{"),
                lit("\"p\": "),
                Arc::new(inner),
                lit(", \"tags\": "),
                Arc::new(Node::List(Arc::new(Node::Choice(vec!["\"x\"".into()])))),
                lit("}"),
            ])
        );
    }

    #[test]
    fn impossible_deep_and_unsupported_constraints_are_errors() {
        let err = |c| compile(c).unwrap_err();
        assert_eq!(
            err(OutputConstraint::Choice { choices: vec![] }),
            ConstraintError::Impossible("an empty set of choices")
        );
        assert_eq!(
            err(OutputConstraint::Choice {
                choices: vec!["a".into(), String::new()]
            }),
            ConstraintError::Impossible("an empty choice")
        );
        assert_eq!(
            err(OutputConstraint::ChatFields { fields: vec![] }),
            ConstraintError::Impossible("no output fields")
        );
        let mut t = FieldType::Str;
        for _ in 0..30 {
            t = FieldType::list(t);
        }
        assert_eq!(
            err(OutputConstraint::ChatFields {
                fields: vec![("deep".into(), t)]
            }),
            ConstraintError::TooDeep
        );
        let recursive = serde_json::json!({"$ref": "#"});
        assert_eq!(
            err(OutputConstraint::JsonSchema {
                name: "r".into(),
                schema: recursive
            }),
            ConstraintError::TooDeep
        );
        assert!(matches!(
            err(OutputConstraint::JsonSchema {
                name: "r".into(),
                schema: serde_json::json!({"$ref": "#/nope"})
            }),
            ConstraintError::Unsupported(m) if m.contains("#/nope")
        ));
    }

    #[test]
    fn by_choice_branches_on_the_choice_through_the_args_header() {
        let fields = vec![
            ("t".to_string(), FieldType::Str),
            (
                "tool".to_string(),
                FieldType::Literal {
                    choices: vec!["a".into(), "b".into()],
                },
            ),
            ("args".to_string(), FieldType::dict(FieldType::Any)),
        ];
        let by = |fields: Vec<(String, FieldType)>, choice: &str, cases: Vec<(&str, Value)>| {
            compile(OutputConstraint::ChatFieldsByChoice {
                fields,
                choice: choice.into(),
                args: "args".into(),
                cases: cases.into_iter().map(|(n, s)| (n.to_string(), s)).collect(),
            })
        };
        let int = serde_json::json!({"type": "object", "properties": {"x": {"type": "integer"}}});
        let none =
            serde_json::json!({"type": "object", "properties": {}, "additionalProperties": false});
        let root = by(
            fields.clone(),
            "tool",
            vec![("a", int), ("b", none.clone())],
        )
        .unwrap();
        let Node::Seq(items) = &*root else {
            panic!("{root:?}")
        };
        assert_eq!(
            *items[3],
            Node::Branch(vec![
                (
                    "a\n\n[[ ## args ## ]]\n".into(),
                    Arc::new(Node::Seq(vec![
                        lit("{"),
                        lit("\"x\": "),
                        Arc::new(Node::Int),
                        lit("}")
                    ]))
                ),
                ("b\n\n[[ ## args ## ]]\n".into(), lit("{}")),
            ])
        );
        assert_eq!(*items[4], Node::Literal("\n\n[[ ## completed ## ]]".into()));
        let impossible = |r: Result<Arc<Node>, ConstraintError>| match r {
            Err(ConstraintError::Impossible(m)) => m,
            other => panic!("{other:?}"),
        };
        assert!(
            impossible(by(fields.clone(), "nope", vec![("a", none.clone())]))
                .contains("not an output")
        );
        assert!(
            impossible(by(fields.clone(), "t", vec![("a", none.clone())]))
                .contains("does not follow")
        );
        assert!(impossible(by(fields.clone(), "tool", vec![])).contains("empty"));
        assert!(
            impossible(by(fields.clone(), "tool", vec![("a\nb", none.clone())]))
                .contains("spans lines")
        );
        assert!(
            impossible(by(fields, "tool", vec![("a", none.clone()), ("a", none)]))
                .contains("twice")
        );
    }
}

//! Field types a signature can declare, and their JSON schemas.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The type of one signature field.
///
/// The set mirrors what Python DSPy signatures commonly use, so prompts and saved
/// programs line up: scalars, `list[T]`, `dict[str, T]`, `Optional[T]`, a fixed set of
/// literals, and nested objects described by a JSON schema.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FieldType {
    /// Text (`str`).
    Str,
    /// An integer (`int`).
    Int,
    /// A number (`float`).
    Float,
    /// `true` or `false` (`bool`).
    Bool,
    /// A list (`list[T]`).
    List {
        /// The type of each item.
        item: Box<FieldType>,
    },
    /// A dictionary with string keys.
    Dict {
        /// The type of each value.
        value: Box<FieldType>,
    },
    /// A value that may be absent (`Optional[T]`).
    Optional {
        /// The type when present.
        inner: Box<FieldType>,
    },
    /// One of a fixed set of strings (`enum[a, b]` in the string form, a Rust enum in the derive).
    Literal {
        /// The allowed strings.
        choices: Vec<String>,
    },
    /// A nested object; `schema` is its JSON schema (from the Rust type in the derive).
    Object {
        /// The object type's name.
        name: String,
        /// Its JSON schema.
        schema: Value,
    },
    /// Any JSON value (Python's `Any`): `dict[str, Any]` is a JSON object of anything,
    /// as ReAct's tool arguments are.
    Any,
}

impl FieldType {
    /// `list[item]`.
    pub fn list(item: FieldType) -> Self {
        FieldType::List {
            item: Box::new(item),
        }
    }
    /// `dict[str, value]`.
    pub fn dict(value: FieldType) -> Self {
        FieldType::Dict {
            value: Box::new(value),
        }
    }
    /// `Optional[inner]`.
    pub fn optional(inner: FieldType) -> Self {
        FieldType::Optional {
            inner: Box::new(inner),
        }
    }
    /// One of `choices`.
    pub fn literal<S: Into<String>>(choices: impl IntoIterator<Item = S>) -> Self {
        FieldType::Literal {
            choices: choices.into_iter().map(Into::into).collect(),
        }
    }

    /// True for plain strings, which adapters pass through without JSON encoding.
    pub fn is_str(&self) -> bool {
        matches!(self, FieldType::Str)
    }

    /// The type written the way the string form accepts it (`list[str]`, `enum[a, b]`).
    pub fn sigil_name(&self) -> String {
        match self {
            FieldType::Str => "str".into(),
            FieldType::Int => "int".into(),
            FieldType::Float => "float".into(),
            FieldType::Bool => "bool".into(),
            FieldType::List { item } => format!("list[{}]", item.sigil_name()),
            FieldType::Dict { value } => format!("dict[str, {}]", value.sigil_name()),
            FieldType::Optional { inner } => format!("optional[{}]", inner.sigil_name()),
            FieldType::Literal { choices } => format!("enum[{}]", choices.join(", ")),
            FieldType::Object { name, .. } => name.clone(),
            FieldType::Any => "any".into(),
        }
    }

    /// JSON schema of a value of this type.
    pub fn json_schema(&self) -> Value {
        match self {
            FieldType::Str => json!({"type": "string"}),
            FieldType::Int => json!({"type": "integer"}),
            FieldType::Float => json!({"type": "number"}),
            FieldType::Bool => json!({"type": "boolean"}),
            FieldType::List { item } => json!({"type": "array", "items": item.json_schema()}),
            FieldType::Dict { value } => {
                json!({"type": "object", "additionalProperties": value.json_schema()})
            }
            FieldType::Optional { inner } => {
                json!({"anyOf": [inner.json_schema(), {"type": "null"}]})
            }
            FieldType::Literal { choices } => json!({"type": "string", "enum": choices}),
            FieldType::Object { schema, .. } => schema.clone(),
            FieldType::Any => json!({}),
        }
    }
}

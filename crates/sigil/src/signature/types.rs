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
    /// A tool the LM may call (DSPy's `dspy.Tool`); `list[Tool]` offers several. Inputs
    /// only.
    ///
    /// The value is the tool's spec as JSON, [`crate::lm::ToolSpec`]'s form (`{"name",
    /// "description", "parameters"}`; [`crate::tool::specs_of`] makes it from
    /// [`crate::tool::Tool`]s), not the tool itself: an input is data (it is cached,
    /// traced, saved in demos and artifacts), and a tool is code. The program keeps its
    /// `Tool`s and runs the calls the LM asks for against them
    /// ([`crate::tool::ToolCalls::execute`]). The adapter renders the spec as DSPy's
    /// `str(tool)`, or, in native function calling, sends it as the request's tools.
    Tool,
    /// The tool calls the LM asks for (DSPy's `dspy.ToolCalls`): the value is
    /// `{"tool_calls": [{"name", "args"}]}`, read into [`crate::tool::ToolCalls`].
    ToolCalls,
}

/// DSPy's pydantic schema of `ToolCalls` (the `id` of a call and `tool_call_results`
/// left out, as DSPy leaves them out).
pub(crate) fn tool_calls_pydantic_schema() -> Value {
    json!({
        "$defs": {"ToolCall": {
            "properties": {
                "name": {"title": "Name", "type": "string"},
                "args": {"additionalProperties": true, "title": "Args", "type": "object"},
            },
            "required": ["name", "args"],
            "title": "ToolCall",
            "type": "object",
        }},
        "properties": {"tool_calls": {
            "items": {"$ref": "#/$defs/ToolCall"},
            "title": "Tool Calls",
            "type": "array",
        }},
        "required": ["tool_calls"],
        "title": "ToolCalls",
        "type": "object",
    })
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

    /// True if a `Tool` is anywhere in this type (`Tool`, `list[Tool]`, ...).
    pub fn holds_tool(&self) -> bool {
        match self {
            FieldType::Tool => true,
            FieldType::List { item } => item.holds_tool(),
            FieldType::Dict { value } => value.holds_tool(),
            FieldType::Optional { inner } => inner.holds_tool(),
            _ => false,
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
            FieldType::Tool => "Tool".into(),
            FieldType::ToolCalls => "ToolCalls".into(),
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
            FieldType::Tool => json!({
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "description": {"type": "string"},
                    "parameters": {"type": "object"},
                },
                "required": ["name"],
            }),
            FieldType::ToolCalls => json!({
                "type": "object",
                "properties": {"tool_calls": {"type": "array", "items": {
                    "type": "object",
                    "properties": {
                        "name": {"type": "string"},
                        "args": {"type": "object", "additionalProperties": true},
                    },
                    "required": ["name", "args"],
                }}},
                "required": ["tool_calls"],
            }),
        }
    }
}

//! How `Tool` and `ToolCalls` fields look in a prompt, as DSPy 3.4.1 shows them.
//!
//! A tool input is its spec ([`ToolSpec`]) and is shown as DSPy's `str(tool)`; a
//! `list[Tool]` is the JSON list of those lines. A `ToolCalls` value is shown as DSPy's
//! `ToolCalls.format()`: `{"tool_calls": [{"name", "args"}]}`, without call ids. A field
//! whose type holds `ToolCalls` gets DSPy's type description in the field list.

use serde_json::Value;

use crate::lm::ToolSpec;
use crate::signature::FieldType;
use crate::tool::{ToolCalls, tool_line};

/// DSPy's `ToolCalls.description()`.
const TOOL_CALLS_DESCRIPTION: &str = concat!(
    "Tool calls must be a JSON object with `tool_calls`, a list of calls. ",
    "Each call must include `name` and `args`. ",
    r#"Example: {"tool_calls": [{"name": "search", "args": {"query": "cats"}}]}"#
);

/// A tool spec from an input value (`None` when it is not one).
pub(crate) fn spec_of(v: &Value) -> Option<ToolSpec> {
    let spec: ToolSpec = serde_json::from_value(v.clone()).ok()?;
    spec.parameters.is_object().then_some(spec)
}

/// The specs of a `Tool` or `list[Tool]` input value, in order.
pub(crate) fn specs_in(ty: &FieldType, v: &Value) -> Option<Vec<ToolSpec>> {
    match (ty, v) {
        (FieldType::Tool, v) => Some(vec![spec_of(v)?]),
        (FieldType::List { item }, Value::Array(items)) if **item == FieldType::Tool => {
            items.iter().map(spec_of).collect()
        }
        _ => None,
    }
}

/// `v` with every tool spec replaced by its `str(tool)` line and tool calls in DSPy's
/// shown form. A value that is not what its type says is left as it is.
pub(crate) fn shown_value(ty: &FieldType, v: &Value) -> Value {
    match (ty, v) {
        (FieldType::Tool, v) => match spec_of(v) {
            Some(s) => Value::String(tool_line(&s.name, s.description.as_deref(), &s.args())),
            None => v.clone(),
        },
        (FieldType::ToolCalls, v) => match ToolCalls::from_value(v) {
            Ok(calls) => {
                let shown: Vec<Value> = calls
                    .tool_calls
                    .into_iter()
                    .map(|c| serde_json::json!({"name": c.name, "args": c.args}))
                    .collect();
                serde_json::json!({ "tool_calls": shown })
            }
            Err(_) => v.clone(),
        },
        (FieldType::List { item }, Value::Array(items)) => {
            Value::Array(items.iter().map(|x| shown_value(item, x)).collect())
        }
        (FieldType::Dict { value }, Value::Object(m)) => Value::Object(
            m.iter()
                .map(|(k, x)| (k.clone(), shown_value(value, x)))
                .collect(),
        ),
        (FieldType::Optional { inner }, v) => shown_value(inner, v),
        _ => v.clone(),
    }
}

/// DSPy's "Type description of ..." lines for the custom types in `ty` (of those Sigil
/// has, only `ToolCalls` has a description; `Tool`'s is empty).
pub(crate) fn push_type_descriptions(ty: &FieldType, out: &mut String) {
    match ty {
        FieldType::ToolCalls => {
            out.push_str("\n    Type description of ToolCalls: ");
            out.push_str(TOOL_CALLS_DESCRIPTION);
        }
        FieldType::List { item } => push_type_descriptions(item, out),
        FieldType::Dict { value } => push_type_descriptions(value, out),
        FieldType::Optional { inner } => push_type_descriptions(inner, out),
        _ => {}
    }
}

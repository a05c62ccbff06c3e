//! [`ToolCalls`]: the value of a `ToolCalls` output field, the calls an LM asked for,
//! and running them against the program's tools.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Tool, ToolError};
use crate::lm::{BadToolArguments, LmToolCall};
use crate::signature::{FieldType, SigilType};

/// One call the LM asked for (DSPy's `ToolCalls.ToolCall`): a tool's name and its
/// arguments.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolCall {
    /// The provider's id for the call, when it came from native function calling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The tool's name, as the LM wrote it (it may name no tool: see [`ToolCall::execute`]).
    pub name: String,
    /// The arguments.
    #[serde(default)]
    pub args: Map<String, Value>,
}

/// The calls an LM asked for (DSPy's `dspy.ToolCalls`), as a `ToolCalls` output field
/// holds them: `{"tool_calls": [{"name": ..., "args": {...}}]}`.
///
/// ```
/// # async fn demo() {
/// use sigil::tool::{Tool, ToolCalls};
/// let add = Tool::new("add", "Add.", serde_json::json!({"a": {"type": "integer"}, "b": {"type": "integer"}}),
///     |a| async move { Ok::<_, String>(a["a"].as_i64().unwrap() + a["b"].as_i64().unwrap()) });
/// let calls = ToolCalls::from_value(&serde_json::json!(
///     [{"name": "add", "args": {"a": 2, "b": 40}}, {"name": "mul", "args": {}}]
/// )).unwrap();
/// let results = calls.execute(&[add]).await;
/// assert_eq!(results[0], Ok(serde_json::json!(42)));
/// assert!(results[1].is_err()); // no tool called `mul`
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ToolCalls {
    /// The calls, in the order the LM gave them.
    pub tool_calls: Vec<ToolCall>,
}

impl SigilType for ToolCalls {
    fn field_type() -> FieldType {
        FieldType::ToolCalls
    }
}

/// A `Tool`-typed input in a derived signature is the tool's spec.
impl SigilType for crate::lm::ToolSpec {
    fn field_type() -> FieldType {
        FieldType::Tool
    }
}

impl ToolCalls {
    /// Reads tool calls the way DSPy's `ToolCalls.validate_input` does: an object with a
    /// `tool_calls` list, a bare list of calls, or one call. A call is `{"name", "args"}`,
    /// `{"name", "arguments"}` or a provider's `{"function": {"name", "arguments"}}`;
    /// arguments given as a JSON string are parsed (leniently), and arguments that are
    /// neither an object nor a string count as none, as in DSPy.
    pub fn from_value(value: &Value) -> Result<ToolCalls, String> {
        let invalid = || {
            format!(
                "expected tool calls ({{\"tool_calls\": [{{\"name\": ..., \"args\": {{...}}}}]}}), got {}",
                crate::adapter::py_repr(value)
            )
        };
        let calls: Vec<&Map<String, Value>> = match value {
            Value::Array(items) => items
                .iter()
                .map(|i| i.as_object().filter(|m| is_call(m)))
                .collect::<Option<_>>()
                .ok_or_else(invalid)?,
            Value::Object(m) => match m.get("tool_calls") {
                Some(Value::Array(items)) => items
                    .iter()
                    .map(Value::as_object)
                    .collect::<Option<_>>()
                    .ok_or_else(invalid)?,
                Some(_) => return Err(invalid()),
                None if is_call(m) => vec![m],
                None => return Err(invalid()),
            },
            _ => return Err(invalid()),
        };
        let tool_calls = calls
            .into_iter()
            .enumerate()
            .map(|(i, c)| normalize_call(c).map_err(|e| format!("tool call {i}: {e}")))
            .collect::<Result<_, _>>()?;
        Ok(ToolCalls { tool_calls })
    }

    /// The calls of an LM response (native function calling), arguments parsed.
    pub fn from_lm(calls: &[LmToolCall]) -> Result<ToolCalls, BadToolArguments> {
        let tool_calls = calls
            .iter()
            .map(|c| {
                Ok(ToolCall {
                    id: c.id.clone(),
                    name: c.name.clone(),
                    args: c.args()?,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(ToolCalls { tool_calls })
    }

    /// The field value: `{"tool_calls": [...]}`.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Runs every call against `tools`, concurrently, and gives each call's result in
    /// the calls' order: the tool's JSON result, or a [`ToolError`] (an unknown tool,
    /// arguments that do not fit its schemas, its own failure, a panic, a timeout) to
    /// show the LM as the observation. Nothing here panics or stops the other calls.
    pub async fn execute(&self, tools: &[Tool]) -> Vec<Result<Value, ToolError>> {
        futures::future::join_all(self.tool_calls.iter().map(|c| c.execute(tools))).await
    }
}

impl ToolCall {
    /// Runs this call: finds the tool by name in `tools` and calls it with the arguments
    /// (checked against its schemas first).
    pub async fn execute(&self, tools: &[Tool]) -> Result<Value, ToolError> {
        let tool = tools
            .iter()
            .find(|t| t.name() == self.name)
            .ok_or_else(|| ToolError::Unknown {
                name: self.name.clone(),
                known: tools.iter().map(Tool::name).collect::<Vec<_>>().join(", "),
            })?;
        tool.call(Value::Object(self.args.clone())).await
    }
}

/// DSPy's `_is_tool_call_dict`.
fn is_call(m: &Map<String, Value>) -> bool {
    (m.contains_key("name") && (m.contains_key("args") || m.contains_key("arguments")))
        || m.contains_key("function")
}

/// DSPy's `_normalize_tool_call_dict`, with its pydantic checks (a string name, object
/// arguments) as errors.
fn normalize_call(m: &Map<String, Value>) -> Result<ToolCall, String> {
    let (name, arguments) = match m.get("function") {
        Some(Value::Null) => (m.get("name"), None),
        Some(Value::Object(f)) => {
            let name = f
                .get("name")
                .filter(|n| truthy(n))
                .or_else(|| m.get("name"));
            (name, f.get("arguments"))
        }
        Some(other) => return Err(format!("`function` should be an object, got {other}")),
        None => (m.get("name"), m.get("args").or_else(|| m.get("arguments"))),
    };
    let name = match name {
        Some(Value::String(s)) => s.clone(),
        Some(other) => return Err(format!("the tool name should be a string, got {other}")),
        None => return Err("the call has no tool name".into()),
    };
    let args = match arguments {
        Some(Value::Object(a)) => a.clone(),
        Some(Value::String(s)) if s.trim().is_empty() => Map::new(),
        Some(Value::String(s)) => match crate::adapter::lenient_json(s) {
            Some(Value::Object(a)) => a,
            _ => {
                return Err(format!(
                    "the arguments of {name} are not a JSON object: {s:?}"
                ));
            }
        },
        _ => Map::new(),
    };
    let id = ["id", "call_id"]
        .iter()
        .filter_map(|k| m.get(*k).and_then(Value::as_str))
        .find(|s| !s.is_empty())
        .map(str::to_string);
    Ok(ToolCall { id, name, args })
}

/// Python's truthiness for a JSON value.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_shape_dspy_accepts_reads_the_same() {
        let want = ToolCalls {
            tool_calls: vec![ToolCall {
                id: None,
                name: "add".into(),
                args: json!({"a": 2}).as_object().unwrap().clone(),
            }],
        };
        for v in [
            json!({"tool_calls": [{"name": "add", "args": {"a": 2}}]}),
            json!([{"name": "add", "args": {"a": 2}}]),
            json!({"name": "add", "args": {"a": 2}}),
            json!({"name": "add", "arguments": "{\"a\": 2}"}),
            json!({"function": {"name": "add", "arguments": "{'a': 2}"}}),
        ] {
            assert_eq!(ToolCalls::from_value(&v).unwrap(), want, "{v}");
        }
        let with_id =
            ToolCalls::from_value(&json!([{"id": "c1", "name": "f", "args": 3}])).unwrap();
        assert_eq!(with_id.tool_calls[0].id.as_deref(), Some("c1"));
        assert!(with_id.tool_calls[0].args.is_empty());
        assert_eq!(
            with_id.to_value(),
            json!({"tool_calls": [{"id": "c1", "name": "f", "args": {}}]})
        );
        assert_eq!(
            ToolCalls::from_value(&json!([])).unwrap(),
            ToolCalls::default()
        );
    }

    #[test]
    fn bad_shapes_are_errors() {
        for v in [
            json!("add"),
            json!(42),
            json!({"tool_calls": "add"}),
            json!({"tool_calls": [1]}),
            json!([{"name": "add"}]),
            json!({"nothing": true}),
            json!({"name": 3, "args": {}}),
            json!({"function": {"arguments": "{}"}}),
            json!({"function": "add"}),
            json!({"name": "add", "arguments": "[1, 2]"}),
        ] {
            assert!(ToolCalls::from_value(&v).is_err(), "{v}");
        }
    }

    #[tokio::test]
    async fn execute_gives_each_call_its_result_or_typed_error() {
        let add = Tool::new(
            "add",
            "Add.",
            json!({"a": {"type": "integer"}, "b": {"type": "integer"}}),
            |a| async move {
                Ok::<_, String>(a["a"].as_i64().unwrap_or(0) + a["b"].as_i64().unwrap_or(0))
            },
        );
        let calls = ToolCalls::from_value(&json!([
            {"name": "add", "args": {"a": 1, "b": "2"}},
            {"name": "nope", "args": {}},
            {"name": "add", "args": {"a": "x", "b": 1}},
            {"name": "add", "args": {"a": 1}},
        ]))
        .unwrap();
        let r = calls.execute(&[add]).await;
        assert_eq!(r[0], Ok(json!(3)));
        assert!(
            matches!(&r[1], Err(ToolError::Unknown { name, known }) if name == "nope" && known == "add")
        );
        assert!(matches!(&r[2], Err(ToolError::InvalidArg { arg, .. }) if arg == "a"));
        assert!(matches!(&r[3], Err(ToolError::MissingArg { arg, .. }) if arg == "b"));
    }
}

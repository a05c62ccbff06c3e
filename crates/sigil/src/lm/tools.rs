//! Native tool calling on the wire: the tools a request offers ([`ToolSpec`]), how the
//! LM must use them ([`ToolChoice`]), and the calls a response asks for ([`LmToolCall`]).
//!
//! These are provider-neutral; each client maps them onto its API (OpenAI's `tools` /
//! `tool_choice` / `message.tool_calls`, Anthropic's `tools` / `tool_choice` /
//! `tool_use` blocks).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One tool a request offers the LM: what OpenAI calls a function and Anthropic a tool.
///
/// Also the JSON form of a `Tool`-typed signature input (see
/// [`crate::signature::FieldType::Tool`]): `{"name", "description", "parameters"}`.
///
/// ```
/// use sigil::lm::ToolSpec;
/// let spec: ToolSpec = serde_json::from_value(serde_json::json!({
///     "name": "search",
///     "description": "Search the web.",
///     "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}
/// })).unwrap();
/// assert_eq!(spec.args()["query"], serde_json::json!({"type": "string"}));
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ToolSpec {
    /// The name the LM calls it by.
    pub name: String,
    /// What it does, for the LM.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The JSON schema of its argument object (`{"type": "object", "properties": ...}`).
    #[serde(default = "empty_object_schema")]
    pub parameters: Value,
}

fn empty_object_schema() -> Value {
    serde_json::json!({"type": "object", "properties": {}})
}

impl ToolSpec {
    /// Argument name → JSON schema (the `properties` of [`ToolSpec::parameters`]), as
    /// DSPy's `Tool.args`.
    pub fn args(&self) -> Map<String, Value> {
        self.parameters
            .get("properties")
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_default()
    }
}

/// Whether and which tool the LM must call.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ToolChoice {
    /// The LM decides (the providers' default when tools are given).
    Auto,
    /// The LM must not call a tool.
    None,
    /// The LM must call at least one tool (Anthropic's `any`).
    Required,
    /// The LM must call this tool.
    Function(String),
}

/// A tool call the LM asked for in its response.
///
/// `arguments` is kept as the provider sent it (OpenAI sends a JSON string; Anthropic's
/// `input` object is written out as JSON), so a malformed or cut-off argument string is
/// never lost and never fails the response: [`LmToolCall::args`] parses it when it is
/// used, and says what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LmToolCall {
    /// The provider's id for the call (what a tool result refers to), if it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The tool's name, as the LM wrote it.
    pub name: String,
    /// The arguments, as the provider sent them (JSON text).
    pub arguments: String,
}

/// Why a tool call's arguments could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the arguments of the call to {tool} are not a JSON object: {arguments:?}")]
pub struct BadToolArguments {
    /// The tool the call names.
    pub tool: String,
    /// The argument text.
    pub arguments: String,
}

impl LmToolCall {
    /// The arguments as a JSON object. An empty string is no arguments; near-JSON
    /// (Python literals, a trailing comma) is accepted, as the adapters accept it.
    pub fn args(&self) -> Result<Map<String, Value>, BadToolArguments> {
        if self.arguments.trim().is_empty() {
            return Ok(Map::new());
        }
        match crate::adapter::lenient_json(&self.arguments) {
            Some(Value::Object(m)) => Ok(m),
            Some(Value::Null) => Ok(Map::new()),
            _ => Err(BadToolArguments {
                tool: self.name.clone(),
                arguments: self.arguments.clone(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn call(arguments: &str) -> LmToolCall {
        LmToolCall {
            id: None,
            name: "add".into(),
            arguments: arguments.into(),
        }
    }

    #[test]
    fn arguments_parse_leniently_and_bad_ones_are_typed_errors() {
        assert_eq!(call(r#"{"a": 1}"#).args().unwrap()["a"], json!(1));
        assert_eq!(call("{'a': 1,}").args().unwrap()["a"], json!(1));
        assert!(call("").args().unwrap().is_empty());
        for bad in ["[1, 2]", "{\"a\": ", "not json", "42"] {
            let e = call(bad).args().unwrap_err();
            assert_eq!(e.tool, "add");
            assert_eq!(e.arguments, bad);
        }
    }

    #[test]
    fn tool_choice_and_spec_serde() {
        assert_eq!(serde_json::to_value(ToolChoice::Auto).unwrap(), "auto");
        assert_eq!(
            serde_json::to_value(ToolChoice::Function("f".into())).unwrap(),
            json!({"function": "f"})
        );
        let spec: ToolSpec = serde_json::from_value(json!({"name": "t"})).unwrap();
        assert_eq!(spec.description, None);
        assert!(spec.args().is_empty());
    }
}

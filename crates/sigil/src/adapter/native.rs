//! Native function calling: DSPy's `use_native_function_calling`.
//!
//! When an adapter uses it, the LM can take tools natively, and the signature has a
//! `Tool` / `list[Tool]` input and a `ToolCalls` output, the two fields leave the prompt:
//! the tools go as the request's [`LmRequest::tools`](crate::lm::LmRequest::tools) and
//! the response's tool calls fill the `ToolCalls` field. The rest of the signature is
//! formatted and parsed as usual. This is DSPy 3.4.1's `Adapter._call_preprocess` and
//! `_call_postprocess`, including what they do when the LM calls no tool (the field is
//! null) and when it calls tools next to text that does not parse (the other outputs
//! are null).
//!
//! Defaults follow DSPy: the [`super::ChatAdapter`] lists tools as text, the
//! [`super::JsonAdapter`] sends them natively. Either can be switched with
//! `native_function_calling`, which wraps it in a [`WithToolCalling`]:
//!
//! ```
//! use sigil::adapter::{Adapter, ChatAdapter};
//! use sigil::lm::ToolChoice;
//! let chat = ChatAdapter.native_function_calling(true).tool_choice(ToolChoice::Required);
//! assert_eq!(chat.name(), "chat");
//! assert!(chat.tool_calling().native);
//! ```

use serde_json::Value;

use super::tool_fields::specs_in;
use super::{Adapter, Fields, FormatError, ParseError, ParseFailure};
use crate::data::Example;
use crate::lm::{Lm, LmResponse, Message, OutputConstraint, ToolChoice, ToolSpec};
use crate::signature::{FieldType, Signature};
use crate::tool::ToolCalls;

/// How an adapter offers a signature's tools to the LM.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ToolCalling {
    /// Send `Tool` inputs as native tools and read `ToolCalls` outputs from the
    /// response's tool calls, when the LM supports it (DSPy's
    /// `use_native_function_calling`); else they are prompt text like any field.
    pub native: bool,
    /// The tool choice sent with native tools (`None`: the provider's default).
    pub tool_choice: Option<ToolChoice>,
}

/// An adapter with its [`ToolCalling`] set; everything else is the wrapped adapter's.
/// Made by `ChatAdapter::native_function_calling` and `JsonAdapter::native_function_calling`.
#[derive(Clone, Debug)]
pub struct WithToolCalling<A> {
    adapter: A,
    calling: ToolCalling,
}

impl<A> WithToolCalling<A> {
    pub(super) fn new(adapter: A, native: bool) -> Self {
        WithToolCalling {
            adapter,
            calling: ToolCalling {
                native,
                tool_choice: None,
            },
        }
    }

    /// Sends `choice` as the tool choice with native tools.
    pub fn tool_choice(mut self, choice: ToolChoice) -> Self {
        self.calling.tool_choice = Some(choice);
        self
    }
}

impl<A: Adapter> Adapter for WithToolCalling<A> {
    fn name(&self) -> &'static str {
        self.adapter.name()
    }
    fn format_prefix(&self, signature: &Signature, demos: &[Example]) -> Vec<Message> {
        self.adapter.format_prefix(signature, demos)
    }
    fn format_user(
        &self,
        signature: &Signature,
        inputs: &Example,
    ) -> Result<Option<Message>, FormatError> {
        self.adapter.format_user(signature, inputs)
    }
    fn parse(&self, signature: &Signature, completion: &str) -> Result<Fields, ParseError> {
        self.adapter.parse(signature, completion)
    }
    fn constraint(&self, signature: &Signature, lm: &dyn Lm) -> Option<OutputConstraint> {
        self.adapter.constraint(signature, lm)
    }
    fn tool_calling(&self) -> ToolCalling {
        self.calling.clone()
    }
    fn format_assistant(&self, signature: &Signature, outputs: &Example) -> Option<String> {
        self.adapter.format_assistant(signature, outputs)
    }
}

/// A call that sends its tools natively: what the prompt shows and what goes beside it.
#[derive(Clone, Debug)]
pub(crate) struct NativeTools {
    /// The signature without the tools input and the `ToolCalls` output (instructions
    /// kept as they were), which the prompt is formatted from and the text parsed by.
    pub(crate) text_signature: Signature,
    /// The `Tool` input's name.
    pub(crate) tools_field: String,
    /// The `ToolCalls` output's name.
    pub(crate) calls_field: String,
    /// The tools, from the input.
    pub(crate) tools: Vec<ToolSpec>,
    /// The adapter's tool choice.
    pub(crate) tool_choice: Option<ToolChoice>,
}

impl NativeTools {
    /// The inputs the prompt shows: all but the tools.
    pub(crate) fn text_inputs(&self, inputs: &Example) -> Example {
        inputs.without(&self.tools_field)
    }
}

/// DSPy's `_call_preprocess`: whether this call sends its tools natively. `None` when
/// the adapter lists tools as text, the signature has no `ToolCalls` output or the LM
/// cannot take tools (then DSPy also lists them as text). A `ToolCalls` output without a
/// tools input is an error in native mode, as in DSPy.
pub(crate) fn native_tools(
    adapter: &dyn Adapter,
    signature: &Signature,
    inputs: &Example,
    lm: &dyn Lm,
) -> Result<Option<NativeTools>, FormatError> {
    let calling = adapter.tool_calling();
    if !calling.native {
        return Ok(None);
    }
    let tools_field = signature
        .inputs()
        .iter()
        .find(|f| f.ty == FieldType::Tool || f.ty == FieldType::list(FieldType::Tool));
    let Some(calls_field) = signature
        .outputs()
        .iter()
        .find(|f| f.ty == FieldType::ToolCalls)
    else {
        return Ok(None);
    };
    let Some(tools_field) = tools_field else {
        return Err(FormatError::ToolCallsWithoutTools {
            field: calls_field.name.clone(),
        });
    };
    if !lm.supports_native_tools() {
        return Ok(None);
    }
    let value = inputs
        .get(&tools_field.name)
        .ok_or_else(|| FormatError::MissingInput {
            field: tools_field.name.clone(),
            signature: signature.to_signature_string(),
        })?;
    let tools = specs_in(&tools_field.ty, value).ok_or_else(|| FormatError::BadInputType {
        field: tools_field.name.clone(),
        expected: tools_field.ty.sigil_name(),
        got: "something that is not tool specs".into(),
    })?;
    let text_signature = signature
        .delete(&calls_field.name)
        .and_then(|s| s.delete(&tools_field.name))
        .map(|s| s.with_instructions(signature.instructions()))
        .expect("both fields are in the signature");
    Ok(Some(NativeTools {
        text_signature,
        tools_field: tools_field.name.clone(),
        calls_field: calls_field.name.clone(),
        tools,
        tool_choice: calling.tool_choice,
    }))
}

/// DSPy's `_call_postprocess`: the output fields from a response to a native-tools call.
///
/// Without tool calls the text must parse (against the signature without the tool
/// fields) and the `ToolCalls` field is null. With tool calls, text that does not parse
/// is ignored and the outputs it would have given are null; the calls fill the
/// `ToolCalls` field (arguments that are not a JSON object are a parse error). A
/// response with neither text nor calls is [`ParseFailure::Empty`].
pub(crate) fn parse_native(
    adapter: &dyn Adapter,
    native: &NativeTools,
    signature: &Signature,
    response: &LmResponse,
) -> Result<Fields, ParseError> {
    let text = response.text.as_str();
    let error = |failure| ParseError {
        adapter: adapter.name().to_string(),
        failure,
        raw: text.to_string(),
    };
    let mut parsed = if response.tool_calls.is_empty() {
        if text.is_empty() {
            return Err(error(ParseFailure::Empty));
        }
        adapter.parse(&native.text_signature, text)?
    } else if !text.is_empty() && !native.text_signature.outputs().is_empty() {
        adapter
            .parse(&native.text_signature, text)
            .unwrap_or_default()
    } else {
        Fields::new()
    };
    let calls = if response.tool_calls.is_empty() {
        Value::Null
    } else {
        ToolCalls::from_lm(&response.tool_calls)
            .map_err(|e| {
                error(ParseFailure::BadValue {
                    field: native.calls_field.clone(),
                    expected: "ToolCalls (arguments as a JSON object)".into(),
                    got: e.arguments,
                })
            })?
            .to_value()
    };
    let mut out = Fields::with_capacity(signature.outputs().len());
    for f in signature.outputs() {
        let v = if f.name == native.calls_field {
            calls.clone()
        } else {
            parsed.shift_remove(&f.name).unwrap_or(Value::Null)
        };
        out.insert(f.name.clone(), v);
    }
    Ok(out)
}

#[cfg(test)]
#[path = "native_tests.rs"]
mod tests;

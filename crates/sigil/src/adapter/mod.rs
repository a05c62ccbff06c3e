//! Adapters turn (signature, demos, inputs) into chat messages and completions back
//! into typed field values. The adapter owns the prompt format.

use indexmap::IndexMap;
use serde_json::Value;

use crate::data::Example;
use crate::lm::{Lm, Message, OutputConstraint};
use crate::signature::Signature;

/// Parsed output fields, in signature order.
pub type Fields = IndexMap<String, Value>;

/// Formatting failures (the inputs do not fit the signature).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FormatError {
    /// An input field of the signature has no value.
    #[error("missing input field `{field}` (signature: {signature})")]
    MissingInput {
        /// The field.
        field: String,
        /// The signature, in its string form.
        signature: String,
    },
    /// The inputs hold a key the signature does not declare.
    #[error("unexpected input field `{field}` (signature: {signature})")]
    UnexpectedInput {
        /// The key.
        field: String,
        /// The signature, in its string form.
        signature: String,
    },
    /// A `ToolCalls` output in native function calling, but no `Tool` / `list[Tool]`
    /// input to offer the LM (DSPy refuses this too).
    #[error(
        "output field `{field}` receives tool calls, but the signature has no input of type list[Tool] or Tool to offer the tools"
    )]
    ToolCallsWithoutTools {
        /// The `ToolCalls` field.
        field: String,
    },
    /// An input's value does not fit its field's type.
    #[error("input field `{field}` should be {expected}, got {got}")]
    BadInputType {
        /// The field.
        field: String,
        /// The field's type.
        expected: String,
        /// What the value is.
        got: String,
    },
}

/// Why a completion could not be parsed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ParseFailure {
    /// An output field is not in the completion.
    #[error("output field `{0}` is missing")]
    MissingField(String),
    /// An output field's text does not read as its type.
    #[error("output field `{field}` should be {expected}, got {got:?}")]
    BadValue {
        /// The field.
        field: String,
        /// The field's type.
        expected: String,
        /// The text found.
        got: String,
    },
    /// The JSON adapter found no JSON object.
    #[error("the completion is not a JSON object: {0}")]
    NotJson(String),
    /// The completion is empty.
    #[error("the completion is empty")]
    Empty,
}

/// A completion that did not parse. Carries the raw completion so nothing is lost.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{adapter} could not parse the completion: {failure}")]
pub struct ParseError {
    /// The adapter that failed (`chat`, `json`).
    pub adapter: String,
    /// What was wrong.
    pub failure: ParseFailure,
    /// The completion, as the LM wrote it.
    pub raw: String,
}

/// Formats prompts and parses completions for one wire format.
pub trait Adapter: Send + Sync {
    /// Short name (`chat`, `json`).
    fn name(&self) -> &'static str;

    /// The messages that do not depend on the inputs: the system message and the demo
    /// turns. `Predict` caches them per predictor, so a call only renders its user turn.
    fn format_prefix(&self, signature: &Signature, demos: &[Example]) -> Vec<Message>;

    /// The user turn for `inputs`, after checking them against the signature (`None`
    /// when there is nothing to say).
    fn format_user(
        &self,
        signature: &Signature,
        inputs: &Example,
    ) -> Result<Option<Message>, FormatError>;

    /// The messages for a call: system, then a user/assistant pair per demo, then the user turn.
    fn format(
        &self,
        signature: &Signature,
        demos: &[Example],
        inputs: &Example,
    ) -> Result<Vec<Message>, FormatError> {
        let user = self.format_user(signature, inputs)?;
        let mut messages = self.format_prefix(signature, demos);
        messages.extend(user);
        Ok(messages)
    }

    /// Typed output values from a completion.
    fn parse(&self, signature: &Signature, completion: &str) -> Result<Fields, ParseError>;

    /// The output constraint to send with the request, if the LM can use it.
    fn constraint(&self, signature: &Signature, lm: &dyn Lm) -> Option<OutputConstraint> {
        let _ = (signature, lm);
        None
    }

    /// How this adapter offers a signature's tools (see [`native`]). Default: as text.
    fn tool_calling(&self) -> ToolCalling {
        ToolCalling::default()
    }

    /// The assistant turn this adapter expects for these output values: what a model
    /// fine-tuned for the signature should write (DSPy's
    /// `format_assistant_message_content`). `None` if the adapter has no such form.
    fn format_assistant(&self, signature: &Signature, outputs: &Example) -> Option<String> {
        let _ = (signature, outputs);
        None
    }
}

/// What `Predict` does when the primary adapter's parse fails.
#[derive(Clone, Debug, PartialEq)]
pub enum FallbackPolicy {
    /// Surface the parse error.
    Off,
    /// Re-ask with the JSON adapter up to `retries` times. Each use is counted on the
    /// prediction (`Prediction::fallbacks`) and in the trace.
    Json {
        /// Attempts with the JSON adapter after the first failure.
        retries: u32,
    },
}

impl Default for FallbackPolicy {
    fn default() -> Self {
        FallbackPolicy::Json { retries: 1 }
    }
}

/// Checks the inputs hold exactly the signature's input fields.
pub fn check_inputs(signature: &Signature, inputs: &Example) -> Result<(), FormatError> {
    for f in signature.inputs() {
        if inputs.get(&f.name).is_none() {
            return Err(FormatError::MissingInput {
                field: f.name.clone(),
                signature: signature.to_signature_string(),
            });
        }
    }
    for k in inputs.keys() {
        if !signature.inputs().iter().any(|f| f.name == k) {
            return Err(FormatError::UnexpectedInput {
                field: k.to_string(),
                signature: signature.to_signature_string(),
            });
        }
    }
    Ok(())
}

mod chat;
mod coerce;
mod fallback;
mod json;
mod lenient;
pub mod native;
mod py_repr;
mod tool_fields;
mod value;

pub use chat::ChatAdapter;
pub(crate) use chat::input_sections;
pub(crate) use coerce::coerce_to_schema;
pub(crate) use fallback::json_fallback;
pub use json::JsonAdapter;
pub(crate) use lenient::parse as lenient_json;
pub use native::{ToolCalling, WithToolCalling};
pub(crate) use py_repr::py_repr;

/// The names [`by_name`] knows: the built-in adapters.
pub const BUILT_IN: [&str; 2] = ["chat", "json"];

/// The built-in adapter called `name` (see [`BUILT_IN`]), or `None`. The one place a
/// name (in a program file, an artifact or a flag) becomes an adapter.
///
/// ```
/// let json = sigil::adapter::by_name("json").expect("built in");
/// assert_eq!(json.name(), "json");
/// assert!(sigil::adapter::by_name("xml").is_none());
/// ```
pub fn by_name(name: &str) -> Option<std::sync::Arc<dyn Adapter>> {
    match name {
        "chat" => Some(std::sync::Arc::new(ChatAdapter)),
        "json" => Some(std::sync::Arc::new(JsonAdapter)),
        _ => None,
    }
}

#[cfg(test)]
mod by_name_tests {
    #[test]
    fn every_built_in_name_gives_the_adapter_of_that_name() {
        for name in super::BUILT_IN {
            assert_eq!(super::by_name(name).map(|a| a.name()), Some(name));
        }
        assert!(super::by_name("Chat").is_none());
    }
}

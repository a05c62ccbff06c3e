//! DSPy's ChatAdapter: `[[ ## field ## ]]` sections in, `[[ ## field ## ]]` sections out.
//!
//! The prompt is byte for byte what Python DSPy 3.4.1's `ChatAdapter.format` produces
//! (checked against fixtures in `tests/golden/adapters`). The message layout code here
//! is shared with the [`super::JsonAdapter`], which differs only in the structure section,
//! the output reminder and the demo answers.

use serde_json::{Map, Value};

use super::coerce;
use super::native::WithToolCalling;
use super::value::{
    cleandoc, dedent, field_description_list, field_placeholder, format_field_value, py_json,
    py_splitlines, py_strip, py_type_name,
};
use super::*;
use crate::signature::{Field, FieldType};

/// DSPy's ChatAdapter wire format. Lists a signature's tools as text unless made with
/// [`ChatAdapter::native_function_calling`].
#[derive(Clone, Copy, Debug, Default)]
pub struct ChatAdapter;

impl ChatAdapter {
    /// This adapter with native function calling on or off (DSPy's
    /// `ChatAdapter(use_native_function_calling=...)`; off by default). See
    /// [`super::native`].
    pub fn native_function_calling(self, yes: bool) -> WithToolCalling<ChatAdapter> {
        WithToolCalling::new(self, yes)
    }
}

impl Adapter for ChatAdapter {
    fn name(&self) -> &'static str {
        "chat"
    }

    fn format_prefix(&self, signature: &Signature, demos: &[Example]) -> Vec<Message> {
        format_prefix(Style::Chat, signature, demos)
    }

    fn format_assistant(&self, signature: &Signature, outputs: &Example) -> Option<String> {
        Some(assistant_content(Style::Chat, signature, outputs, ""))
    }

    fn format_user(
        &self,
        signature: &Signature,
        inputs: &Example,
    ) -> Result<Option<Message>, FormatError> {
        format_user(Style::Chat, signature, inputs)
    }

    fn parse(&self, signature: &Signature, completion: &str) -> Result<Fields, ParseError> {
        parse_sections(signature, completion).map_err(|failure| ParseError {
            adapter: self.name().to_string(),
            failure,
            raw: completion.to_string(),
        })
    }

    /// The `[[ ## field ## ]]` structure with typed values, when the LM can enforce it.
    fn constraint(&self, signature: &Signature, lm: &dyn Lm) -> Option<OutputConstraint> {
        let fields = signature
            .outputs()
            .iter()
            .map(|f| (f.name.clone(), f.ty.clone()))
            .collect();
        let c = OutputConstraint::ChatFields { fields };
        lm.supports_constraint(&c).then_some(c)
    }
}

/// Which adapter's variant of the shared layout to render.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Style {
    Chat,
    Json,
}

const INCOMPLETE_DEMO_PREFIX: &str =
    "This is an example of the task, though some input or output fields are not supplied.";
const MISSING_IN_INCOMPLETE_DEMO: &str = "Not supplied for this particular example. ";
const MISSING_IN_COMPLETE_DEMO: &str = "Not supplied for this conversation history message. ";
const STRUCTURE_INTRO: &str = "All interactions will be structured in the following way, with the appropriate values filled in.";

/// The system message and demo turns (incomplete demos first, as DSPy orders them):
/// everything that does not depend on the inputs.
pub(super) fn format_prefix(
    style: Style,
    signature: &Signature,
    demos: &[Example],
) -> Vec<Message> {
    let mut messages = Vec::with_capacity(2 + 2 * demos.len());
    messages.push(Message::system(system_message(style, signature)));

    let fields = || signature.inputs().iter().chain(signature.outputs());
    let mut complete = Vec::new();
    let mut incomplete = Vec::new();
    for demo in demos {
        if fields().all(|f| demo.get(&f.name).is_some_and(|v| !v.is_null())) {
            complete.push(demo);
        } else {
            let has = |fs: &[Field]| fs.iter().any(|f| demo.get(&f.name).is_some());
            if has(signature.inputs()) && has(signature.outputs()) {
                incomplete.push(demo);
            }
        }
    }
    for demo in incomplete {
        messages.push(Message::user(user_content(
            style,
            signature,
            demo,
            INCOMPLETE_DEMO_PREFIX,
            false,
        )));
        messages.push(Message::assistant(assistant_content(
            style,
            signature,
            demo,
            MISSING_IN_INCOMPLETE_DEMO,
        )));
    }
    for demo in complete {
        messages.push(Message::user(user_content(
            style, signature, demo, "", false,
        )));
        messages.push(Message::assistant(assistant_content(
            style,
            signature,
            demo,
            MISSING_IN_COMPLETE_DEMO,
        )));
    }
    messages
}

/// The user turn for `inputs` (none when there is nothing to say), after checking them.
pub(super) fn format_user(
    style: Style,
    signature: &Signature,
    inputs: &Example,
) -> Result<Option<Message>, FormatError> {
    check_inputs(signature, inputs)?;
    check_input_types(signature, inputs)?;
    let content = user_content(style, signature, inputs, "", true);
    Ok((!content.is_empty()).then(|| Message::user(content)))
}

/// Rejects input values that cannot be of the field's type. Strings are always accepted
/// (they are shown to the LM as written), as is anything for a `str` field.
fn check_input_types(signature: &Signature, inputs: &Example) -> Result<(), FormatError> {
    for f in signature.inputs() {
        if let Some(v) = inputs.get(&f.name).filter(|v| !value_fits(&f.ty, v)) {
            return Err(FormatError::BadInputType {
                field: f.name.clone(),
                expected: f.ty.sigil_name(),
                got: kind_of(v).to_string(),
            });
        }
    }
    Ok(())
}

fn value_fits(ty: &FieldType, v: &Value) -> bool {
    match (ty, v) {
        (FieldType::Optional { .. }, Value::Null) => true,
        (_, Value::Null) => false,
        // A tool is given by its spec, which native function calling must be able to send.
        (FieldType::Tool, v) => super::tool_fields::spec_of(v).is_some(),
        (FieldType::ToolCalls, v) => crate::tool::ToolCalls::from_value(v).is_ok(),
        (_, Value::String(_)) | (FieldType::Str, _) => true,
        (FieldType::Optional { inner }, _) => value_fits(inner, v),
        (FieldType::Int, Value::Number(n)) => {
            n.is_i64() || n.is_u64() || n.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        (FieldType::Float, Value::Number(_)) | (FieldType::Bool, Value::Bool(_)) => true,
        (FieldType::List { item }, Value::Array(items)) => {
            items.iter().all(|x| value_fits(item, x))
        }
        (FieldType::Dict { value }, Value::Object(map)) => {
            map.values().all(|x| value_fits(value, x))
        }
        (FieldType::Object { .. }, Value::Object(_)) => true,
        _ => false,
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a bool",
        Value::Number(n) if n.is_f64() => "a float",
        Value::Number(_) => "an int",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

fn system_message(style: Style, signature: &Signature) -> String {
    let mut out = String::with_capacity(1024);
    out.push_str("Your input fields are:\n");
    out.push_str(&field_description_list(signature.inputs()));
    out.push_str("\nYour output fields are:\n");
    out.push_str(&field_description_list(signature.outputs()));
    out.push('\n');
    out.push_str(&field_structure(style, signature));
    out.push('\n');
    out.push_str("In adhering to this structure, your objective is: ");
    for line in py_splitlines(&dedent(&cleandoc(&signature.instructions()))) {
        out.push_str("\n        ");
        out.push_str(line);
    }
    out
}

/// `[[ ## name ## ]]` blocks holding each field's placeholder.
fn placeholder_blocks(fields: &[Field], is_output: bool) -> String {
    let blocks: Vec<String> = fields
        .iter()
        .map(|f| {
            format!(
                "[[ ## {} ## ]]\n{}",
                f.name,
                field_placeholder(f, is_output)
            )
        })
        .collect();
    py_strip(&blocks.join("\n\n")).to_string()
}

fn field_structure(style: Style, signature: &Signature) -> String {
    let inputs = placeholder_blocks(signature.inputs(), false);
    let parts: Vec<String> = match style {
        Style::Chat => vec![
            STRUCTURE_INTRO.into(),
            inputs,
            placeholder_blocks(signature.outputs(), true),
            "[[ ## completed ## ]]\n".into(),
        ],
        Style::Json => {
            let outputs: Map<String, Value> = signature
                .outputs()
                .iter()
                .map(|f| (f.name.clone(), Value::String(field_placeholder(f, true))))
                .collect();
            vec![
                STRUCTURE_INTRO.into(),
                "Inputs will have the following structure:".into(),
                inputs,
                "Outputs will be a JSON object with the following fields.".into(),
                py_json(&Value::Object(outputs), Some(2)),
            ]
        }
    };
    py_strip(&parts.join("\n\n")).to_string()
}

/// DSPy's reminder for a `ToolCalls` output, in both adapters' user turn.
const TOOL_CALLS_REMINDER: &str =
    r#" (must be a JSON object like {"tool_calls": [{"name": "...", "args": {...}}]})"#;

/// " (must be formatted as a valid Python int)" for non-string fields.
fn type_reminder(ty: &FieldType) -> String {
    if ty.is_str() {
        String::new()
    } else if *ty == FieldType::ToolCalls {
        TOOL_CALLS_REMINDER.into()
    } else {
        format!(
            " (must be formatted as a valid Python {})",
            py_type_name(ty)
        )
    }
}

fn push_output_requirements(style: Style, signature: &Signature, out: &mut String) {
    let (intro, open, close, outro) = match style {
        Style::Chat => (
            "Respond with the corresponding output fields, starting with the field ",
            "`[[ ## ",
            " ## ]]`",
            ", and then ending with the marker for `[[ ## completed ## ]]`.",
        ),
        Style::Json => (
            "Respond with a JSON object in the following order of fields: ",
            "`",
            "`",
            ".",
        ),
    };
    out.push_str(intro);
    for (i, f) in signature.outputs().iter().enumerate() {
        if i > 0 {
            out.push_str(", then ");
        }
        out.push_str(open);
        out.push_str(&f.name);
        out.push_str(close);
        out.push_str(&type_reminder(&f.ty));
    }
    out.push_str(outro);
}

/// The `[[ ## field ## ]]` sections of `values` for the input fields of `signature`,
/// without the output requirements (DSPy's `format_user_message_content` with
/// `main_request=False`). ReAct writes its trajectory with it.
pub(crate) fn input_sections(signature: &Signature, values: &Example) -> String {
    user_content(Style::Chat, signature, values, "", false)
}

/// A user turn: the present input fields' sections, plus the output reminder on the main request.
///
/// DSPy joins the parts with blank lines and strips the result; this builds the same
/// text in one buffer (the hot path of every call).
fn user_content(
    style: Style,
    signature: &Signature,
    values: &Example,
    prefix: &str,
    main_request: bool,
) -> String {
    let mut out = String::with_capacity(256);
    // An empty prefix would only add leading blank lines, which the strip removes.
    out.push_str(prefix);
    let sep = |out: &mut String| {
        if !out.is_empty() {
            out.push_str("\n\n");
        }
    };
    for f in signature.inputs() {
        if let Some(v) = values.get(&f.name) {
            sep(&mut out);
            out.push_str("[[ ## ");
            out.push_str(&f.name);
            out.push_str(" ## ]]\n");
            out.push_str(&format_field_value(&f.ty, v));
        }
    }
    if main_request {
        sep(&mut out);
        push_output_requirements(style, signature, &mut out);
    }
    let stripped = py_strip(&out);
    if stripped.len() == out.len() {
        out
    } else {
        stripped.to_string()
    }
}

/// A demo's assistant turn; absent outputs are replaced by `missing`.
pub(super) fn assistant_content(
    style: Style,
    signature: &Signature,
    values: &Example,
    missing: &str,
) -> String {
    let missing = Value::String(missing.to_string());
    match style {
        Style::Chat => {
            let blocks: Vec<String> = signature
                .outputs()
                .iter()
                .map(|f| {
                    let v = values.get(&f.name).unwrap_or(&missing);
                    format!("[[ ## {} ## ]]\n{}", f.name, format_field_value(&f.ty, v))
                })
                .collect();
            format!(
                "{}\n\n[[ ## completed ## ]]\n",
                py_strip(&blocks.join("\n\n"))
            )
        }
        Style::Json => {
            let obj: Map<String, Value> = signature
                .outputs()
                .iter()
                .map(|f| {
                    (
                        f.name.clone(),
                        values.get(&f.name).unwrap_or(&missing).clone(),
                    )
                })
                .collect();
            py_json(&Value::Object(obj), Some(2))
        }
    }
}

/// Reads `[[ ## name ## ]]` at the start of a (trimmed) line; returns the name and the rest of the line.
fn header(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix("[[ ## ")?;
    let name_len = rest.find(|c: char| !(c.is_alphanumeric() || c == '_'))?;
    if name_len == 0 {
        return None;
    }
    let (name, after) = rest.split_at(name_len);
    let after = after.strip_prefix(" ## ]]")?;
    Some((name, after))
}

/// Splits a completion into `[[ ## name ## ]]` sections and coerces the output fields.
/// The line that ends a ChatAdapter completion.
const COMPLETED_MARKER: &str = "[[ ## completed ## ]]";

fn parse_sections(signature: &Signature, completion: &str) -> Result<Fields, ParseFailure> {
    if py_strip(completion).is_empty() {
        return Err(ParseFailure::Empty);
    }
    // (header, lines); the text before the first header has no name.
    let mut sections: Vec<(Option<&str>, Vec<&str>)> = vec![(None, Vec::new())];
    let mut lines = py_splitlines(completion);
    // A completion cut off by the token limit inside the closing `[[ ## completed ## ]]`
    // marker: the last field's value ended before it, so the fragment is dropped
    // (DSPy would take it as part of the value).
    if let Some(last) = lines.last().map(|l| py_strip(l))
        && last.len() >= 2
        && last.len() < COMPLETED_MARKER.len()
        && COMPLETED_MARKER.starts_with(last)
    {
        lines.pop();
    }
    for line in lines {
        match header(py_strip(line)) {
            Some((name, rest)) => {
                let rest = py_strip(rest);
                sections.push((
                    Some(name),
                    if rest.is_empty() {
                        Vec::new()
                    } else {
                        vec![rest]
                    },
                ));
            }
            None => {
                if let Some(last) = sections.last_mut() {
                    last.1.push(line);
                }
            }
        }
    }
    let mut found: Map<String, Value> = Map::new();
    for (name, lines) in &sections {
        let Some(name) = name else { continue };
        let Some(field) = signature.outputs().iter().find(|f| f.name == *name) else {
            continue;
        };
        if found.contains_key(*name) {
            continue; // the first section for a field wins, as in DSPy
        }
        let text = lines.join("\n");
        let text = py_strip(&text);
        let value = coerce::parse_text(text, &field.ty).map_err(|e| ParseFailure::BadValue {
            field: field.name.clone(),
            expected: expected_type(&field.ty, &e),
            got: text.to_string(),
        })?;
        found.insert(field.name.clone(), value);
    }
    collect_outputs(signature, found)
}

/// The expected type for a `BadValue` error, with the coercion's detail unless it only
/// restates the type ("expected an int").
pub(super) fn expected_type(ty: &FieldType, detail: &str) -> String {
    let name = py_type_name(ty);
    if detail.starts_with("expected ") && !detail.contains(", ") {
        name
    } else {
        format!("{name} ({detail})")
    }
}

/// The output fields in signature order; a missing optional field becomes null.
pub(super) fn collect_outputs(
    signature: &Signature,
    mut found: Map<String, Value>,
) -> Result<Fields, ParseFailure> {
    let mut out = Fields::with_capacity(signature.outputs().len());
    for f in signature.outputs() {
        match found.remove(&f.name) {
            Some(v) => {
                out.insert(f.name.clone(), v);
            }
            None if matches!(f.ty, FieldType::Optional { .. }) => {
                out.insert(f.name.clone(), Value::Null);
            }
            None => return Err(ParseFailure::MissingField(f.name.clone())),
        }
    }
    Ok(out)
}

#[cfg(test)]
#[path = "chat_tests.rs"]
mod tests;

//! DSPy's JSONAdapter: the ChatAdapter's prompt layout, answered with one JSON object.
//!
//! Formatting matches Python DSPy 3.4.1's `JSONAdapter.format` byte for byte. Parsing
//! finds the JSON object in the completion (bare, in a code fence or inside prose;
//! Python-literal near-JSON is accepted) and coerces each output field to its type.

use serde_json::{Map, Value};

use super::chat::{Style, collect_outputs, expected_type};
use super::coerce;
use super::lenient;
use super::native::{ToolCalling, WithToolCalling};
use super::*;

/// Name of the output schema sent as a structured-output constraint (DSPy's model name).
const SCHEMA_NAME: &str = "DSPyProgramOutputs";

/// DSPy's JSONAdapter wire format. Like DSPy 3.4.1's, it sends a signature's tools
/// natively when the LM takes them (see [`super::native`]); that changes only
/// signatures with a `Tool` input and a `ToolCalls` output.
#[derive(Clone, Copy, Debug, Default)]
pub struct JsonAdapter;

impl JsonAdapter {
    /// This adapter with native function calling on or off (DSPy's
    /// `JSONAdapter(use_native_function_calling=...)`; on by default).
    pub fn native_function_calling(self, yes: bool) -> WithToolCalling<JsonAdapter> {
        WithToolCalling::new(self, yes)
    }
}

impl Adapter for JsonAdapter {
    fn name(&self) -> &'static str {
        "json"
    }

    fn format_prefix(&self, signature: &Signature, demos: &[Example]) -> Vec<Message> {
        super::chat::format_prefix(Style::Json, signature, demos)
    }

    /// The JSON object of the outputs (DSPy's JSONAdapter has no fine-tuning format;
    /// this is the form its demos' assistant turns take).
    fn format_assistant(&self, signature: &Signature, outputs: &Example) -> Option<String> {
        Some(super::chat::assistant_content(
            Style::Json,
            signature,
            outputs,
            "",
        ))
    }

    fn format_user(
        &self,
        signature: &Signature,
        inputs: &Example,
    ) -> Result<Option<Message>, FormatError> {
        super::chat::format_user(Style::Json, signature, inputs)
    }

    fn parse(&self, signature: &Signature, completion: &str) -> Result<Fields, ParseError> {
        parse_json(signature, completion).map_err(|failure| ParseError {
            adapter: self.name().to_string(),
            failure,
            raw: completion.to_string(),
        })
    }

    /// The signature's output schema, when the provider or engine can enforce it.
    fn constraint(&self, signature: &Signature, lm: &dyn Lm) -> Option<OutputConstraint> {
        // Tool calls answered as text get no schema, as DSPy sends them with plain JSON
        // mode: their open-ended `args` objects are not a strict structured-output schema.
        if signature
            .outputs()
            .iter()
            .any(|f| f.ty == crate::signature::FieldType::ToolCalls)
        {
            return None;
        }
        let c = OutputConstraint::JsonSchema {
            name: SCHEMA_NAME.to_string(),
            schema: signature.output_schema(),
        };
        (lm.supports_structured_output() || lm.supports_constraint(&c)).then_some(c)
    }

    /// Native, as DSPy 3.4.1's JSONAdapter defaults to.
    fn tool_calling(&self) -> ToolCalling {
        ToolCalling {
            native: true,
            tool_choice: None,
        }
    }
}

fn parse_json(signature: &Signature, completion: &str) -> Result<Fields, ParseFailure> {
    if completion.trim().is_empty() {
        return Err(ParseFailure::Empty);
    }
    let has_output = |v: &Value| {
        v.as_object()
            .is_some_and(|m| signature.outputs().iter().any(|f| m.contains_key(&f.name)))
    };
    let object = match lenient::parse(completion) {
        Some(Value::Object(m)) => m,
        _ => match lenient::find_value(completion, b'{', has_output) {
            Some(Value::Object(m)) => m,
            _ => return Err(ParseFailure::NotJson(snippet(completion))),
        },
    };
    let mut found = Map::new();
    for f in signature.outputs() {
        if let Some(v) = object.get(&f.name) {
            let value = coerce::coerce(v, &f.ty).map_err(|e| ParseFailure::BadValue {
                field: f.name.clone(),
                expected: expected_type(&f.ty, &e),
                got: super::value::py_str(v),
            })?;
            found.insert(f.name.clone(), value);
        }
    }
    collect_outputs(signature, found)
}

/// The start of the completion, for error messages.
fn snippet(text: &str) -> String {
    const MAX: usize = 200;
    let t = text.trim();
    match t.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &t[..i]),
        None => t.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signature::{Field, FieldType};
    use crate::testing::ScriptedLm;
    use serde_json::json;

    fn sig() -> Signature {
        Signature::parse("question -> answer: int, tags: list[str], note: optional[str]").unwrap()
    }

    #[test]
    fn parses_plain_fenced_and_embedded_json() {
        let a = JsonAdapter;
        let want: Fields = [
            ("answer", json!(4)),
            ("tags", json!(["x"])),
            ("note", json!(null)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        assert_eq!(
            a.parse(&sig(), r#"{"answer": 4, "tags": ["x"], "note": null}"#)
                .unwrap(),
            want
        );
        assert_eq!(
            a.parse(
                &sig(),
                "```json\n{\"answer\": \"4\", \"tags\": [\"x\"]}\n```"
            )
            .unwrap(),
            want
        );
        assert_eq!(
            a.parse(
                &sig(),
                "Sure, here you go: {'answer': 4, 'tags': ['x'], 'extra': 1,} Hope it helps {ok}"
            )
            .unwrap(),
            want
        );
        assert_eq!(
            a.parse(
                &sig(),
                "{\"other\": 1} then {\"answer\": 4, \"tags\": \"['x']\"}"
            )
            .unwrap(),
            want
        );
    }

    #[test]
    fn bad_completions_are_typed_errors() {
        let a = JsonAdapter;
        let e = a.parse(&sig(), "").unwrap_err();
        assert_eq!(e.failure, ParseFailure::Empty);
        assert_eq!(e.adapter, "json");
        let e = a.parse(&sig(), "no json here").unwrap_err();
        assert!(matches!(e.failure, ParseFailure::NotJson(_)));
        assert_eq!(e.raw, "no json here");
        let e = a.parse(&sig(), r#"{"tags": []}"#).unwrap_err();
        assert_eq!(e.failure, ParseFailure::MissingField("answer".into()));
        let e = a
            .parse(&sig(), r#"{"answer": "four", "tags": []}"#)
            .unwrap_err();
        assert!(
            matches!(&e.failure, ParseFailure::BadValue { field, got, .. } if field == "answer" && got == "four")
        );
        let e = a.parse(&sig(), r#"[1, 2]"#).unwrap_err();
        assert!(matches!(e.failure, ParseFailure::NotJson(_)));
        for junk in [
            "{",
            "}",
            "{{{{",
            "\u{0}",
            "{\"answer\": [[[[",
            "```",
            "{'answer': 1e999}",
        ] {
            assert!(a.parse(&sig(), junk).is_err(), "{junk:?}");
        }
    }

    #[test]
    fn constraint_only_when_supported() {
        let lm = ScriptedLm::new(Vec::<String>::new());
        assert_eq!(JsonAdapter.constraint(&sig(), &lm), None);

        let structured = ScriptedLm::new(Vec::<String>::new()).with_structured_output();
        let s = Signature::new(
            vec![Field::new("q", FieldType::Str)],
            vec![Field::new("a", FieldType::Int)],
        )
        .unwrap();
        match JsonAdapter.constraint(&s, &structured) {
            Some(OutputConstraint::JsonSchema { name, schema }) => {
                assert_eq!(name, "DSPyProgramOutputs");
                assert_eq!(schema, s.output_schema());
            }
            other => panic!("unexpected constraint {other:?}"),
        }
    }
}

//! Golden tests: signatures with `list[Tool]` / `Tool` inputs and `ToolCalls` outputs
//! format byte for byte like Python DSPy 3.4.1, with tools as text and in native function
//! calling (the messages and the tools sent), and completions read as DSPy reads them.
//!
//! Fixtures live in `crates/sigil/tests/golden/tools/`; regenerate them with
//! `.dev/venv-dspy/bin/python scripts/gen_tool_goldens.py`.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{Map, Value, json};
use sigil::adapter::{Adapter, ChatAdapter, JsonAdapter};
use sigil::data::Example;
use sigil::lm::{LmToolCall, Message, ToolSpec};
use sigil::module::{Ctx, Module, ModuleError, Predict};
use sigil::signature::{Field, Signature};
use sigil_testkit::ScriptedLm;

use crate::golden_support::{GoldenMessage, example_of, load_fixtures};

#[derive(Debug, Deserialize)]
struct Case {
    name: String,
    instructions: Option<String>,
    dspy_instructions: String,
    input_fields: Vec<Field>,
    output_fields: Vec<Field>,
    demos: Vec<Map<String, Value>>,
    inputs: Map<String, Value>,
    chat: Vec<GoldenMessage>,
    json: Vec<GoldenMessage>,
    native_chat: Option<Native>,
    native_json: Option<Native>,
}

#[derive(Debug, Deserialize)]
struct Native {
    messages: Vec<GoldenMessage>,
    /// The `tools` DSPy passes to litellm: OpenAI function specs.
    tools: Vec<Value>,
}

#[derive(Debug, Deserialize)]
struct ParseDoc {
    text: Vec<TextParse>,
    native: Vec<NativeParse>,
}

#[derive(Debug, Deserialize)]
struct TextParse {
    name: String,
    adapter: String,
    input_fields: Vec<Field>,
    output_fields: Vec<Field>,
    completion: String,
    dspy_result: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize)]
struct NativeParse {
    name: String,
    adapter: String,
    input_fields: Vec<Field>,
    output_fields: Vec<Field>,
    text: Option<String>,
    tool_calls: Option<Vec<Value>>,
    dspy_result: Option<Map<String, Value>>,
}

fn signature(case: &Case) -> Signature {
    let sig = Signature::new(case.input_fields.clone(), case.output_fields.clone())
        .unwrap_or_else(|e| panic!("{}: {e}", case.name));
    let sig = match &case.instructions {
        Some(i) => sig.with_instructions(i.clone()),
        None => sig,
    };
    assert_eq!(sig.instructions(), case.dspy_instructions, "{}", case.name);
    sig
}

fn assert_messages(case: &str, mode: &str, want: &[GoldenMessage], got: &[Message]) {
    assert_eq!(want.len(), got.len(), "{case} [{mode}]: message count");
    for (i, (w, g)) in want.iter().zip(got).enumerate() {
        assert_eq!(w.role, g.role, "{case} [{mode}] message {i}: role");
        assert_eq!(
            w.content, g.content,
            "{case} [{mode}] message {i} differs\n--- want\n{}\n--- got\n{}",
            w.content, g.content
        );
    }
}

#[test]
fn tools_listed_as_text_match_dspy() {
    let cases: Vec<Case> = load_fixtures("tools");
    assert!(cases.len() >= 3);
    for case in &cases {
        let sig = signature(case);
        let demos: Vec<Example> = case.demos.iter().map(example_of).collect();
        let inputs = example_of(&case.inputs);
        for (mode, adapter, want) in [
            ("chat", &ChatAdapter as &dyn Adapter, &case.chat),
            (
                "json",
                &JsonAdapter.native_function_calling(false),
                &case.json,
            ),
        ] {
            let got = adapter.format(&sig, &demos, &inputs).unwrap();
            assert_messages(&case.name, mode, want, &got);
        }
    }
}

/// What Predict sends in native function calling, through a fake LM that takes tools:
/// the messages without the tool fields, and the tools as OpenAI function specs.
#[tokio::test]
async fn native_function_calling_sends_what_dspy_sends() {
    let cases: Vec<Case> = load_fixtures("tools");
    let mut checked = 0;
    for case in &cases {
        let sig = signature(case);
        let demos: Vec<Example> = case.demos.iter().map(example_of).collect();
        let natives = [
            (
                "native_chat",
                Arc::new(ChatAdapter.native_function_calling(true)) as Arc<dyn Adapter>,
                &case.native_chat,
            ),
            ("native_json", Arc::new(JsonAdapter), &case.native_json),
        ];
        for (mode, adapter, want) in natives {
            let Some(want) = want else { continue };
            let lm = Arc::new(
                ScriptedLm::new(["unused"]).with_tool_calls([vec![LmToolCall {
                    id: Some("call_1".into()),
                    name: "search".into(),
                    arguments: r#"{"query": "x"}"#.into(),
                }]]),
            );
            let ctx = Ctx::new(lm.clone()).with_adapter_arc(adapter);
            let predict = Predict::new(sig.clone()).with_demos(demos.clone());
            let out = predict.call(&ctx, example_of(&case.inputs)).await.unwrap();
            let request = &lm.requests()[0];
            assert_messages(&case.name, mode, &want.messages, &request.messages);
            let sent: Vec<Value> = request.tools.iter().map(function_spec).collect();
            assert_eq!(sent, want.tools, "{} [{mode}]: tools", case.name);
            let calls = case
                .output_fields
                .iter()
                .find(|f| f.ty == sigil::signature::FieldType::ToolCalls)
                .unwrap();
            assert_eq!(
                out.get(&calls.name).unwrap()["tool_calls"][0]["name"],
                "search"
            );
            checked += 1;
        }
    }
    assert!(checked >= 4, "{checked}");
}

/// DSPy's `format_as_litellm_function_call` shape, what the OpenAI client sends.
fn function_spec(spec: &ToolSpec) -> Value {
    json!({"type": "function", "function": {
        "name": spec.name, "description": spec.description, "parameters": spec.parameters,
    }})
}

/// DSPy's shown form of the parsed values: tool calls without provider ids.
fn without_ids(mut v: Value) -> Value {
    if let Some(calls) = v.get_mut("tool_calls").and_then(Value::as_array_mut) {
        for c in calls {
            if let Some(m) = c.as_object_mut() {
                m.remove("id");
            }
        }
    }
    v
}

#[test]
fn tool_calls_in_completions_read_as_dspy_reads_them() {
    let doc: Vec<ParseDoc> = load_fixtures("tools/parse");
    let cases = &doc[0].text;
    assert!(cases.len() >= 8);
    for c in cases {
        let sig = Signature::new(c.input_fields.clone(), c.output_fields.clone()).unwrap();
        let adapter: &dyn Adapter = match c.adapter.as_str() {
            "chat" => &ChatAdapter,
            _ => &JsonAdapter,
        };
        let got = adapter.parse(&sig, &c.completion);
        match (&c.dspy_result, got) {
            (Some(want), Ok(fields)) => {
                let got: Map<String, Value> = fields
                    .into_iter()
                    .map(|(k, v)| (k, without_ids(v)))
                    .collect();
                assert_eq!(&got, want, "{}", c.name);
            }
            (None, Err(e)) => assert_eq!(e.raw, c.completion, "{}", c.name),
            (want, got) => panic!("{}: DSPy gave {want:?}, Sigil {got:?}", c.name),
        }
    }
}

#[tokio::test]
async fn native_tool_calls_read_as_dspy_reads_them() {
    let doc: Vec<ParseDoc> = load_fixtures("tools/parse");
    let cases = &doc[0].native;
    assert!(cases.len() >= 8);
    let tools = json!([
        {"name": "search", "parameters": {"type": "object", "properties": {"query": {"type": "string"}}}},
        {"name": "add", "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}}},
    ]);
    for c in cases {
        let sig = Signature::new(c.input_fields.clone(), c.output_fields.clone()).unwrap();
        let calls: Vec<LmToolCall> = c
            .tool_calls
            .iter()
            .flatten()
            .map(|t| LmToolCall {
                id: t["id"].as_str().map(String::from),
                name: t["function"]["name"].as_str().unwrap().into(),
                arguments: t["function"]["arguments"].as_str().unwrap().into(),
            })
            .collect();
        let lm = Arc::new(
            ScriptedLm::new([c.text.clone().unwrap_or_default()]).with_tool_calls([calls]),
        );
        let adapter: Arc<dyn Adapter> = match c.adapter.as_str() {
            "chat" => Arc::new(ChatAdapter.native_function_calling(true)),
            _ => Arc::new(JsonAdapter),
        };
        // No fallback: DSPy's `_call_postprocess` alone is what the fixture recorded.
        let ctx = Ctx::new(lm)
            .with_adapter_arc(adapter)
            .with_fallback(sigil::adapter::FallbackPolicy::Off);
        let inputs = Example::new()
            .input("question", "q")
            .input("tools", tools.clone());
        let got = Predict::new(sig).call(&ctx, inputs).await;
        match (&c.dspy_result, got) {
            (Some(want), Ok(p)) => {
                let got: Map<String, Value> = p
                    .values()
                    .iter()
                    .map(|(k, v)| (k.clone(), without_ids(v.clone())))
                    .collect();
                assert_eq!(&got, want, "{}", c.name);
            }
            (None, Err(ModuleError::Parse { .. })) => {}
            (want, got) => panic!("{}: DSPy gave {want:?}, Sigil {got:?}", c.name),
        }
    }
}

//! Native function calling through `Predict`: what is sent, what is read, and the
//! errors for bad tools, bad tool calls and a `ToolCalls` output without tools.

use std::sync::Arc;

use serde_json::json;

use super::*;
use crate::adapter::{ChatAdapter, FallbackPolicy, JsonAdapter};
use crate::lm::{LmToolCall, Role};
use crate::module::{Ctx, Module, ModuleError, Predict};
use crate::testing::ScriptedLm;

fn predict() -> Predict {
    Predict::parse("question, tools: list[Tool] -> answer, calls: ToolCalls").unwrap()
}

fn inputs() -> Example {
    Example::new().input("question", "2 + 2?").input(
        "tools",
        json!([{"name": "add", "description": "Add.", "parameters": {
            "type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}}]),
    )
}

fn call(name: &str, arguments: &str) -> LmToolCall {
    LmToolCall {
        id: Some("call_7".into()),
        name: name.into(),
        arguments: arguments.into(),
    }
}

#[tokio::test]
async fn native_calls_send_tools_and_fill_the_tool_calls_field() {
    let lm = Arc::new(
        ScriptedLm::new(["[[ ## answer ## ]]\nLet me add.\n\n[[ ## completed ## ]]"])
            .with_tool_calls([vec![call("add", r#"{"a": 2}"#)]]),
    );
    let adapter = ChatAdapter
        .native_function_calling(true)
        .tool_choice(ToolChoice::Function("add".into()));
    let ctx = Ctx::new(lm.clone()).with_adapter(adapter);
    let p = predict();
    let out = p.call(&ctx, inputs()).await.unwrap();
    assert_eq!(out.get_str("answer").as_deref(), Some("Let me add."));
    assert_eq!(
        out.get("calls").unwrap(),
        &json!({"tool_calls": [{"id": "call_7", "name": "add", "args": {"a": 2}}]})
    );
    let req = &lm.requests()[0];
    assert_eq!(req.tools.len(), 1);
    assert_eq!(req.tools[0].name, "add");
    assert_eq!(req.tool_choice, Some(ToolChoice::Function("add".into())));
    let all: String = req.messages.iter().map(|m| m.content.as_str()).collect();
    // The instructions still name both fields, as DSPy keeps them.
    assert!(
        !all.contains("[[ ## tools ## ]]") && !all.contains("[[ ## calls ## ]]"),
        "{all}"
    );

    // The same predictor with an LM that takes no tools lists them as text: the cached
    // prompt prefix of the native call is not reused.
    let text_lm = Arc::new(ScriptedLm::new([
        "[[ ## answer ## ]]\n4\n\n[[ ## calls ## ]]\n[]\n\n[[ ## completed ## ]]",
    ]));
    let text_ctx =
        Ctx::new(text_lm.clone()).with_adapter(ChatAdapter.native_function_calling(true));
    let out = p.call(&text_ctx, inputs()).await.unwrap();
    assert_eq!(out.get("calls").unwrap(), &json!({"tool_calls": []}));
    let req = &text_lm.requests()[0];
    assert!(req.tools.is_empty() && req.tool_choice.is_none());
    assert!(req.messages[0].content.contains("`tools` (list[Tool])"));
    assert!(
        req.messages[1]
            .content
            .contains("add, whose description is <desc>Add.</desc>.")
    );
}

#[tokio::test]
async fn the_chat_adapter_lists_tools_as_text_by_default_and_the_json_adapter_does_not() {
    let native_lm = || Arc::new(ScriptedLm::new(["{\"answer\": \"4\"}"]).with_tool_calls([vec![]]));
    let lm = native_lm();
    let chat = Ctx::new(lm.clone())
        .with_adapter(ChatAdapter)
        .with_fallback(FallbackPolicy::Off);
    // The chat format cannot read the JSON answer: the point is what was sent.
    let _ = predict().call(&chat, inputs()).await;
    assert!(lm.requests()[0].tools.is_empty());
    let lm = native_lm();
    let json = Ctx::new(lm.clone()).with_adapter(JsonAdapter);
    let out = predict().call(&json, inputs()).await.unwrap();
    assert_eq!(lm.requests()[0].tools.len(), 1);
    // No tool calls: the field is null, as in DSPy.
    assert_eq!(out.get("calls").unwrap(), &serde_json::Value::Null);
    assert_eq!(lm.requests()[0].messages[0].role, Role::System);
}

#[tokio::test]
async fn bad_tool_arguments_are_a_parse_error_and_the_fallback_stays_native() {
    let lm = Arc::new(
        ScriptedLm::new(["", ""])
            .with_tool_calls([vec![call("add", r#"{"a": "#)], vec![call("add", "[1, 2]")]]),
    );
    let ctx = Ctx::new(lm.clone()).with_adapter(ChatAdapter.native_function_calling(true));
    let err = predict().call(&ctx, inputs()).await.unwrap_err();
    match err {
        ModuleError::Parse { source, .. } => {
            assert!(
                matches!(&source.failure, ParseFailure::BadValue { field, got, .. } if field == "calls" && got == "[1, 2]"),
                "{source:?}"
            );
        }
        other => panic!("{other:?}"),
    }
    let reqs = lm.requests();
    assert_eq!(reqs.len(), 2, "one JSON fallback attempt");
    assert_eq!(reqs[1].tools.len(), 1, "the fallback keeps native tools");
}

#[tokio::test]
async fn tool_calls_without_tools_and_bad_tool_inputs_are_format_errors() {
    let lm = Arc::new(ScriptedLm::new(Vec::<String>::new()).with_tool_calls([]));
    let ctx = Ctx::new(lm.clone()).with_adapter(JsonAdapter);
    let p = Predict::parse("question -> calls: ToolCalls").unwrap();
    let err = p
        .call(&ctx, Example::new().input("question", "q"))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, ModuleError::Format { source: FormatError::ToolCallsWithoutTools { field }, .. } if field == "calls"),
        "{err:?}"
    );
    let bad = Example::new()
        .input("question", "q")
        .input("tools", json!(["add"]));
    let err = predict().call(&ctx, bad).await.unwrap_err();
    assert!(
        matches!(&err, ModuleError::Format { source: FormatError::BadInputType { field, .. }, .. } if field == "tools"),
        "{err:?}"
    );
    assert_eq!(lm.calls(), 0);
}

#[test]
fn tool_outputs_are_refused_by_signatures() {
    assert!(Signature::parse("q -> t: Tool").is_err());
    assert!(Signature::parse("q -> t: list[Tool]").is_err());
}

/// A text-mode `ToolCalls` output can be enforced by a grammar (llama.cpp servers), in
/// the canonical `{"tool_calls": [...]}` form.
#[test]
fn tool_calls_outputs_compile_to_a_grammar() {
    let c = OutputConstraint::ChatFields {
        fields: vec![("calls".into(), FieldType::ToolCalls)],
    };
    let g = crate::lm::gbnf_grammar(&c).unwrap();
    assert!(g.contains("tool_calls"), "{g}");
}

/// As DSPy sends text-mode tool calls with plain JSON mode, the JSON adapter sends no
/// schema for a signature with a `ToolCalls` output.
#[test]
fn text_mode_tool_calls_get_no_json_schema() {
    let structured = ScriptedLm::new(Vec::<String>::new()).with_structured_output();
    let with_calls = Signature::parse("q, tools: list[Tool] -> a, calls: ToolCalls").unwrap();
    assert_eq!(JsonAdapter.constraint(&with_calls, &structured), None);
    let plain = Signature::parse("q -> a").unwrap();
    assert!(JsonAdapter.constraint(&plain, &structured).is_some());
}

#[tokio::test]
async fn the_lm_span_keeps_the_tools_offered_and_the_calls_answered() {
    use crate::trace::{MemorySink, SpanCollector, SpanKind, keys};
    let lm = Arc::new(
        ScriptedLm::new(["[[ ## answer ## ]]\nLet me add.\n\n[[ ## completed ## ]]"])
            .with_tool_calls([vec![call("add", r#"{"a": 2}"#)]]),
    );
    let sink = Arc::new(MemorySink::default());
    let collector = SpanCollector::builder().sink(sink.clone()).build();
    let ctx = Ctx::new(lm)
        .with_adapter(ChatAdapter.native_function_calling(true))
        .with_hook(collector.clone());
    predict().call(&ctx, inputs()).await.unwrap();
    collector.flush();
    let spans = sink.spans();
    let span = spans.iter().find(|s| s.kind == SpanKind::Lm).unwrap();
    let tools: serde_json::Value =
        serde_json::from_str(span.attr_str(keys::LM_TOOLS).unwrap()).unwrap();
    assert_eq!(tools[0]["name"], "add");
    assert_eq!(tools[0]["parameters"]["required"], json!(["a"]));
    let calls: serde_json::Value =
        serde_json::from_str(span.attr_str(keys::LM_TOOL_CALLS).unwrap()).unwrap();
    assert_eq!(
        calls,
        json!([{"id": "call_7", "name": "add", "arguments": "{\"a\": 2}"}])
    );
    let out: serde_json::Value =
        serde_json::from_str(span.attr_str(keys::GEN_AI_OUTPUT_MESSAGES).unwrap()).unwrap();
    assert_eq!(out[0]["tool_calls"][0]["name"], "add");
    // Exported with OpenInference's names.
    let attrs: std::collections::HashMap<String, crate::trace::AttrValue> =
        crate::trace::otlp::vocab::export_attributes(span)
            .into_iter()
            .collect();
    let text = |k: &str| match attrs.get(k) {
        Some(crate::trace::AttrValue::Str(s)) => s.to_string(),
        other => panic!("{k}: {other:?}"),
    };
    assert!(text("llm.tools.0.tool.json_schema").contains("\"function\""));
    let call_at = "llm.output_messages.0.message.tool_calls.0.tool_call";
    assert_eq!(text(&format!("{call_at}.function.name")), "add");
    assert_eq!(text(&format!("{call_at}.function.arguments")), "{\"a\": 2}");
    assert_eq!(text(&format!("{call_at}.id")), "call_7");
}

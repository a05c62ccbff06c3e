//! A ReAct run is one span tree: the ReAct module span, one span per iteration holding
//! the step's `react` predictor and its `TOOL` span (GenAI `execute_tool`, the tool's
//! name, arguments and result), then the `extract` predictor. A tool error ends its
//! span with the error and is the step's observation.

use serde_json::json;
use sigil::module::ReAct;
use sigil::prelude::*;
use sigil::tool::Tool;
use sigil::trace::{SpanKind, keys};
use sigil_testkit::{ScriptedLm, expect};
use trace_support::*;

use crate::trace_support;

fn step(thought: &str, tool: &str, args: serde_json::Value) -> String {
    chat(&[
        ("next_thought", thought),
        ("next_tool_name", tool),
        ("next_tool_args", &args.to_string()),
    ])
}

#[tokio::test]
async fn each_iteration_and_each_tool_call_is_a_span() {
    let (collector, sink) = memory_collector();
    let lm = ScriptedLm::new([
        step("Add.", "add", json!({"a": 2, "b": 40})),
        step("Oops.", "add", json!({"a": 2})),
        step("Done.", "finish", json!({})),
        chat(&[("reasoning", "It is 42."), ("answer", "42")]),
    ]);
    let add = Tool::new(
        "add",
        "Add two integers.",
        json!({"a": {"type": "integer"}, "b": {"type": "integer"}}),
        |a| async move { Ok::<_, String>(a["a"].as_i64().unwrap() + a["b"].as_i64().unwrap()) },
    );
    let react = ReAct::parse("question -> answer", vec![add]).unwrap();
    let ctx = Ctx::new(lm).with_hook(collector.clone());
    let out = react
        .call(&ctx, Example::new().input("question", "2 + 40?"))
        .await
        .unwrap();
    assert_eq!(out.get_str("answer").as_deref(), Some("42"));
    collector.flush();
    let spans = sink.spans();
    assert_well_formed(&spans);
    let tool = |name: &str| {
        expect::span(name)
            .kind(SpanKind::Tool)
            .with_attr(keys::GEN_AI_OPERATION, "execute_tool")
            .with_attr(keys::GEN_AI_TOOL_NAME, name)
    };
    expect::span("ReAct")
        .kind(SpanKind::Module)
        .ok()
        .child(
            expect::span("iteration 0")
                .ok()
                .child(expect::span("react"))
                .child(
                    tool("add")
                        .ok()
                        .with_attr(keys::TOOL_ARGS, r#"{"a":2,"b":40}"#)
                        .with_attr(keys::TOOL_RESULT, "42"),
                ),
        )
        .child(
            expect::span("iteration 1")
                .ok()
                .child(expect::span("react"))
                .child(tool("add").error_containing("missing the required argument b")),
        )
        .child(
            expect::span("iteration 2")
                .child(expect::span("react"))
                .child(
                    tool("finish")
                        .ok()
                        .with_attr(keys::TOOL_RESULT, r#""Completed.""#),
                ),
        )
        .child(expect::span("extract").ok())
        .assert_tree(&spans);
}

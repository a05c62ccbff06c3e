//! ReAct calling a real MCP server's tool: the server's answer is the observation the
//! next step sees, and the tool call is a TOOL span.

use std::sync::Arc;

use serde_json::json;
use sigil::module::{Ctx, Module, ReAct};
use sigil::prelude::Example;
use sigil::trace::{MemorySink, SpanCollector, SpanKind};
use sigil_testkit::{ScriptedLm, chat};

use crate::time_server::time_server;

#[tokio::test]
async fn the_servers_answer_is_the_next_steps_observation() {
    let server = time_server().await;
    let tools = server.tools().await.unwrap();
    let lm = Arc::new(ScriptedLm::new([
        chat(&[
            ("next_thought", "Convert the time."),
            ("next_tool_name", "convert_time"),
            (
                "next_tool_args",
                &json!({"source_timezone": "UTC", "time": "09:30", "target_timezone": "Asia/Kolkata"}).to_string(),
            ),
        ]),
        chat(&[("next_thought", "Done."), ("next_tool_name", "finish"), ("next_tool_args", "{}")]),
        chat(&[("reasoning", "The tool said so."), ("answer", "15:00")]),
    ]));
    let react = ReAct::parse("question -> answer", tools).unwrap();
    let sink = Arc::new(MemorySink::default());
    let collector = SpanCollector::builder().sink(sink.clone()).build();
    let ctx = Ctx::new(lm.clone()).with_hook(collector.clone());
    let out = react
        .call(
            &ctx,
            Example::new().input("question", "09:30 UTC in Kolkata?"),
        )
        .await
        .unwrap();
    let obs = out.get("trajectory").unwrap()["observation_0"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(obs.contains("T15:00:00"), "{obs}");
    let second = &lm.requests()[1].messages[1].content;
    assert!(
        second.contains("T15:00:00"),
        "the next step sees the observation: {second}"
    );
    collector.flush();
    let spans = sink.spans();
    let tool_span = spans
        .iter()
        .find(|s| s.kind == SpanKind::Tool && s.name == "convert_time")
        .expect("a TOOL span for the MCP call");
    assert!(
        tool_span
            .attr_str("sigil.tool.result")
            .is_some_and(|r| r.contains("15:00"))
    );
    server.close().await;
}

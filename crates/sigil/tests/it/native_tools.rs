//! Native tool calling against a real server: llama.cpp (`llama-cpp-python[server]`)
//! serving SmolLM2-135M-Instruct with the `chatml-function-calling` chat format, which
//! takes OpenAI `tools` and answers with `tool_calls`. `scripts/test` starts it and sets
//! `SIGIL_TEST_OPENAI_TOOLS_URL`; without it these tests fail, never skip.
//!
//! The model is tiny, so the tests hold it to the structure (a call of the named tool
//! with a JSON object of arguments), not to what the arguments say.

use std::time::Duration;

use serde_json::Value;
use sigil::adapter::{ChatAdapter, FallbackPolicy, JsonAdapter};
use sigil::lm::{
    Backoff, Lm, LmParams, LmRequest, Message, OpenAiClient, OpenAiConfig, ToolChoice,
};
use sigil::prelude::*;
use sigil::tool::{Tool, ToolCalls, ToolError, specs_of};

fn tools_server_url() -> String {
    std::env::var("SIGIL_TEST_OPENAI_TOOLS_URL").unwrap_or_else(|_| {
        panic!("SIGIL_TEST_OPENAI_TOOLS_URL is not set: run the tests with scripts/test, which starts the llama.cpp tools server")
    })
}

fn client() -> OpenAiClient {
    OpenAiClient::new(
        OpenAiConfig::new("openai/smollm2")
            .base_url(tools_server_url())
            .backoff(Backoff::immediate())
            .timeout(Duration::from_secs(120)),
    )
    .expect("client")
}

fn greedy() -> LmParams {
    LmParams {
        temperature: Some(0.0),
        max_tokens: Some(64),
        seed: Some(0),
        ..Default::default()
    }
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct City {
    /// The city's name.
    city: String,
}

fn weather() -> Tool {
    Tool::from_fn(
        "get_weather",
        "Get the current weather for a city.",
        |c: City| async move { Ok::<_, String>(format!("Sunny in {}", c.city)) },
    )
}

#[tokio::test]
async fn a_request_with_tools_gets_back_a_call_of_the_named_tool() {
    let mut request = LmRequest::new(vec![Message::user("What is the weather in Paris?")]);
    request.params = greedy();
    request.tools = vec![weather().spec()];
    request.tool_choice = Some(ToolChoice::Function("get_weather".into()));
    let response = client().call(request).await.unwrap();
    assert_eq!(response.tool_calls.len(), 1, "{response:?}");
    let call = &response.tool_calls[0];
    assert_eq!(call.name, "get_weather");
    assert!(call.id.as_deref().is_some_and(|id| !id.is_empty()));
    let args = call.args().expect("the arguments are a JSON object");
    assert!(
        args.values().all(|v| !v.is_null()),
        "arguments: {}",
        call.arguments
    );
    assert_eq!(response.finish_reason.as_deref(), Some("tool_calls"));
}

/// A full `Predict` call in native function calling: the tools leave the prompt for the
/// request's `tools`, the server's tool calls fill the `ToolCalls` field, and the
/// program runs them against its tools.
#[tokio::test]
async fn predict_in_native_mode_fills_tool_calls_that_the_program_can_run() {
    let tools = vec![weather()];
    for adapter in [
        std::sync::Arc::new(
            ChatAdapter
                .native_function_calling(true)
                .tool_choice(ToolChoice::Function("get_weather".into())),
        ) as std::sync::Arc<dyn sigil::adapter::Adapter>,
        std::sync::Arc::new(
            JsonAdapter
                .native_function_calling(true)
                .tool_choice(ToolChoice::Function("get_weather".into())),
        ),
    ] {
        let ctx = Ctx::new(client())
            .with_adapter_arc(adapter)
            .with_params(greedy())
            .with_fallback(FallbackPolicy::Off);
        let p = Predict::parse("question, tools: list[Tool] -> tool_calls: ToolCalls").unwrap();
        let out = p
            .call(
                &ctx,
                Example::new()
                    .input("question", "What is the weather in Paris?")
                    .input("tools", specs_of(&tools)),
            )
            .await
            .unwrap();
        assert_eq!(out.lm_calls, 1);
        let calls = ToolCalls::from_value(out.get("tool_calls").expect("the field")).unwrap();
        assert_eq!(calls.tool_calls.len(), 1, "{calls:?}");
        assert_eq!(calls.tool_calls[0].name, "get_weather");
        // Whatever the tiny model wrote, running the call gives a result or a typed error.
        match &calls.execute(&tools).await[0] {
            Ok(Value::String(s)) => assert!(s.starts_with("Sunny in "), "{s}"),
            Ok(other) => panic!("unexpected result {other}"),
            Err(ToolError::MissingArg { .. } | ToolError::InvalidArg { .. }) => {}
            Err(other) => panic!("unexpected error {other}"),
        }
    }
}

use serde_json::json;

use super::super::test_server::{Reply, TestServer};
use super::*;
use crate::lm::{Backoff, LmParams, Message};

const KEY: &str = "sk-ant-SECRET-777";

const OK_BODY: &str = r#"{
    "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-3-5-haiku-20241022",
    "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": " world"}],
    "stop_reason": "max_tokens", "stop_sequence": null,
    "usage": {"input_tokens": 100, "output_tokens": 50, "cache_creation_input_tokens": 20, "cache_read_input_tokens": 1000}
}"#;

fn client(url: &str) -> AnthropicClient {
    AnthropicClient::new(
        AnthropicConfig::new("anthropic/claude-3-5-haiku-latest")
            .base_url(url)
            .api_key(KEY)
            .backoff(Backoff::immediate()),
    )
    .unwrap()
}

#[tokio::test]
async fn request_shape_and_response_parsing() {
    let server = TestServer::start(vec![Reply::json(200, OK_BODY)]).await;
    let lm = client(&server.url());
    let mut req = LmRequest::new(vec![
        Message::system("You are terse."),
        Message::user("Hi"),
        Message::assistant("Hello."),
        Message::system("Answer in English."),
        Message::user("Again"),
    ]);
    req.params = LmParams {
        temperature: Some(0.0),
        stop: vec!["END".into()],
        seed: Some(1),
        ..Default::default()
    };
    let r = lm.call(req).await.unwrap();
    assert_eq!(r.text, "Hello world");
    assert_eq!(r.finish_reason.as_deref(), Some("length"));
    assert_eq!(r.model, "claude-3-5-haiku-20241022");
    assert_eq!(
        (
            r.usage.input_tokens,
            r.usage.output_tokens,
            r.usage.cached_tokens
        ),
        (1120, 50, 1000)
    );
    let expected = (100.0 * 0.80 + 20.0 * 1.00 + 1000.0 * 0.08 + 50.0 * 4.00) / 1e6;
    assert!(
        (r.usage.cost_usd - expected).abs() < 1e-12,
        "{} vs {expected}",
        r.usage.cost_usd
    );

    let reqs = server.requests();
    assert_eq!(reqs[0].path, "/v1/messages");
    assert_eq!(reqs[0].header("x-api-key"), Some(KEY));
    assert_eq!(reqs[0].header("anthropic-version"), Some("2023-06-01"));
    assert!(reqs[0].header("authorization").is_none());
    let body = reqs[0].json();
    assert_eq!(body["model"], "claude-3-5-haiku-latest");
    assert_eq!(body["max_tokens"], 1024);
    assert_eq!(body["system"], "You are terse.\n\nAnswer in English.");
    assert_eq!(
        body["messages"],
        json!([
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "Again"}
        ])
    );
    assert_eq!(body["temperature"], 0.0);
    assert_eq!(body["stop_sequences"], json!(["END"]));
    assert!(body.get("seed").is_none());
    assert!(body.get("tools").is_none() && body.get("tool_choice").is_none());
}

#[tokio::test]
async fn overloaded_529_is_retried_and_base_url_v1_accepted() {
    let server = TestServer::start(vec![
        Reply::json(
            529,
            r#"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
        ),
        Reply::json(200, OK_BODY),
    ])
    .await;
    let lm = client(&format!("{}/v1/", server.url()));
    let mut req = LmRequest::new(vec![Message::user("Hi")]);
    req.params.max_tokens = Some(10);
    let r = lm.call(req).await.unwrap();
    assert_eq!(r.retries, 1);
    let reqs = server.requests();
    assert_eq!(reqs[1].path, "/v1/messages");
    assert_eq!(reqs[1].json()["max_tokens"], 10);
    assert!(reqs[1].json().get("system").is_none());
}

#[tokio::test]
async fn bad_bodies_and_errors() {
    let server = TestServer::start(vec![
        Reply::json(200, "{not json"),
        Reply::json(200, r#"{"type":"error","error":{"message":"bad"}}"#),
        Reply::json(200, r#"{"type":"message"}"#),
        Reply::json(
            400,
            format!(r#"{{"type":"error","error":{{"message":"invalid x-api-key {KEY}"}}}}"#),
        ),
    ])
    .await;
    let lm = client(&server.url());
    let req = LmRequest::new(vec![Message::user("Hi")]);
    for _ in 0..3 {
        let err = lm.call(req.clone()).await.unwrap_err();
        assert!(matches!(err, LmError::BadResponse { .. }), "{err:?}");
    }
    let err = lm.call(req).await.unwrap_err();
    assert!(
        matches!(&err, LmError::Http { status: 400, body, .. } if body == "invalid x-api-key [redacted]")
    );
    assert!(
        lm.call(LmRequest::new(vec![Message::system("only system")]))
            .await
            .is_err()
    );
}

#[test]
fn debug_and_env() {
    let lm = client("http://127.0.0.1:1");
    let dbg = format!("{lm:?} {:?}", lm.config());
    assert!(!dbg.contains(KEY), "{dbg}");
    assert_eq!(lm.model_id(), "anthropic/claude-3-5-haiku-latest");
    let env = |k: &str| (k == "ANTHROPIC_API_KEY").then(|| KEY.to_string());
    let c = AnthropicConfig::from_model_id_with_env("anthropic/claude-sonnet-4-20250514", &env)
        .unwrap();
    assert_eq!(c.model, "claude-sonnet-4-20250514");
    assert!(c.options.api_key.is_some());
    assert!(AnthropicConfig::from_model_id_with_env("anthropic/x", &|_| None).is_err());
}

#[tokio::test]
async fn tools_are_sent_and_tool_use_blocks_read() {
    let reply = r#"{
        "type": "message", "model": "claude-x", "stop_reason": "tool_use",
        "content": [
            {"type": "text", "text": "Let me look."},
            {"type": "tool_use", "id": "toolu_1", "name": "search", "input": {"query": "Paris"}},
            {"type": "tool_use", "id": "toolu_2", "name": "noop", "input": {}}
        ],
        "usage": {"input_tokens": 5, "output_tokens": 7}
    }"#;
    let server = TestServer::start(vec![
        Reply::json(200, reply),
        Reply::json(200, OK_BODY),
        Reply::json(200, OK_BODY),
        Reply::json(200, OK_BODY),
        Reply::json(
            200,
            r#"{"type": "message", "content": [{"type": "tool_use", "id": "t", "input": {}}]}"#,
        ),
    ])
    .await;
    let lm = client(&server.url());
    assert!(lm.supports_native_tools());
    let mut req = LmRequest::new(vec![Message::user("Where?")]);
    req.tools = vec![crate::lm::ToolSpec {
        name: "search".into(),
        description: Some("Search.".into()),
        parameters: json!({"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}),
    }];
    req.tool_choice = Some(ToolChoice::Function("search".into()));
    let r = lm.call(req.clone()).await.unwrap();
    assert_eq!(r.text, "Let me look.");
    assert_eq!(r.finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(r.tool_calls.len(), 2);
    assert_eq!(r.tool_calls[0].id.as_deref(), Some("toolu_1"));
    assert_eq!(r.tool_calls[0].name, "search");
    assert_eq!(r.tool_calls[0].args().unwrap()["query"], "Paris");
    assert!(r.tool_calls[1].args().unwrap().is_empty());

    let body = server.requests()[0].json();
    assert_eq!(
        body["tools"],
        json!([{"name": "search", "description": "Search.",
                "input_schema": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}}])
    );
    assert_eq!(
        body["tool_choice"],
        json!({"type": "tool", "name": "search"})
    );
    for (choice, wire) in [
        (ToolChoice::Auto, json!({"type": "auto"})),
        (ToolChoice::None, json!({"type": "none"})),
        (ToolChoice::Required, json!({"type": "any"})),
    ] {
        req.tool_choice = Some(choice);
        lm.call(req.clone()).await.unwrap();
        assert_eq!(
            server.requests().last().unwrap().json()["tool_choice"],
            wire
        );
    }
    // A tool_use block without a name is a bad response, not a panic.
    let err = lm.call(req).await.unwrap_err();
    assert!(matches!(err, LmError::BadResponse { .. }), "{err:?}");
}

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::super::test_server::{Reply, TestServer, closed_port_url};
use super::*;
use crate::lm::{Backoff, LmParams, Message, ToolChoice, ToolSpec};
use crate::testing::OpenAiBody;

const KEY: &str = "sk-test-SECRET-4242";

/// A full response: the dated model name, usage with cached prompt tokens.
fn ok_body() -> String {
    OpenAiBody::new("Paris")
        .model("gpt-4o-mini-2024-07-18")
        .usage(1000, 200)
        .cached_tokens(400)
        .to_string()
}

fn client(server_url: &str) -> OpenAiClient {
    OpenAiClient::new(
        OpenAiConfig::new("openai/gpt-4o-mini")
            .base_url(format!("{server_url}/v1"))
            .api_key(KEY)
            .backoff(Backoff::immediate())
            .timeout(Duration::from_secs(5)),
    )
    .unwrap()
}

fn request() -> LmRequest {
    LmRequest::new(vec![
        Message::system("Be brief."),
        Message::user("Capital of France?"),
    ])
}

#[tokio::test]
async fn success_parses_text_usage_and_cost() {
    let server = TestServer::start(vec![Reply::json(200, ok_body())]).await;
    let lm = client(&server.url());
    let mut req = request();
    req.params = LmParams {
        temperature: Some(0.2),
        max_tokens: Some(64),
        top_p: Some(0.9),
        stop: vec!["\n\n".into()],
        seed: Some(7),
    };
    let r = lm.call(req).await.unwrap();
    assert_eq!(r.text, "Paris");
    assert_eq!(r.finish_reason.as_deref(), Some("stop"));
    assert_eq!(r.model, "gpt-4o-mini-2024-07-18");
    assert_eq!(
        (
            r.usage.input_tokens,
            r.usage.output_tokens,
            r.usage.cached_tokens
        ),
        (1000, 200, 400)
    );
    let expected = (600.0 * 0.15 + 400.0 * 0.075 + 200.0 * 0.60) / 1e6;
    assert!(
        (r.usage.cost_usd - expected).abs() < 1e-12,
        "{}",
        r.usage.cost_usd
    );
    assert_eq!(r.retries, 0);
    assert!(!r.cache_hit);

    let reqs = server.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].path, "/v1/chat/completions");
    assert_eq!(
        reqs[0].header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    let body = reqs[0].json();
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(
        body["messages"][0],
        json!({"role": "system", "content": "Be brief."})
    );
    assert_eq!(body["messages"][1]["role"], "user");
    assert_eq!(body["temperature"], 0.2);
    assert_eq!(body["max_tokens"], 64);
    assert_eq!(body["top_p"], 0.9);
    assert_eq!(body["stop"], json!(["\n\n"]));
    assert_eq!(body["seed"], 7);
    assert!(body.get("response_format").is_none());
}

#[tokio::test]
async fn json_schema_becomes_response_format() {
    let server = TestServer::start(vec![
        Reply::json(200, ok_body()),
        Reply::json(200, ok_body()),
    ])
    .await;
    let lm = client(&server.url()).with_structured(true);
    let schema = json!({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"], "additionalProperties": false});
    let c = OutputConstraint::JsonSchema {
        name: "QA output!".into(),
        schema: schema.clone(),
    };
    assert!(lm.supports_constraint(&c));
    assert!(!lm.supports_constraint(&OutputConstraint::Choice {
        choices: vec!["a".into()]
    }));
    let mut req = request();
    req.constraint = Some(c);
    lm.call(req.clone()).await.unwrap();
    let body = server.requests()[0].json();
    assert_eq!(
        body["response_format"],
        json!({"type": "json_schema", "json_schema": {"name": "QA_output_", "schema": schema, "strict": true}})
    );
    // Without structured-output support the constraint is not sent.
    let lm = client(&server.url()).with_structured(false);
    assert!(!lm.supports_structured_output());
    lm.call(req).await.unwrap();
    assert!(server.requests()[1].json().get("response_format").is_none());
}

/// On a grammar server without structured output, a JSON schema goes as a grammar, the
/// same one the embedded engine enforces.
#[tokio::test]
async fn json_schema_becomes_a_grammar_without_structured_output() {
    let server = TestServer::start(vec![Reply::json(200, ok_body())]).await;
    let lm = OpenAiClient::new(
        OpenAiConfig::new("openai/llama")
            .base_url(format!("{}/v1", server.url()))
            .grammar(true)
            .structured_output(false)
            .backoff(Backoff::immediate()),
    )
    .unwrap();
    let c = OutputConstraint::JsonSchema {
        name: "n".into(),
        schema: json!({"type": "object", "properties": {"n": {"type": "integer"}}}),
    };
    assert!(lm.supports_constraint(&c));
    let mut req = request();
    req.constraint = Some(c.clone());
    lm.call(req).await.unwrap();
    let body = server.requests()[0].json();
    assert!(body.get("response_format").is_none(), "{body}");
    assert_eq!(body["grammar"], json!(crate::lm::gbnf_grammar(&c).unwrap()));
    assert!(
        body["grammar"]
            .as_str()
            .unwrap()
            .starts_with(r#"root ::= "{" "\"n\": " int "}""#),
        "{body}"
    );
}

impl OpenAiClient {
    fn with_structured(mut self, yes: bool) -> Self {
        self.structured = yes;
        self
    }
}

#[tokio::test]
async fn retries_a_500_then_succeeds() {
    let server = TestServer::start(vec![
        Reply::json(500, r#"{"error":{"message":"boom"}}"#),
        Reply::json(503, "upstream down"),
        Reply::json(200, ok_body()),
    ])
    .await;
    let r = client(&server.url()).call(request()).await.unwrap();
    assert_eq!(r.text, "Paris");
    assert_eq!(r.retries, 2);
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn gives_up_after_max_retries() {
    let server =
        TestServer::start(vec![Reply::json(500, r#"{"error":{"message":"boom"}}"#); 5]).await;
    let lm = OpenAiClient::new(
        OpenAiConfig::new("gpt-4o-mini")
            .base_url(server.url())
            .max_retries(2)
            .backoff(Backoff::immediate()),
    )
    .unwrap();
    let err = lm.call(request()).await.unwrap_err();
    assert!(
        matches!(&err, LmError::Http { status: 500, body, .. } if body == "boom"),
        "{err:?}"
    );
    assert_eq!(server.requests().len(), 3);
}

#[tokio::test]
async fn client_errors_are_not_retried() {
    let body = format!(r#"{{"error":{{"message":"Incorrect API key provided: {KEY}"}}}}"#);
    let server = TestServer::start(vec![Reply::json(401, body)]).await;
    let err = client(&server.url()).call(request()).await.unwrap_err();
    assert!(matches!(err, LmError::Http { status: 401, .. }));
    assert!(
        !err.to_string().contains(KEY),
        "the echoed key is scrubbed: {err}"
    );
    assert!(!format!("{err:?}").contains(KEY));
    assert_eq!(server.requests().len(), 1);
}

#[tokio::test]
async fn honours_retry_after_on_429() {
    let server = TestServer::start(vec![
        Reply::json(429, r#"{"error":{"message":"slow down"}}"#).header("Retry-After", "1"),
        Reply::json(200, ok_body()),
    ])
    .await;
    let start = Instant::now();
    let r = client(&server.url()).call(request()).await.unwrap();
    assert!(
        start.elapsed() >= Duration::from_millis(950),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(r.retries, 1);
}

#[tokio::test]
async fn persistent_429_is_rate_limited() {
    let server = TestServer::start(vec![
        Reply::json(429, "{}").header("retry-after-ms", "1");
        3
    ])
    .await;
    let lm = OpenAiClient::new(
        OpenAiConfig::new("gpt-4o-mini")
            .base_url(server.url())
            .max_retries(2)
            .backoff(Backoff::immediate()),
    )
    .unwrap();
    let err = lm.call(request()).await.unwrap_err();
    assert!(
        matches!(err, LmError::RateLimited { attempts: 3, .. }),
        "{err:?}"
    );
    assert!(err.is_retryable());
}

#[tokio::test]
async fn timeout_is_typed_and_retried() {
    let slow = Reply::json(200, ok_body()).delay(Duration::from_secs(3));
    let server = TestServer::start(vec![slow, Reply::json(200, ok_body())]).await;
    let lm = OpenAiClient::new(
        OpenAiConfig::new("gpt-4o-mini")
            .base_url(server.url())
            .timeout(Duration::from_millis(300))
            .backoff(Backoff::immediate()),
    )
    .unwrap();
    let r = lm.call(request()).await.unwrap();
    assert_eq!(r.retries, 1, "the timed-out attempt was retried");

    let server = TestServer::start(vec![
        Reply::json(200, ok_body()).delay(Duration::from_secs(3)),
    ])
    .await;
    let lm = OpenAiClient::new(
        OpenAiConfig::new("gpt-4o-mini")
            .base_url(server.url())
            .timeout(Duration::from_millis(200))
            .max_retries(0),
    )
    .unwrap();
    let err = lm.call(request()).await.unwrap_err();
    assert!(
        matches!(err, LmError::Timeout { after, .. } if after == Duration::from_millis(200)),
        "{err:?}"
    );
}

#[tokio::test]
async fn connection_refused_is_typed_after_retries() {
    let url = closed_port_url().await;
    let lm = OpenAiClient::new(
        OpenAiConfig::new("gpt-4o-mini")
            .base_url(url)
            .api_key(KEY)
            .max_retries(2)
            .backoff(Backoff::immediate()),
    )
    .unwrap();
    let err = lm.call(request()).await.unwrap_err();
    assert!(matches!(err, LmError::Connection { .. }), "{err:?}");
    assert!(!err.to_string().contains(KEY));
}

#[tokio::test]
async fn malformed_bodies_are_typed_errors() {
    let server = TestServer::start(vec![
        Reply::json(200, r#"{"choices": [{"message": {"content": "cut off"#),
        Reply::json(200, r#"{"choices": []}"#),
        Reply::json(200, "<html>not json</html>"),
        Reply::json(200, r#"{"choices": "nope"}"#),
        Reply::json(200, r#"{"error": {"message": "overloaded"}}"#),
        Reply::json(
            200,
            r#"{"choices": [{"message": {"content": null, "refusal": "I can't"}}]}"#,
        ),
    ])
    .await;
    let lm = client(&server.url());
    for _ in 0..6 {
        let err = lm.call(request()).await.unwrap_err();
        assert!(matches!(err, LmError::BadResponse { .. }), "{err:?}");
        assert!(!err.is_retryable());
    }
}

#[tokio::test]
async fn sparse_compatible_server_responses_parse() {
    // llama.cpp / Ollama style: no usage details, no model, content parts.
    let server = TestServer::start(vec![
        Reply::json(200, r#"{"choices": [{"message": {"content": "hi"}}]}"#),
        Reply::json(200, r#"{"choices": [{"message": {"content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}}],
                              "usage": {"prompt_tokens": 3, "completion_tokens": 2, "prompt_tokens_details": null}}"#),
    ])
    .await;
    let lm =
        OpenAiClient::new(OpenAiConfig::new("openai/local-model").base_url(server.url())).unwrap();
    let r = lm.call(request()).await.unwrap();
    assert_eq!(
        (r.text.as_str(), r.model.as_str(), r.usage),
        ("hi", "local-model", Usage::default())
    );
    let r = lm.call(request()).await.unwrap();
    assert_eq!(r.text, "ab");
    assert_eq!(
        (
            r.usage.input_tokens,
            r.usage.output_tokens,
            r.usage.cost_usd
        ),
        (3, 2, 0.0)
    );
    assert!(
        server.requests()[0].header("authorization").is_none(),
        "no key, no header"
    );
}

#[tokio::test]
async fn concurrency_is_limited() {
    let replies: Vec<Reply> = (0..6)
        .map(|_| Reply::json(200, ok_body()).delay(Duration::from_millis(150)))
        .collect();
    let server = TestServer::start(replies).await;
    let lm = Arc::new(
        OpenAiClient::new(
            OpenAiConfig::new("gpt-4o-mini")
                .base_url(server.url())
                .max_concurrency(2),
        )
        .unwrap(),
    );
    let start = Instant::now();
    let tasks: Vec<_> = (0..6)
        .map(|_| {
            let lm = lm.clone();
            tokio::spawn(async move { lm.call(request()).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    // 6 calls of 150 ms, 2 at a time: at least 3 rounds.
    assert!(
        start.elapsed() >= Duration::from_millis(440),
        "{:?}",
        start.elapsed()
    );
}

#[test]
fn debug_has_no_secret() {
    let lm = OpenAiClient::new(OpenAiConfig::new("openai/gpt-4o-mini").api_key(KEY)).unwrap();
    let dbg = format!("{lm:?} {:?}", lm.config());
    assert!(!dbg.contains(KEY), "{dbg}");
    assert!(dbg.contains("gpt-4o-mini"));
}

#[test]
fn defaults_and_env() {
    let lm = OpenAiClient::new(OpenAiConfig::new("openai/gpt-4o-mini")).unwrap();
    assert!(lm.supports_structured_output());
    assert_eq!(lm.token_param, TokenLimitParam::MaxTokens);
    let lm = OpenAiClient::new(OpenAiConfig::new("openai/o3-mini")).unwrap();
    assert_eq!(lm.token_param, TokenLimitParam::MaxCompletionTokens);
    let lm =
        OpenAiClient::new(OpenAiConfig::new("openai/o3-mini").base_url("http://localhost:8000/v1"))
            .unwrap();
    assert_eq!(lm.token_param, TokenLimitParam::MaxTokens);
    assert!(!lm.supports_structured_output());

    let env = |k: &str| match k {
        "OPENAI_API_KEY" => Some(KEY.to_string()),
        "OPENAI_BASE_URL" => Some("http://a:1/v1".to_string()),
        "SIGIL_OPENAI_BASE_URL" => Some("http://b:2/v1/".to_string()),
        "SIGIL_OPENAI_STRUCTURED_OUTPUT" => Some("true".to_string()),
        _ => None,
    };
    let c = OpenAiConfig::from_model_id_with_env("openai/meta-llama/Llama-3.1-8B", &env).unwrap();
    assert_eq!(c.model, "meta-llama/Llama-3.1-8B");
    assert_eq!(c.endpoint(), "http://b:2/v1/");
    assert_eq!(c.structured_output, Some(true));
    let lm = OpenAiClient::new(c).unwrap();
    assert_eq!(lm.url, "http://b:2/v1/chat/completions");
    assert_eq!(lm.model_id(), "openai/meta-llama/Llama-3.1-8B");

    assert!(OpenAiClient::new(OpenAiConfig::new("x").base_url("not a url")).is_err());
    assert!(OpenAiClient::new(OpenAiConfig::new("x").base_url("ftp://h/v1")).is_err());
    assert!(OpenAiClient::new(OpenAiConfig::new("x").timeout(Duration::ZERO)).is_err());
    assert!(OpenAiClient::new(OpenAiConfig::new("x").api_key("bad\nkey")).is_err());
}

#[test]
fn schema_names_are_sanitized() {
    assert_eq!(schema_name("a b/c"), "a_b_c");
    assert_eq!(schema_name(""), "output");
    assert_eq!(schema_name(&"x".repeat(100)).len(), 64);
}

fn tool_request() -> LmRequest {
    let mut req = request();
    req.tools = vec![ToolSpec {
        name: "search".into(),
        description: Some("Search the web.".into()),
        parameters: serde_json::json!({
            "type": "object",
            "properties": {"query": {"type": "string"}},
            "required": ["query"]
        }),
    }];
    req.tool_choice = Some(ToolChoice::Function("search".into()));
    req
}

#[tokio::test]
async fn tools_and_tool_choice_are_sent_and_tool_calls_read() {
    let reply = r#"{"model": "m", "choices": [{"finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": null,
        "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "search", "arguments": "{\"query\": \"Paris\"}"}},
            {"id": "call_2", "type": "function", "function": {"name": "search", "arguments": {"query": "Lyon"}}},
            {"type": "function", "function": {"name": "search", "arguments": "{\"query\": "}}
        ]}}]}"#;
    let server =
        TestServer::start(vec![Reply::json(200, reply), Reply::json(200, ok_body())]).await;
    let lm = client(&server.url());
    assert!(lm.supports_native_tools());
    let r = lm.call(tool_request()).await.unwrap();
    assert_eq!(r.text, "");
    assert_eq!(r.finish_reason.as_deref(), Some("tool_calls"));
    assert_eq!(r.tool_calls.len(), 3);
    assert_eq!(r.tool_calls[0].id.as_deref(), Some("call_1"));
    assert_eq!(r.tool_calls[0].name, "search");
    assert_eq!(r.tool_calls[0].args().unwrap()["query"], "Paris");
    // An object instead of a JSON string (some compatible servers) is written out.
    assert_eq!(r.tool_calls[1].args().unwrap()["query"], "Lyon");
    // Cut-off arguments are kept as sent; reading them is a typed error.
    assert_eq!(r.tool_calls[2].id, None);
    assert_eq!(r.tool_calls[2].arguments, "{\"query\": ");
    assert!(r.tool_calls[2].args().is_err());

    let body = server.requests()[0].json();
    assert_eq!(
        body["tools"],
        serde_json::json!([{"type": "function", "function": {
            "name": "search",
            "description": "Search the web.",
            "parameters": {"type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}
        }}])
    );
    assert_eq!(
        body["tool_choice"],
        serde_json::json!({"type": "function", "function": {"name": "search"}})
    );

    // Without tools, neither key is sent.
    lm.call(request()).await.unwrap();
    let body = server.requests()[1].json();
    assert!(body.get("tools").is_none() && body.get("tool_choice").is_none());
}

#[tokio::test]
async fn tool_choice_words_and_bad_tool_calls() {
    let server = TestServer::start(vec![
        Reply::json(200, ok_body()),
        Reply::json(200, ok_body()),
        Reply::json(200, ok_body()),
        Reply::json(
            200,
            r#"{"choices": [{"message": {"content": null, "tool_calls": [{"function": {"arguments": "{}"}}]}}]}"#,
        ),
        Reply::json(
            200,
            r#"{"choices": [{"message": {"content": null, "tool_calls": "search"}}]}"#,
        ),
    ])
    .await;
    let lm = client(&server.url());
    for (choice, wire) in [
        (ToolChoice::Auto, "auto"),
        (ToolChoice::None, "none"),
        (ToolChoice::Required, "required"),
    ] {
        let mut req = tool_request();
        req.tool_choice = Some(choice);
        lm.call(req).await.unwrap();
        assert_eq!(
            server.requests().last().unwrap().json()["tool_choice"],
            wire
        );
    }
    for _ in 0..2 {
        let err = lm.call(tool_request()).await.unwrap_err();
        assert!(matches!(err, LmError::BadResponse { .. }), "{err:?}");
    }
}

//! `sigil serve` answers OpenAI-style requests with the embedded model: the core's own
//! `OpenAiClient` drives it through `Predict`, streaming sends SSE chunks that add up to
//! the non-streamed answer, and a busy port is one clear error line.
//!
//! Needs the SmolLM2 GGUF named by `SIGIL_TEST_MODEL` (scripts/test fetches it and
//! exports the path); without it these tests fail, never skip.

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::time::Duration;

use serde_json::{Value, json};
use sigil::adapter::{FallbackPolicy, JsonAdapter};
use sigil::lm::{Backoff, LmParams, OpenAiClient, OpenAiConfig, WithClientOptions};
use sigil::prelude::*;

fn model_path() -> String {
    let p = std::env::var("SIGIL_TEST_MODEL").unwrap_or_else(|_| {
        panic!("SIGIL_TEST_MODEL is not set: run the tests with scripts/test, which fetches the SmolLM2 GGUF")
    });
    assert!(
        std::path::Path::new(&p).is_file(),
        "SIGIL_TEST_MODEL={p} does not exist: run scripts/test to fetch it"
    );
    p
}

/// A running `sigil serve` on a free port; killed when dropped.
struct Server {
    child: Child,
    base: String,
    /// Kept open: the server's stdout must not hit a closed pipe.
    _stdout: BufReader<std::process::ChildStdout>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Server {
    let mut child = crate::sigil_cli()
        .args(["serve", "--model", &model_path(), "--port", "0"])
        .into_command()
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start sigil serve");
    let mut line = String::new();
    let mut stdout = BufReader::new(child.stdout.take().expect("stdout"));
    stdout.read_line(&mut line).expect("read the ready line");
    let Some(url) = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .map(str::to_string)
    else {
        let _ = child.kill();
        let out = child.wait_with_output().expect("wait");
        panic!(
            "sigil serve did not start: {line:?}; stderr: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    Server {
        child,
        base: url,
        _stdout: stdout,
    }
}

fn client(base: &str) -> OpenAiClient {
    let config = OpenAiConfig::new("openai/smollm2")
        .base_url(base)
        .structured_output(true)
        .backoff(Backoff::immediate())
        .timeout(Duration::from_secs(300));
    OpenAiClient::new(config).expect("client")
}

fn greedy() -> LmParams {
    LmParams {
        temperature: Some(0.0),
        max_tokens: Some(48),
        seed: Some(0),
        ..Default::default()
    }
}

#[tokio::test]
async fn predict_through_the_chat_adapter_with_usage_and_prefix_reuse() {
    let server = start();
    let ctx = Ctx::new(client(&server.base))
        .with_params(greedy())
        .with_fallback(FallbackPolicy::Json { retries: 1 });
    let p = Predict::parse("question -> answer").unwrap();
    let first = p
        .call(
            &ctx,
            Example::new().input("question", "What is the capital of France?"),
        )
        .await
        .expect("a parsed prediction");
    assert!(first.get_str("answer").is_some(), "{first:?}");
    // Either the chat format parsed, or the JSON fallback (enforced by the server's
    // response_format support) did, and was counted.
    assert_eq!(first.lm_calls, 1 + first.fallbacks);
    assert!(first.usage.input_tokens > 50, "{:?}", first.usage);
    assert!(first.usage.output_tokens > 0, "{:?}", first.usage);
    // Same system prompt: the engine's prefix cache serves it and says so.
    let second = p
        .call(
            &ctx,
            Example::new().input("question", "What is the capital of Italy?"),
        )
        .await
        .expect("a parsed prediction");
    assert!(second.usage.cached_tokens > 50, "{:?}", second.usage);
}

#[tokio::test]
async fn json_schema_response_format_is_enforced() {
    let server = start();
    let ctx = Ctx::new(client(&server.base))
        .with_adapter(JsonAdapter)
        .with_params(greedy());
    let p = Predict::parse("question -> answer: int, confident: bool").unwrap();
    let out = p
        .call(
            &ctx,
            Example::new().input("question", "How many legs does a cat have?"),
        )
        .await
        .expect("the constrained answer parses");
    assert!(out.get("answer").is_some_and(Value::is_i64), "{out:?}");
    assert!(
        out.get("confident").is_some_and(Value::is_boolean),
        "{out:?}"
    );
    assert_eq!(out.fallbacks, 0);
}

/// Reads a `text/event-stream` body: the JSON of every `data:` event, and whether the
/// stream ended with `data: [DONE]`.
async fn read_events(mut resp: reqwest::Response) -> (Vec<Value>, bool) {
    let mut buf = String::new();
    while let Some(chunk) = resp.chunk().await.expect("stream chunk") {
        buf.push_str(std::str::from_utf8(&chunk).expect("utf-8 events"));
    }
    let mut events = Vec::new();
    let mut done = false;
    for block in buf.split("\n\n").filter(|b| !b.trim().is_empty()) {
        let data = block
            .strip_prefix("data: ")
            .unwrap_or_else(|| panic!("not an SSE data event: {block:?}"));
        assert!(!done, "events after [DONE]");
        if data == "[DONE]" {
            done = true;
        } else {
            events.push(serde_json::from_str(data).expect("event JSON"));
        }
    }
    (events, done)
}

#[tokio::test]
async fn streaming_chunks_add_up_to_the_plain_answer() {
    let server = start();
    let http = reqwest::Client::new();
    let url = format!("{}/chat/completions", server.base);
    let body = |stream: bool| {
        json!({
            "model": "smollm2",
            "messages": [{"role": "user", "content": "Write two sentences about the sea."}],
            "temperature": 0,
            "max_tokens": 40,
            "stream": stream,
            "stream_options": {"include_usage": true},
        })
    };
    let plain: Value = http
        .post(&url)
        .json(&body(false))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON");
    let want = plain["choices"][0]["message"]["content"]
        .as_str()
        .expect("content");
    assert!(!want.is_empty(), "{plain}");

    let resp = http
        .post(&url)
        .json(&body(true))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let (events, done) = read_events(resp).await;
    assert!(done, "the stream ends with data: [DONE]");
    let pieces: Vec<&str> = events
        .iter()
        .filter_map(|e| e["choices"][0]["delta"]["content"].as_str())
        .filter(|s| !s.is_empty())
        .collect();
    assert!(pieces.len() >= 2, "streamed in pieces: {pieces:?}");
    assert_eq!(pieces.concat(), want);
    assert!(
        events
            .iter()
            .all(|e| e["object"] == "chat.completion.chunk")
    );
    assert!(
        events
            .iter()
            .any(|e| e["choices"][0]["finish_reason"].is_string()),
        "a chunk carries the finish reason"
    );
    let usage = events
        .iter()
        .find_map(|e| e.get("usage"))
        .expect("a usage chunk");
    assert_eq!(
        usage["completion_tokens"],
        plain["usage"]["completion_tokens"]
    );
    assert!(usage["prompt_tokens_details"]["cached_tokens"].as_u64() > Some(0));

    let models: Value = http
        .get(format!("{}/models", server.base))
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON");
    assert_eq!(models["data"][0]["id"], plain["model"]);
}

#[tokio::test]
async fn bad_requests_are_openai_style_errors() {
    let server = start();
    let resp = reqwest::Client::new()
        .post(format!("{}/chat/completions", server.base))
        .json(&json!({"messages": [{"role": "user", "content": "hi"}], "n": 3}))
        .send()
        .await
        .expect("request");
    assert_eq!(resp.status(), 400);
    let v: Value = resp.json().await.expect("JSON");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("n = 1"),
        "{v}"
    );
}

#[test]
fn a_busy_port_is_one_clear_error() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let out = crate::sigil_cli()
        .args(["serve", "--model", &model_path(), "--port", &port])
        .run();
    assert_eq!(out.status.code(), Some(1));
    let err = out.stderr.as_str();
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains(&format!("cannot listen on 127.0.0.1:{port}")) && err.contains("--port"),
        "{err}"
    );
}

#[test]
fn a_missing_model_file_is_one_clear_error() {
    let out = crate::sigil_cli()
        .args(["serve", "--model", "/nonexistent/model.gguf", "--port", "0"])
        .run();
    assert_eq!(out.status.code(), Some(1));
    let err = out.stderr.as_str();
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("model file not found: /nonexistent/model.gguf"),
        "{err}"
    );
}

//! Integration tests against a real OpenAI-compatible server: llama.cpp's (from
//! `llama-cpp-python[server]`) serving SmolLM2-135M-Instruct. `scripts/test` starts it
//! and sets `SIGIL_TEST_OPENAI_BASE_URL`; without it these tests fail, never skip.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use sigil::adapter::{FallbackPolicy, JsonAdapter};
use sigil::lm::{
    Backoff, CachedLm, Lm, LmParams, LmRequest, Message, OpenAiClient, OpenAiConfig,
    ResponseFormatStyle,
};
use sigil::prelude::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

fn server_url() -> String {
    std::env::var("SIGIL_TEST_OPENAI_BASE_URL").unwrap_or_else(|_| {
        panic!("SIGIL_TEST_OPENAI_BASE_URL is not set: run the tests with scripts/test, which starts the llama.cpp server")
    })
}

fn client(base_url: &str) -> OpenAiClient {
    let config = OpenAiConfig::new("openai/smollm2")
        .base_url(base_url)
        .structured_output(true)
        .response_format_style(ResponseFormatStyle::JsonObjectWithSchema)
        .backoff(Backoff::immediate())
        .timeout(Duration::from_secs(120));
    OpenAiClient::new(config).expect("client")
}

fn greedy() -> LmParams {
    LmParams {
        temperature: Some(0.0),
        max_tokens: Some(64),
        seed: Some(0),
        ..Default::default()
    }
}

#[tokio::test]
async fn predict_end_to_end_with_usage() {
    let ctx = Ctx::new(client(&server_url()))
        .with_adapter(JsonAdapter)
        .with_params(greedy());
    let p = Predict::parse("question -> answer").unwrap();
    let out = p
        .call(
            &ctx,
            Example::new().input("question", "What is the capital of France?"),
        )
        .await
        .unwrap();
    let answer = out.get_str("answer").expect("answer field");
    assert!(!answer.trim().is_empty(), "empty answer");
    assert_eq!(out.lm_calls, 1);
    assert!(
        out.usage.input_tokens > 50,
        "prompt tokens reported: {:?}",
        out.usage
    );
    assert!(
        out.usage.output_tokens > 0,
        "completion tokens reported: {:?}",
        out.usage
    );
}

#[tokio::test]
async fn chat_adapter_call_parses_or_falls_back_visibly() {
    let ctx = Ctx::new(client(&server_url()))
        .with_params(greedy())
        .with_fallback(FallbackPolicy::Json { retries: 1 });
    let p = Predict::parse("question -> answer").unwrap();
    let out = p
        .call(
            &ctx,
            Example::new().input("question", "Name a primary colour."),
        )
        .await
        .unwrap();
    assert!(out.get_str("answer").is_some());
    // Either the chat format parsed first time, or the fallback was used and counted.
    assert_eq!(out.lm_calls, 1 + out.fallbacks);
}

/// A one-shot HTTP proxy in front of the real server that answers the first
/// `fail_first` requests with 503 and forwards the rest.
async fn flaky_proxy(upstream: String, fail_first: usize) -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    let http = reqwest::Client::new();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let (upstream, http) = (upstream.clone(), http.clone());
            tokio::spawn(async move {
                let Some((path, body)) = read_request(&mut sock).await else {
                    return;
                };
                let (status, reply) = if n < fail_first {
                    (503, br#"{"error":{"message":"injected failure"}}"#.to_vec())
                } else {
                    let url = format!("{}{}", upstream.trim_end_matches("/v1"), path);
                    match http
                        .post(url)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await
                    {
                        Ok(r) => (
                            r.status().as_u16(),
                            r.bytes().await.map(|b| b.to_vec()).unwrap_or_default(),
                        ),
                        Err(_) => (502, b"{}".to_vec()),
                    }
                };
                let head = format!(
                    "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                    reply.len()
                );
                let _ = sock.write_all(head.as_bytes()).await;
                let _ = sock.write_all(&reply).await;
            });
        }
    });
    (format!("http://{addr}/v1"), seen)
}

async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_string();
            let path = head.split_whitespace().nth(1)?.to_string();
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse().ok())
                })
                .flatten()
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = sock.read(&mut chunk).await.ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some((path, buf[end + 4..end + 4 + len].to_vec()));
        }
    }
}

fn request(q: &str) -> LmRequest {
    LmRequest {
        messages: vec![Message::user(q)],
        params: greedy(),
        ..Default::default()
    }
}

#[tokio::test]
async fn retries_after_a_server_side_failure() {
    let (url, seen) = flaky_proxy(server_url(), 1).await;
    let lm = client(&url);
    let resp = lm.call(request("Say hello.")).await.unwrap();
    assert_eq!(resp.retries, 1, "one retry after the injected 503");
    assert_eq!(seen.load(Ordering::SeqCst), 2);
    assert!(!resp.text.is_empty());
    assert!(resp.usage.output_tokens > 0);
}

#[tokio::test]
async fn a_repeated_request_is_a_cache_hit() {
    let (url, seen) = flaky_proxy(server_url(), 0).await;
    let dir = tempfile::tempdir().unwrap();
    let lm = CachedLm::in_dir(Arc::new(client(&url)), dir.path()).unwrap();
    let first = lm.call(request("Count to three.")).await.unwrap();
    assert!(!first.cache_hit);
    let second = lm.call(request("Count to three.")).await.unwrap();
    assert!(second.cache_hit);
    assert_eq!(second.text, first.text);
    assert_eq!(second.usage.cost_usd, 0.0);
    assert_eq!(
        seen.load(Ordering::SeqCst),
        1,
        "the repeat never reached the server"
    );

    // It survives a restart: a new cache over the same directory still hits.
    let again = CachedLm::in_dir(Arc::new(client(&url)), dir.path()).unwrap();
    assert!(
        again
            .call(request("Count to three."))
            .await
            .unwrap()
            .cache_hit
    );
    // A fresh rollout id asks for a new sample.
    let mut fresh = request("Count to three.");
    fresh.rollout_id = Some(1);
    assert!(!again.call(fresh).await.unwrap().cache_hit);
    assert_eq!(seen.load(Ordering::SeqCst), 2);
}

fn grammar_client(base_url: &str) -> OpenAiClient {
    let config = OpenAiConfig::new("openai/smollm2")
        .base_url(base_url)
        .grammar(true)
        .backoff(Backoff::immediate())
        .timeout(Duration::from_secs(120));
    OpenAiClient::new(config).expect("client")
}

/// A ctx on the grammar client: greedy, room for typed fields, no fallback call.
fn grammar_ctx() -> Ctx {
    Ctx::new(grammar_client(&server_url()))
        .with_params(LmParams {
            max_tokens: Some(120),
            ..greedy()
        })
        .with_fallback(FallbackPolicy::Off)
}

/// The `year: int`, `sure: bool` and `tags: list[str]` outputs came back typed.
fn assert_typed_year_sure_tags(out: &Prediction) {
    assert!(
        out.get("year").and_then(|v| v.as_i64()).is_some(),
        "{out:?}"
    );
    assert!(
        out.get("sure").and_then(|v| v.as_bool()).is_some(),
        "{out:?}"
    );
    assert!(
        out.get("tags").and_then(|v| v.as_array()).is_some(),
        "{out:?}"
    );
}

/// With `grammar(true)` the ChatAdapter's format is sent as a GBNF grammar, and the
/// server's completion parses first time, typed fields included, with no fallback call.
#[tokio::test]
async fn a_grammar_makes_the_server_follow_the_chat_format() {
    let ctx = grammar_ctx();
    let p = Predict::parse(
        "question -> answer, confidence: float, year: int, sure: bool, kind: enum[city, country, river], tags: list[str]",
    )
    .unwrap();
    for q in [
        "What is the capital of France?",
        "Which river flows through Cairo?",
    ] {
        let out = p
            .call(&ctx, Example::new().input("question", q))
            .await
            .unwrap_or_else(|e| panic!("{q}: {e}"));
        assert_eq!((out.lm_calls, out.fallbacks), (1, 0), "{q}");
        assert!(!out.get_str("answer").unwrap_or_default().trim().is_empty());
        assert!(
            out.get("confidence").and_then(|v| v.as_f64()).is_some(),
            "{out:?}"
        );
        assert_typed_year_sure_tags(&out);
        let kind = out.get_str("kind").unwrap_or_default();
        assert!(
            ["city", "country", "river"].contains(&kind.as_str()),
            "{kind}"
        );
    }
}

/// Without structured output, a JSON adapter's schema is sent as a grammar (the one the
/// embedded engine enforces), and the server's JSON parses first time, typed.
#[tokio::test]
async fn a_json_schema_grammar_makes_the_server_answer_in_the_schema() {
    assert!(!grammar_client(&server_url()).supports_structured_output());
    let ctx = grammar_ctx().with_adapter(JsonAdapter);
    let p = Predict::parse("question -> answer, year: int, sure: bool, tags: list[str]").unwrap();
    let out = p
        .call(
            &ctx,
            Example::new().input("question", "When did the Berlin Wall fall?"),
        )
        .await
        .unwrap();
    assert_eq!((out.lm_calls, out.fallbacks), (1, 0));
    assert_typed_year_sure_tags(&out);
}

/// A `Choice` constraint sent as a grammar: the completion is one of the choices.
#[tokio::test]
async fn a_choice_grammar_yields_one_of_the_choices() {
    let lm = grammar_client(&server_url());
    let choices: Vec<String> = ["card_arrival", "card_linking", "exchange_rate"]
        .map(String::from)
        .to_vec();
    let constraint = sigil::lm::OutputConstraint::Choice {
        choices: choices.clone(),
    };
    assert!(lm.supports_constraint(&constraint));
    let mut req = request("My card has not arrived yet. Which category is this?");
    req.constraint = Some(constraint);
    let resp = lm.call(req).await.unwrap();
    assert!(choices.contains(&resp.text), "{:?}", resp.text);
}

//! `sigil serve`: serve the embedded model over an OpenAI-compatible HTTP API.
//!
//! `POST /v1/chat/completions` (messages, temperature, top_p, seed, max_tokens, stop,
//! n = 1, `response_format` json_schema / json_object enforced while decoding, SSE
//! streaming with `stream: true`) and `GET /v1/models`. Concurrent requests are
//! decoded together in one batch by the engine.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use sigil::lm::{LmRequest, Message, OutputConstraint, Role};
use sigil_local::{Generation, LocalConfig, LocalError, LocalLm};

use crate::exit::Failure;

/// Serve the embedded model over an OpenAI-compatible HTTP API.
#[derive(clap::Args, Clone, Debug)]
pub struct Args {
    /// GGUF model file (default: SmolLM2-135M-Instruct Q4_1 from ~/.cache/sigil/models,
    /// fetched there when missing).
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on (0 picks a free one; the address is printed).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Context length (prompt + answer) per request.
    #[arg(long, default_value_t = 4096)]
    pub ctx: usize,
    /// Concurrent requests decoded together at most.
    #[arg(long, default_value_t = 16)]
    pub max_batch: usize,
}

fn fail(message: String) -> anyhow::Error {
    Failure::new(1, format!("sigil serve: {message}")).into()
}

pub fn run(args: &Args) -> anyhow::Result<()> {
    if let Some(p) = &args.model
        && !p.is_file()
    {
        return Err(fail(format!("model file not found: {}", p.display())));
    }
    // Bind first: a busy port is reported before any model loading.
    let listener = std::net::TcpListener::bind((args.host.as_str(), args.port)).map_err(|e| {
        fail(format!(
            "cannot listen on {}:{}: {e}; pick another --port",
            args.host, args.port
        ))
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| fail(format!("cannot set up the listening socket: {e}")))?;
    let addr = listener
        .local_addr()
        .map_err(|e| fail(format!("cannot read the listening address: {e}")))?;
    let args = args.clone();
    crate::block_on(async move { serve(&args, listener, addr).await })
}

async fn serve(
    args: &Args,
    listener: std::net::TcpListener,
    addr: SocketAddr,
) -> anyhow::Result<()> {
    let config = LocalConfig {
        n_ctx: args.ctx,
        max_batch: args.max_batch,
        ..LocalConfig::default()
    };
    let lm = LocalLm::from_default(args.model.as_deref(), config)
        .await
        .map_err(|e| fail(format!("cannot load the model: {e}")))?;
    let model_id = lm
        .path()
        .file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| lm.model().name.clone());
    let state = Arc::new(AppState {
        lm,
        model_id,
        next_id: AtomicU64::new(1),
    });
    let listener = tokio::net::TcpListener::from_std(listener)
        .map_err(|e| fail(format!("cannot use the listening socket: {e}")))?;
    println!(
        "sigil serve: {} on http://{addr}/v1 ({} kernels)",
        state.model_id,
        sigil_local::simd_level()
    );
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(|e| fail(format!("the server stopped: {e}")))
}

struct AppState {
    lm: LocalLm,
    model_id: String,
    next_id: AtomicU64,
}

type Shared = Arc<AppState>;

fn router(state: Shared) -> Router {
    Router::new()
        .route("/v1/models", get(models))
        .route("/v1/chat/completions", post(chat))
        .fallback(not_found)
        .with_state(state)
}

async fn not_found() -> Response {
    api_error(
        StatusCode::NOT_FOUND,
        "not_found_error",
        "no such endpoint: this server has POST /v1/chat/completions and GET /v1/models",
    )
}

async fn models(State(st): State<Shared>) -> Response {
    axum::Json(json!({
        "object": "list",
        "data": [{"id": st.model_id, "object": "model", "created": 0, "owned_by": "sigil"}],
    }))
    .into_response()
}

/// An OpenAI-style error body.
fn api_error(status: StatusCode, kind: &str, message: &str) -> Response {
    (
        status,
        axum::Json(
            json!({"error": {"message": message, "type": kind, "param": null, "code": null}}),
        ),
    )
        .into_response()
}

fn bad_request(message: &str) -> Response {
    api_error(StatusCode::BAD_REQUEST, "invalid_request_error", message)
}

/// A parsed chat-completions request.
struct ChatCall {
    request: LmRequest,
    stream: bool,
    include_usage: bool,
}

fn parse_role(role: &str) -> Option<Role> {
    match role {
        "system" | "developer" => Some(Role::System),
        "user" => Some(Role::User),
        "assistant" => Some(Role::Assistant),
        _ => None,
    }
}

fn parse_content(v: Option<&Value>, at: usize) -> Result<String, String> {
    match v {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(Value::Array(parts)) => parts
            .iter()
            .enumerate()
            .map(
                |(j, p)| match (p.get("type").and_then(Value::as_str), p.get("text")) {
                    (Some("text"), Some(Value::String(t))) => Ok(t.as_str()),
                    _ => Err(format!(
                        "messages[{at}].content[{j}]: only text parts are supported"
                    )),
                },
            )
            .collect(),
        Some(_) => Err(format!(
            "messages[{at}].content must be a string or a list of text parts"
        )),
    }
}

fn parse_response_format(v: &Value) -> Result<Option<OutputConstraint>, String> {
    match v.get("type").and_then(Value::as_str) {
        None if v.is_null() => Ok(None),
        Some("text") => Ok(None),
        Some("json_object") => Ok(Some(OutputConstraint::JsonSchema {
            name: "json_object".into(),
            schema: v
                .get("schema")
                .cloned()
                .unwrap_or_else(|| json!({"type": "object"})),
        })),
        Some("json_schema") => {
            let js = v
                .get("json_schema")
                .ok_or("response_format.json_schema is missing")?;
            let schema = js
                .get("schema")
                .cloned()
                .ok_or("response_format.json_schema.schema is missing")?;
            let name = js
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("response")
                .to_string();
            Ok(Some(OutputConstraint::JsonSchema { name, schema }))
        }
        _ => {
            Err("response_format.type must be \"text\", \"json_object\" or \"json_schema\"".into())
        }
    }
}

fn parse_call(body: &[u8]) -> Result<ChatCall, String> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| format!("the body is not valid JSON: {e}"))?;
    let obj = v.as_object().ok_or("the body must be a JSON object")?;
    let msgs = obj
        .get("messages")
        .and_then(Value::as_array)
        .ok_or("messages must be a list of messages")?;
    if msgs.is_empty() {
        return Err("messages is empty".into());
    }
    let mut messages = Vec::with_capacity(msgs.len());
    for (i, m) in msgs.iter().enumerate() {
        let role_name = m.get("role").and_then(Value::as_str).unwrap_or("");
        let role = parse_role(role_name).ok_or_else(|| {
            format!(
                "messages[{i}].role {role_name:?} is not supported (system, developer, user, assistant)"
            )
        })?;
        messages.push(Message {
            role,
            content: parse_content(m.get("content"), i)?,
        });
    }
    let mut request = LmRequest::new(messages);
    let num = |k: &str| -> Result<Option<f64>, String> {
        match obj.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(x) => x.as_f64().map(Some).ok_or(format!("{k} must be a number")),
        }
    };
    let p = &mut request.params;
    p.temperature = num("temperature")?;
    if p.temperature.is_some_and(|t| !(0.0..=2.0).contains(&t)) {
        return Err("temperature must be between 0 and 2".into());
    }
    p.top_p = num("top_p")?;
    if p.top_p.is_some_and(|t| !(t > 0.0 && t <= 1.0)) {
        return Err("top_p must be in (0, 1]".into());
    }
    p.seed = match obj.get("seed") {
        None | Some(Value::Null) => None,
        Some(s) => Some(
            s.as_u64()
                .or_else(|| s.as_i64().map(|i| i as u64))
                .ok_or("seed must be an integer")?,
        ),
    };
    for k in ["max_tokens", "max_completion_tokens"] {
        match obj.get(k) {
            None | Some(Value::Null) => {}
            Some(n) => {
                let n = n
                    .as_u64()
                    .filter(|&n| n <= u32::MAX as u64)
                    .ok_or(format!("{k} must be a non-negative integer"))?;
                p.max_tokens = Some(n as u32);
            }
        }
    }
    p.stop = match obj.get("stop") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .map(|s| s.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or("stop must be a string or a list of strings")?,
        Some(_) => return Err("stop must be a string or a list of strings".into()),
    };
    match obj.get("n") {
        None | Some(Value::Null) => {}
        Some(n) if n.as_u64() == Some(1) => {}
        Some(_) => return Err("only n = 1 is supported".into()),
    }
    if let Some(rf) = obj.get("response_format") {
        request.constraint = parse_response_format(rf)?;
    }
    let stream = match obj.get("stream") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err("stream must be true or false".into()),
    };
    let include_usage = obj
        .get("stream_options")
        .and_then(|o| o.get("include_usage"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    Ok(ChatCall {
        request,
        stream,
        include_usage,
    })
}

/// The HTTP status and error type of an engine error: the request's fault or ours.
fn engine_error(e: &LocalError) -> (StatusCode, &'static str) {
    match e {
        LocalError::ContextOverflow { .. } | LocalError::Constraint(_) => {
            (StatusCode::BAD_REQUEST, "invalid_request_error")
        }
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "server_error"),
    }
}

fn usage_json(g: &Generation) -> Value {
    json!({
        "prompt_tokens": g.prompt_tokens,
        "completion_tokens": g.tokens.len(),
        "total_tokens": g.prompt_tokens + g.tokens.len(),
        "prompt_tokens_details": {"cached_tokens": g.cached_tokens},
    })
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn chat(State(st): State<Shared>, body: Bytes) -> Response {
    let call = match parse_call(&body) {
        Ok(c) => c,
        Err(m) => return bad_request(&m),
    };
    let id = format!("chatcmpl-{}", st.next_id.fetch_add(1, Ordering::Relaxed));
    if call.stream {
        return stream_chat(st, call, id);
    }
    match st.lm.complete(call.request, None).await {
        Ok(g) => axum::Json(json!({
            "id": id,
            "object": "chat.completion",
            "created": now_secs(),
            "model": st.model_id,
            "choices": [{
                "index": 0,
                "message": {"role": "assistant", "content": g.text},
                "logprobs": null,
                "finish_reason": g.finish_reason,
            }],
            "usage": usage_json(&g),
        }))
        .into_response(),
        Err(e) => {
            let (status, kind) = engine_error(&e);
            api_error(status, kind, &e.to_string())
        }
    }
}

/// `text/event-stream` of `chat.completion.chunk` events, then `data: [DONE]`.
fn stream_chat(st: Shared, call: ChatCall, id: String) -> Response {
    let (events, rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let created = now_secs();
    let (model_id, usage_id) = (st.model_id.clone(), id.clone());
    let chunk = move |delta: Value, finish: Option<&str>| -> String {
        let c = json!({
            "id": id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model_id,
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        format!("data: {c}\n\n")
    };
    tokio::spawn(async move {
        let _ = events.send(chunk(json!({"role": "assistant", "content": ""}), None));
        let (deltas, mut drx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let work = tokio::spawn({
            let st = st.clone();
            async move { st.lm.complete(call.request, Some(deltas)).await }
        });
        // The deltas end when the engine drops the sequence (finished or refused).
        while let Some(d) = drx.recv().await {
            let _ = events.send(chunk(json!({"content": d}), None));
        }
        match work.await {
            Ok(Ok(g)) => {
                let _ = events.send(chunk(json!({}), Some(g.finish_reason)));
                if call.include_usage {
                    let u = json!({
                        "id": usage_id,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": st.model_id,
                        "choices": [],
                        "usage": usage_json(&g),
                    });
                    let _ = events.send(format!("data: {u}\n\n"));
                }
            }
            Ok(Err(e)) => {
                let (_, kind) = engine_error(&e);
                let err = json!({"error": {"message": e.to_string(), "type": kind, "param": null, "code": null}});
                let _ = events.send(format!("data: {err}\n\n"));
            }
            Err(e) => {
                let err = json!({"error": {"message": format!("generation task failed: {e}"), "type": "server_error", "param": null, "code": null}});
                let _ = events.send(format!("data: {err}\n\n"));
            }
        }
        let _ = events.send("data: [DONE]\n\n".to_string());
    });
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|s| (Ok::<_, Infallible>(s), rx))
    });
    (
        [
            (header::CONTENT_TYPE, "text/event-stream"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_openai_fields() {
        let c = parse_call(
            br#"{"model":"x","messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],
                "temperature":0.5,"top_p":0.9,"seed":7,"max_tokens":12,"stop":"\n\n","n":1,"stream":true,
                "stream_options":{"include_usage":true},
                "response_format":{"type":"json_schema","json_schema":{"name":"r","schema":{"type":"object","properties":{"a":{"type":"integer"}}}}}}"#,
        )
        .unwrap();
        let r = &c.request;
        assert_eq!(r.messages[1].content, "ab");
        assert_eq!(r.messages[0].role, Role::System);
        assert_eq!(r.params.temperature, Some(0.5));
        assert_eq!(r.params.top_p, Some(0.9));
        assert_eq!(r.params.seed, Some(7));
        assert_eq!(r.params.max_tokens, Some(12));
        assert_eq!(r.params.stop, vec!["\n\n".to_string()]);
        assert!(c.stream && c.include_usage);
        assert!(
            matches!(&r.constraint, Some(OutputConstraint::JsonSchema { name, .. }) if name == "r")
        );
    }

    #[test]
    fn json_object_means_any_object() {
        let c = parse_call(
            br#"{"messages":[{"role":"user","content":"hi"}],"response_format":{"type":"json_object"}}"#,
        )
        .unwrap();
        assert_eq!(
            c.request.constraint,
            Some(OutputConstraint::JsonSchema {
                name: "json_object".into(),
                schema: json!({"type": "object"})
            })
        );
    }

    #[test]
    fn bad_requests_name_the_field() {
        for (body, want) in [
            (r#"{"messages":[]}"#, "messages is empty"),
            (
                r#"{"messages":[{"role":"tool","content":"x"}]}"#,
                "messages[0].role",
            ),
            (
                r#"{"messages":[{"role":"user","content":"x"}],"n":2}"#,
                "n = 1",
            ),
            (
                r#"{"messages":[{"role":"user","content":"x"}],"temperature":"hot"}"#,
                "temperature",
            ),
            (
                r#"{"messages":[{"role":"user","content":"x"}],"stop":[1]}"#,
                "stop",
            ),
            (
                r#"{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"xml"}}"#,
                "response_format.type",
            ),
            ("not json", "not valid JSON"),
        ] {
            let e = parse_call(body.as_bytes()).err().unwrap_or_default();
            assert!(e.contains(want), "{body}: {e}");
        }
    }
}

//! OpenAI Chat Completions, against OpenAI or any compatible server (vLLM, Ollama,
//! llama.cpp server).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::config::{ApiKey, EnvLookup, env_bool, env_first, env_nonempty, process_env};
use super::pricing::PriceTable;
use super::retry::{Backoff, HttpTransport, scrub};
use super::{Lm, LmError, LmRequest, LmResponse, Message, OutputConstraint, Usage};

/// The default base URL.
pub const OPENAI_BASE_URL: &str = "https://api.openai.com/v1";
/// Ollama's OpenAI-compatible endpoint on its default port.
pub const OLLAMA_BASE_URL: &str = "http://localhost:11434/v1";

/// Which request field carries `LmParams::max_tokens`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenLimitParam {
    /// `max_tokens`: what compatible servers and older OpenAI models take.
    MaxTokens,
    /// `max_completion_tokens`: what OpenAI's reasoning models (o1, o3, o4, gpt-5) require.
    MaxCompletionTokens,
}

/// How a JSON-schema constraint is written into `response_format`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ResponseFormatStyle {
    /// OpenAI's `{"type": "json_schema", "json_schema": {"name", "schema", "strict"}}`
    /// (OpenAI, vLLM, recent llama.cpp `llama-server`).
    #[default]
    JsonSchema,
    /// `{"type": "json_object", "schema": ...}`, what llama-cpp-python's server accepts.
    JsonObjectWithSchema,
}

/// Configuration of an [`OpenAiClient`]. Build with [`OpenAiConfig::new`] and the
/// setters, or [`OpenAiConfig::from_model_id`] to read the environment.
#[derive(Clone, Debug)]
pub struct OpenAiConfig {
    /// The id prefix the client reports (`openai`, or `ollama`); also keys prices.
    pub provider: String,
    /// The model name sent to the server (`gpt-4o-mini`, `meta-llama/Llama-3.1-8B-Instruct`).
    pub model: String,
    /// Up to and including the version segment: `https://api.openai.com/v1`, `http://localhost:8000/v1`.
    pub base_url: String,
    /// Optional: local servers usually take none.
    pub api_key: Option<ApiKey>,
    /// Per HTTP attempt, body included.
    pub timeout: Duration,
    /// Requests in flight at once through this client.
    pub max_concurrency: usize,
    /// Retries after the first attempt on 408, 429, 5xx, timeouts and connection errors.
    pub max_retries: u32,
    pub backoff: Backoff,
    /// Whether the server enforces `response_format` JSON schemas. `None`: only
    /// `api.openai.com` is assumed to.
    pub structured_output: Option<bool>,
    /// Sent as `json_schema.strict`.
    pub strict_json_schema: bool,
    /// The `response_format` dialect of the server (`SIGIL_OPENAI_RESPONSE_FORMAT=json_object`
    /// selects llama-cpp-python's).
    pub response_format_style: ResponseFormatStyle,
    /// `None`: `max_completion_tokens` for OpenAI's reasoning models on api.openai.com,
    /// else `max_tokens`.
    pub token_limit_param: Option<TokenLimitParam>,
    pub prices: Arc<PriceTable>,
}

impl OpenAiConfig {
    /// `model` may be `openai/<name>`, `ollama/<name>` or a bare name. Defaults: the
    /// OpenAI base URL (Ollama's for `ollama/`), no key, 120 s timeout, 16 concurrent
    /// requests, 3 retries.
    pub fn new(model: impl AsRef<str>) -> Self {
        let model = model.as_ref();
        let (provider, name, base) = match model.split_once('/') {
            Some(("openai", m)) => ("openai", m, OPENAI_BASE_URL),
            Some(("ollama", m)) => ("ollama", m, OLLAMA_BASE_URL),
            _ => ("openai", model, OPENAI_BASE_URL),
        };
        OpenAiConfig {
            provider: provider.to_string(),
            model: name.to_string(),
            base_url: base.to_string(),
            api_key: None,
            timeout: Duration::from_secs(120),
            max_concurrency: 16,
            max_retries: 3,
            backoff: Backoff::default(),
            structured_output: None,
            strict_json_schema: true,
            response_format_style: ResponseFormatStyle::default(),
            token_limit_param: None,
            prices: PriceTable::shared_builtin(),
        }
    }

    /// Reads `OPENAI_API_KEY`, `SIGIL_OPENAI_BASE_URL` / `OPENAI_BASE_URL` and
    /// `SIGIL_OPENAI_STRUCTURED_OUTPUT` (or `OLLAMA_BASE_URL` for `ollama/`). A key is
    /// required unless a base URL is set.
    pub fn from_model_id(model_id: &str) -> Result<Self, LmError> {
        Self::from_model_id_with_env(model_id, &process_env)
    }

    pub(crate) fn from_model_id_with_env(
        model_id: &str,
        env: EnvLookup<'_>,
    ) -> Result<Self, LmError> {
        let c = Self::from_env_unchecked(model_id, env)?;
        c.require_credentials()?;
        Ok(c)
    }

    /// The environment's settings, without insisting on a key.
    pub(crate) fn from_env_unchecked(model_id: &str, env: EnvLookup<'_>) -> Result<Self, LmError> {
        let mut c = OpenAiConfig::new(model_id);
        if c.model.is_empty() {
            return Err(LmError::Config(format!(
                "model id `{model_id}` names no model"
            )));
        }
        c.structured_output = env_bool(env, "SIGIL_OPENAI_STRUCTURED_OUTPUT");
        if env("SIGIL_OPENAI_RESPONSE_FORMAT").is_some_and(|v| v.trim() == "json_object") {
            c.response_format_style = ResponseFormatStyle::JsonObjectWithSchema;
        }
        if c.provider == "ollama" {
            if let Some(url) = env_nonempty(env, "OLLAMA_BASE_URL") {
                c.base_url = url;
            }
            return Ok(c);
        }
        c.api_key = env_nonempty(env, "OPENAI_API_KEY").map(ApiKey::new);
        if let Some(url) = env_first(env, &["SIGIL_OPENAI_BASE_URL", "OPENAI_BASE_URL"]) {
            c.base_url = url;
        }
        Ok(c)
    }

    /// OpenAI itself needs a key; other servers may not.
    pub(crate) fn require_credentials(&self) -> Result<(), LmError> {
        if self.api_key.is_none() && self.base_url.trim_end_matches('/') == OPENAI_BASE_URL {
            return Err(LmError::Config(format!(
                "OPENAI_API_KEY is not set (needed for `{}/{}`); set it, or set \
                 SIGIL_OPENAI_BASE_URL to use a local OpenAI-compatible server",
                self.provider, self.model
            )));
        }
        Ok(())
    }

    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self
    }
    pub fn api_key(mut self, key: impl Into<ApiKey>) -> Self {
        self.api_key = Some(key.into());
        self
    }
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
    pub fn max_concurrency(mut self, n: usize) -> Self {
        self.max_concurrency = n;
        self
    }
    pub fn max_retries(mut self, n: u32) -> Self {
        self.max_retries = n;
        self
    }
    pub fn backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }
    pub fn structured_output(mut self, yes: bool) -> Self {
        self.structured_output = Some(yes);
        self
    }
    pub fn response_format_style(mut self, style: ResponseFormatStyle) -> Self {
        self.response_format_style = style;
        self
    }
    pub fn strict_json_schema(mut self, strict: bool) -> Self {
        self.strict_json_schema = strict;
        self
    }
    pub fn token_limit_param(mut self, param: TokenLimitParam) -> Self {
        self.token_limit_param = Some(param);
        self
    }
    pub fn prices(mut self, prices: Arc<PriceTable>) -> Self {
        self.prices = prices;
        self
    }
}

/// A client for `POST {base_url}/chat/completions`.
///
/// Constraints: [`OutputConstraint::JsonSchema`] becomes a strict `json_schema`
/// `response_format` when the server supports structured output. `Choice` and
/// `ChatFields` are not sent: OpenAI has no way to enforce either on free text (a JSON
/// schema would change the completion's format from what the adapter parses), and the
/// compatible servers' guided-decoding extensions differ from server to server.
pub struct OpenAiClient {
    model_id: String,
    config: OpenAiConfig,
    url: String,
    headers: HeaderMap,
    structured: bool,
    token_param: TokenLimitParam,
    transport: HttpTransport,
}

impl fmt::Debug for OpenAiClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OpenAiClient")
            .field("model_id", &self.model_id)
            .field("url", &self.url)
            .field(
                "api_key",
                &self.config.api_key.as_ref().map(|_| "<redacted>"),
            )
            .field("structured_output", &self.structured)
            .field("timeout", &self.config.timeout)
            .field("max_concurrency", &self.config.max_concurrency)
            .field("max_retries", &self.config.max_retries)
            .finish()
    }
}

fn host_of(url: &reqwest::Url) -> &str {
    url.host_str().unwrap_or_default()
}

fn is_reasoning_model(model: &str) -> bool {
    ["o1", "o3", "o4", "gpt-5"]
        .iter()
        .any(|p| model == *p || model.starts_with(&format!("{p}-")))
}

impl OpenAiClient {
    pub fn new(config: OpenAiConfig) -> Result<Self, LmError> {
        let base = config.base_url.trim_end_matches('/');
        let parsed = reqwest::Url::parse(base)
            .map_err(|e| LmError::Config(format!("invalid OpenAI base URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(LmError::Config(
                "the OpenAI base URL must be http:// or https://".into(),
            ));
        }
        let on_openai = host_of(&parsed) == "api.openai.com";
        let mut headers = HeaderMap::new();
        if let Some(key) = config.api_key.as_ref().filter(|k| !k.expose().is_empty()) {
            let mut v =
                HeaderValue::from_str(&format!("Bearer {}", key.expose())).map_err(|_| {
                    LmError::Config(
                        "the OpenAI API key contains characters not allowed in a header".into(),
                    )
                })?;
            v.set_sensitive(true);
            headers.insert(AUTHORIZATION, v);
        }
        let structured = config.structured_output.unwrap_or(on_openai);
        let token_param =
            config
                .token_limit_param
                .unwrap_or(if on_openai && is_reasoning_model(&config.model) {
                    TokenLimitParam::MaxCompletionTokens
                } else {
                    TokenLimitParam::MaxTokens
                });
        let transport = HttpTransport::new(
            &config.provider,
            config.timeout,
            config.max_concurrency,
            config.max_retries,
            config.backoff.clone(),
        )?;
        Ok(OpenAiClient {
            model_id: format!("{}/{}", config.provider, config.model),
            url: format!("{base}/chat/completions"),
            headers,
            structured,
            token_param,
            transport,
            config,
        })
    }

    /// A client configured from the environment (see [`OpenAiConfig::from_model_id`]).
    pub fn from_model_id(model_id: &str) -> Result<Self, LmError> {
        OpenAiClient::new(OpenAiConfig::from_model_id(model_id)?)
    }

    pub fn config(&self) -> &OpenAiConfig {
        &self.config
    }

    fn body(&self, request: &LmRequest) -> Result<Vec<u8>, LmError> {
        let p = &request.params;
        let (max_tokens, max_completion_tokens) = match self.token_param {
            TokenLimitParam::MaxTokens => (p.max_tokens, None),
            TokenLimitParam::MaxCompletionTokens => (None, p.max_tokens),
        };
        let response_format = match &request.constraint {
            Some(OutputConstraint::JsonSchema { schema, .. })
                if self.structured
                    && self.config.response_format_style == ResponseFormatStyle::JsonObjectWithSchema =>
            {
                Some(json!({"type": "json_object", "schema": schema}))
            }
            Some(OutputConstraint::JsonSchema { name, schema }) if self.structured => Some(json!({
                "type": "json_schema",
                "json_schema": {
                    "name": schema_name(name),
                    "schema": schema,
                    "strict": self.config.strict_json_schema,
                }
            })),
            _ => None,
        };
        let body = ChatBody {
            model: &self.config.model,
            messages: &request.messages,
            temperature: p.temperature,
            max_tokens,
            max_completion_tokens,
            top_p: p.top_p,
            stop: (!p.stop.is_empty()).then_some(p.stop.as_slice()),
            seed: p.seed,
            response_format,
        };
        serde_json::to_vec(&body)
            .map_err(|e| LmError::Other(format!("cannot encode the request: {e}")))
    }

    fn parse(&self, body: &[u8]) -> Result<LmResponse, LmError> {
        let bad = |message: String| LmError::BadResponse {
            provider: self.config.provider.clone(),
            message,
        };
        let secret = self.config.api_key.as_ref();
        let parsed: ChatResponse = serde_json::from_slice(body).map_err(|e| {
            bad(format!(
                "invalid JSON ({e}): {}",
                scrub(&String::from_utf8_lossy(body), secret, 200)
            ))
        })?;
        if let Some(err) = parsed.error.as_ref().filter(|e| !e.is_null()) {
            let msg = err
                .get("message")
                .and_then(Value::as_str)
                .map_or_else(|| err.to_string(), str::to_string);
            return Err(bad(format!(
                "error in a success response: {}",
                scrub(&msg, secret, 500)
            )));
        }
        let choice = parsed
            .choices
            .into_iter()
            .next()
            .ok_or_else(|| bad("no choices in the response".into()))?;
        let text = match choice.message {
            Some(m) => match m.content {
                Some(Value::String(s)) => s,
                Some(Value::Array(parts)) => parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect::<String>(),
                None | Some(Value::Null) => match m.refusal {
                    Some(r) => {
                        return Err(bad(format!(
                            "the model refused: {}",
                            scrub(&r, secret, 500)
                        )));
                    }
                    None => String::new(),
                },
                Some(other) => {
                    return Err(bad(format!(
                        "unexpected message content type: {}",
                        type_name(&other)
                    )));
                }
            },
            // Legacy completion-style servers.
            None => choice.text.unwrap_or_default(),
        };
        let model = parsed
            .model
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| self.config.model.clone());
        let mut usage = Usage::default();
        if let Some(u) = parsed.usage {
            usage.input_tokens = u.prompt_tokens.unwrap_or(0);
            usage.output_tokens = u.completion_tokens.unwrap_or(0);
            usage.cached_tokens = u
                .prompt_tokens_details
                .and_then(|d| d.cached_tokens)
                .unwrap_or(0);
        }
        let reported = format!("{}/{}", self.config.provider, model);
        usage.cost_usd = self
            .config
            .prices
            .cost(&[&self.model_id, &reported], &usage, 0);
        Ok(LmResponse {
            text,
            finish_reason: choice.finish_reason,
            usage,
            model,
            ..Default::default()
        })
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// OpenAI wants `^[a-zA-Z0-9_-]{1,64}$`.
fn schema_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if s.is_empty() { "output".into() } else { s }
}

#[async_trait]
impl Lm for OpenAiClient {
    fn model_id(&self) -> String {
        self.model_id.clone()
    }

    fn supports_structured_output(&self) -> bool {
        self.structured
    }

    fn supports_constraint(&self, constraint: &OutputConstraint) -> bool {
        matches!(constraint, OutputConstraint::JsonSchema { .. }) && self.structured
    }

    async fn call(&self, request: LmRequest) -> Result<LmResponse, LmError> {
        let body = self.body(&request)?;
        let reply = self
            .transport
            .post_json(&self.url, &self.headers, body, self.config.api_key.as_ref())
            .await?;
        let mut response = self.parse(&reply.body)?;
        response.retries = reply.retries;
        response.latency_ms = reply.latency.as_secs_f64() * 1000.0;
        Ok(response)
    }
}

#[derive(Serialize)]
struct ChatBody<'a> {
    model: &'a str,
    messages: &'a [Message],
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_completion_tokens: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seed: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    response_format: Option<Value>,
}

#[derive(Deserialize)]
struct ChatResponse {
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    choices: Vec<ChatChoice>,
    #[serde(default)]
    usage: Option<ChatUsage>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct ChatChoice {
    #[serde(default)]
    message: Option<ChatMessage>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct ChatMessage {
    #[serde(default)]
    content: Option<Value>,
    #[serde(default)]
    refusal: Option<String>,
}

#[derive(Deserialize)]
struct ChatUsage {
    #[serde(default)]
    prompt_tokens: Option<u64>,
    #[serde(default)]
    completion_tokens: Option<u64>,
    #[serde(default)]
    prompt_tokens_details: Option<PromptTokensDetails>,
}

#[derive(Deserialize)]
struct PromptTokensDetails {
    #[serde(default)]
    cached_tokens: Option<u64>,
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::super::test_server::{Reply, TestServer, closed_port_url};
    use super::*;
    use crate::lm::LmParams;

    const KEY: &str = "sk-test-SECRET-4242";

    const OK_BODY: &str = r#"{
        "id": "chatcmpl-1", "object": "chat.completion", "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200,
                  "prompt_tokens_details": {"cached_tokens": 400}}
    }"#;

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
        let server = TestServer::start(vec![Reply::json(200, OK_BODY)]).await;
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
        let server =
            TestServer::start(vec![Reply::json(200, OK_BODY), Reply::json(200, OK_BODY)]).await;
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
            Reply::json(200, OK_BODY),
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
            Reply::json(200, OK_BODY),
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
        let slow = Reply::json(200, OK_BODY).delay(Duration::from_secs(3));
        let server = TestServer::start(vec![slow, Reply::json(200, OK_BODY)]).await;
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
            Reply::json(200, OK_BODY).delay(Duration::from_secs(3)),
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
        let lm = OpenAiClient::new(OpenAiConfig::new("openai/local-model").base_url(server.url()))
            .unwrap();
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
            .map(|_| Reply::json(200, OK_BODY).delay(Duration::from_millis(150)))
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
        let lm = OpenAiClient::new(
            OpenAiConfig::new("openai/o3-mini").base_url("http://localhost:8000/v1"),
        )
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
        let c =
            OpenAiConfig::from_model_id_with_env("openai/meta-llama/Llama-3.1-8B", &env).unwrap();
        assert_eq!(c.model, "meta-llama/Llama-3.1-8B");
        assert_eq!(c.base_url, "http://b:2/v1/");
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
}

//! Anthropic's Messages API.

use std::fmt;

use async_trait::async_trait;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::config::{ApiKey, EnvLookup, env_first, env_nonempty, process_env};
use super::options::{ClientOptions, WithClientOptions};
use super::retry::{HttpTransport, scrub};
use super::{
    Lm, LmError, LmRequest, LmResponse, LmToolCall, OutputConstraint, Role, ToolChoice, Usage,
};

/// The default base URL (the API path `/v1/messages` is appended).
pub const ANTHROPIC_BASE_URL: &str = "https://api.anthropic.com";
/// The `anthropic-version` header sent.
const ANTHROPIC_VERSION: &str = "2023-06-01";

/// Configuration of an [`AnthropicClient`].
#[derive(Clone, Debug)]
pub struct AnthropicConfig {
    /// The model name sent (`claude-3-5-haiku-latest`).
    pub model: String,
    /// Endpoint, key and transport (see [`WithClientOptions`] for the setters). No
    /// base URL: `https://api.anthropic.com`.
    pub options: ClientOptions,
    /// The `anthropic-version` header sent (default: `2023-06-01`).
    pub api_version: String,
    /// Sent when the request sets no `max_tokens` (the API requires one).
    pub default_max_tokens: u32,
}

impl WithClientOptions for AnthropicConfig {
    fn client_options(&mut self) -> &mut ClientOptions {
        &mut self.options
    }
}

impl AnthropicConfig {
    /// `model` may be `anthropic/<name>` or a bare name. Defaults: no key, 1024 max
    /// tokens, 120 s timeout, 16 concurrent requests, 3 retries.
    pub fn new(model: impl AsRef<str>) -> Self {
        let model = model.as_ref();
        AnthropicConfig {
            model: model
                .strip_prefix("anthropic/")
                .unwrap_or(model)
                .to_string(),
            options: ClientOptions::default(),
            api_version: ANTHROPIC_VERSION.to_string(),
            default_max_tokens: 1024,
        }
    }

    /// Reads `ANTHROPIC_API_KEY` and `SIGIL_ANTHROPIC_BASE_URL` / `ANTHROPIC_BASE_URL`.
    /// A key is required unless a base URL is set.
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
        let mut c = AnthropicConfig::new(model_id);
        if c.model.is_empty() {
            return Err(LmError::Config(format!(
                "model id `{model_id}` names no model"
            )));
        }
        c.options.api_key = env_nonempty(env, "ANTHROPIC_API_KEY").map(ApiKey::new);
        if let Some(url) = env_first(env, &["SIGIL_ANTHROPIC_BASE_URL", "ANTHROPIC_BASE_URL"]) {
            c.options.base_url = Some(url);
        }
        Ok(c)
    }

    /// Anthropic itself needs a key; a proxy or test server may not.
    pub(crate) fn require_credentials(&self) -> Result<(), LmError> {
        if self.options.api_key.is_none()
            && self.endpoint().trim_end_matches('/') == ANTHROPIC_BASE_URL
        {
            return Err(LmError::Config(format!(
                "ANTHROPIC_API_KEY is not set (needed for `anthropic/{}`)",
                self.model
            )));
        }
        Ok(())
    }

    /// The API's base URL: the one set, else Anthropic's.
    pub fn endpoint(&self) -> &str {
        self.options.base_url_or(ANTHROPIC_BASE_URL)
    }

    /// Sets [`AnthropicConfig::default_max_tokens`].
    pub fn default_max_tokens(mut self, n: u32) -> Self {
        self.default_max_tokens = n;
        self
    }
}

/// A client for `POST {base_url}/v1/messages`.
///
/// System messages are joined (blank line between) into the top-level `system`
/// field; the rest go in order as `messages`. `seed` is not sent (the API has none);
/// output constraints are not sent (the Messages API has no `response_format`).
/// Tools go as `tools` (`name`, `description`, `input_schema`) with `tool_choice`
/// (`auto`, `none`, `any` for required, `tool` for a named one); `tool_use` blocks come
/// back as [`LmResponse::tool_calls`], their `input` written out as JSON.
/// `stop_reason` is reported in OpenAI's words (`end_turn`/`stop_sequence` → `stop`,
/// `max_tokens` → `length`, `tool_use` → `tool_calls`) so callers check one vocabulary.
pub struct AnthropicClient {
    model_id: String,
    config: AnthropicConfig,
    url: String,
    headers: HeaderMap,
    transport: HttpTransport,
}

impl fmt::Debug for AnthropicClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AnthropicClient")
            .field("model_id", &self.model_id)
            .field("url", &self.url)
            .field(
                "api_key",
                &self.config.options.api_key.as_ref().map(|_| "<redacted>"),
            )
            .field("timeout", &self.config.options.timeout)
            .field("max_concurrency", &self.config.options.max_concurrency)
            .field("max_retries", &self.config.options.max_retries)
            .finish()
    }
}

impl AnthropicClient {
    /// A client for `config`. Fails on a malformed base URL, API key or version.
    pub fn new(config: AnthropicConfig) -> Result<Self, LmError> {
        let base = config.endpoint().trim_end_matches('/').to_string();
        let parsed = reqwest::Url::parse(&base)
            .map_err(|e| LmError::Config(format!("invalid Anthropic base URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(LmError::Config(
                "the Anthropic base URL must be http:// or https://".into(),
            ));
        }
        let base = base.strip_suffix("/v1").unwrap_or(&base);
        let mut headers = HeaderMap::new();
        if let Some(key) = config
            .options
            .api_key
            .as_ref()
            .filter(|k| !k.expose().is_empty())
        {
            let mut v = HeaderValue::from_str(key.expose()).map_err(|_| {
                LmError::Config(
                    "the Anthropic API key contains characters not allowed in a header".into(),
                )
            })?;
            v.set_sensitive(true);
            headers.insert(HeaderName::from_static("x-api-key"), v);
        }
        let version = HeaderValue::from_str(&config.api_version)
            .map_err(|_| LmError::Config("invalid anthropic-version".into()))?;
        headers.insert(HeaderName::from_static("anthropic-version"), version);
        let transport = HttpTransport::new(
            "anthropic",
            config.options.timeout,
            config.options.max_concurrency,
            config.options.max_retries,
            config.options.backoff.clone(),
        )?;
        Ok(AnthropicClient {
            model_id: format!("anthropic/{}", config.model),
            url: format!("{base}/v1/messages"),
            headers,
            transport,
            config,
        })
    }

    /// A client configured from the environment (see [`AnthropicConfig::from_model_id`]).
    pub fn from_model_id(model_id: &str) -> Result<Self, LmError> {
        AnthropicClient::new(AnthropicConfig::from_model_id(model_id)?)
    }

    /// The configuration the client was built with.
    pub fn config(&self) -> &AnthropicConfig {
        &self.config
    }

    fn body(&self, request: &LmRequest) -> Result<Vec<u8>, LmError> {
        let mut system: Option<String> = None;
        let mut messages = Vec::with_capacity(request.messages.len());
        for m in &request.messages {
            match m.role {
                Role::System => match &mut system {
                    Some(s) => {
                        s.push_str("\n\n");
                        s.push_str(&m.content);
                    }
                    None => system = Some(m.content.clone()),
                },
                Role::User => messages.push(WireMessage {
                    role: "user",
                    content: &m.content,
                }),
                Role::Assistant => messages.push(WireMessage {
                    role: "assistant",
                    content: &m.content,
                }),
            }
        }
        if messages.is_empty() {
            return Err(LmError::Other(
                "Anthropic needs at least one user or assistant message".into(),
            ));
        }
        let p = &request.params;
        let body = MessagesBody {
            model: &self.config.model,
            max_tokens: p.max_tokens.unwrap_or(self.config.default_max_tokens),
            system,
            messages,
            temperature: p.temperature,
            top_p: p.top_p,
            stop_sequences: (!p.stop.is_empty()).then_some(p.stop.as_slice()),
            tools: (!request.tools.is_empty()).then(|| {
                request
                    .tools
                    .iter()
                    .map(|t| {
                        json!({
                            "name": t.name,
                            "description": t.description,
                            "input_schema": t.parameters,
                        })
                    })
                    .collect()
            }),
            tool_choice: request.tool_choice.as_ref().map(|c| match c {
                ToolChoice::Auto => json!({"type": "auto"}),
                ToolChoice::None => json!({"type": "none"}),
                ToolChoice::Required => json!({"type": "any"}),
                ToolChoice::Function(name) => json!({"type": "tool", "name": name}),
            }),
        };
        serde_json::to_vec(&body)
            .map_err(|e| LmError::Other(format!("cannot encode the request: {e}")))
    }

    fn parse(&self, body: &[u8]) -> Result<LmResponse, LmError> {
        let bad = |message: String| LmError::BadResponse {
            provider: "anthropic".into(),
            message,
        };
        let secret = self.config.options.api_key.as_ref();
        let parsed: MessagesResponse = serde_json::from_slice(body).map_err(|e| {
            bad(format!(
                "invalid JSON ({e}): {}",
                scrub(&String::from_utf8_lossy(body), secret, 200)
            ))
        })?;
        if parsed.kind.as_deref() == Some("error")
            || parsed.error.as_ref().is_some_and(|e| !e.is_null())
        {
            let msg = parsed
                .error
                .as_ref()
                .and_then(|e| e.get("message"))
                .and_then(Value::as_str)
                .unwrap_or("unknown error")
                .to_string();
            return Err(bad(format!(
                "error in a success response: {}",
                scrub(&msg, secret, 500)
            )));
        }
        let content = parsed
            .content
            .ok_or_else(|| bad("no content in the response".into()))?;
        let text: String = content
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("text"))
            .filter_map(|b| b.get("text").and_then(Value::as_str))
            .collect();
        let tool_calls = content
            .iter()
            .filter(|b| b.get("type").and_then(Value::as_str) == Some("tool_use"))
            .map(|b| {
                let name = b
                    .get("name")
                    .and_then(Value::as_str)
                    .filter(|n| !n.is_empty())
                    .ok_or_else(|| bad("a tool_use block has no name".into()))?;
                Ok(LmToolCall {
                    id: b.get("id").and_then(Value::as_str).map(str::to_string),
                    name: name.to_string(),
                    arguments: match b.get("input") {
                        None | Some(Value::Null) => String::new(),
                        Some(input) => input.to_string(),
                    },
                })
            })
            .collect::<Result<Vec<_>, LmError>>()?;
        let finish_reason = parsed.stop_reason.map(|r| {
            match r.as_str() {
                "end_turn" | "stop_sequence" => "stop",
                "max_tokens" => "length",
                "tool_use" => "tool_calls",
                other => other,
            }
            .to_string()
        });
        let model = parsed
            .model
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| self.config.model.clone());
        let u = parsed.usage.unwrap_or_default();
        let cache_read = u.cache_read_input_tokens.unwrap_or(0);
        let cache_write = u.cache_creation_input_tokens.unwrap_or(0);
        // Anthropic's input_tokens exclude cache reads and writes; Sigil's include them.
        let mut usage = Usage {
            input_tokens: u
                .input_tokens
                .unwrap_or(0)
                .saturating_add(cache_read)
                .saturating_add(cache_write),
            output_tokens: u.output_tokens.unwrap_or(0),
            cached_tokens: cache_read,
            cost_usd: 0.0,
        };
        let reported = format!("anthropic/{model}");
        usage.cost_usd =
            self.config
                .options
                .prices
                .cost(&[&self.model_id, &reported], &usage, cache_write);
        Ok(LmResponse {
            text,
            finish_reason,
            usage,
            model,
            tool_calls,
            ..Default::default()
        })
    }
}

#[async_trait]
impl Lm for AnthropicClient {
    fn model_id(&self) -> String {
        self.model_id.clone()
    }

    fn supports_constraint(&self, _constraint: &OutputConstraint) -> bool {
        false
    }

    fn supports_native_tools(&self) -> bool {
        true
    }

    async fn call(&self, request: LmRequest) -> Result<LmResponse, LmError> {
        let body = self.body(&request)?;
        let reply = self
            .transport
            .post_json(
                &self.url,
                &self.headers,
                body,
                self.config.options.api_key.as_ref(),
            )
            .await?;
        let mut response = self.parse(&reply.body)?;
        response.retries = reply.retries;
        response.latency_ms = reply.latency.as_secs_f64() * 1000.0;
        Ok(response)
    }
}

#[derive(Serialize)]
struct WireMessage<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Serialize)]
struct MessagesBody<'a> {
    model: &'a str,
    max_tokens: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    system: Option<String>,
    messages: Vec<WireMessage<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    top_p: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    stop_sequences: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tools: Option<Vec<Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    tool_choice: Option<Value>,
}

#[derive(Deserialize)]
struct MessagesResponse {
    #[serde(default, rename = "type")]
    kind: Option<String>,
    #[serde(default)]
    model: Option<String>,
    #[serde(default)]
    content: Option<Vec<Value>>,
    #[serde(default)]
    stop_reason: Option<String>,
    #[serde(default)]
    usage: Option<MessagesUsage>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Default, Deserialize)]
struct MessagesUsage {
    #[serde(default)]
    input_tokens: Option<u64>,
    #[serde(default)]
    output_tokens: Option<u64>,
    #[serde(default)]
    cache_creation_input_tokens: Option<u64>,
    #[serde(default)]
    cache_read_input_tokens: Option<u64>,
}

#[cfg(test)]
#[path = "anthropic_tests.rs"]
mod tests;

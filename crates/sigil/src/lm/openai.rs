//! OpenAI Chat Completions, against OpenAI or any compatible server (vLLM, Ollama,
//! llama.cpp server).

use std::fmt;

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue};
use serde_json::{Value, json};

use super::config::{ApiKey, EnvLookup, env_bool, env_first, env_nonempty, process_env};
use super::gbnf;
use super::options::{ClientOptions, WithClientOptions};
use super::retry::{HttpTransport, scrub};
use super::{Lm, LmError, LmRequest, LmResponse, OutputConstraint, Usage};
use wire::{ChatBody, ChatResponse, function_tool, openai_tool_choice, read_tool_calls};

mod wire;

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
    /// Endpoint, key and transport (see [`WithClientOptions`] for the setters). No base
    /// URL: OpenAI's (Ollama's for `ollama/`).
    pub options: ClientOptions,
    /// Whether the server enforces `response_format` JSON schemas. `None`: only
    /// `api.openai.com` is assumed to.
    pub structured_output: Option<bool>,
    /// Sent as `json_schema.strict`.
    pub strict_json_schema: bool,
    /// The `response_format` dialect of the server (`SIGIL_OPENAI_RESPONSE_FORMAT=json_object`
    /// selects llama-cpp-python's).
    pub response_format_style: ResponseFormatStyle,
    /// Whether the server takes a GBNF grammar in the request's `grammar` field
    /// (llama.cpp's `llama-server` and llama-cpp-python's server do; OpenAI does not).
    /// When it does, `ChatFields` and `Choice` constraints (and JSON schemas, when
    /// structured output is off) are sent as grammars, so the server decodes only completions the adapter parses. Off unless set
    /// (`SIGIL_OPENAI_GRAMMAR=1`).
    pub grammar: bool,
    /// `None`: `max_completion_tokens` for OpenAI's reasoning models on api.openai.com,
    /// else `max_tokens`.
    pub token_limit_param: Option<TokenLimitParam>,
}

impl WithClientOptions for OpenAiConfig {
    fn client_options(&mut self) -> &mut ClientOptions {
        &mut self.options
    }
}

impl OpenAiConfig {
    /// `model` may be `openai/<name>`, `ollama/<name>` or a bare name. Defaults: the
    /// OpenAI base URL (Ollama's for `ollama/`), no key, 120 s timeout, 16 concurrent
    /// requests, 3 retries.
    pub fn new(model: impl AsRef<str>) -> Self {
        let model = model.as_ref();
        let (provider, name) = match model.split_once('/') {
            Some(("openai", m)) => ("openai", m),
            Some(("ollama", m)) => ("ollama", m),
            _ => ("openai", model),
        };
        OpenAiConfig {
            provider: provider.to_string(),
            model: name.to_string(),
            options: ClientOptions::default(),
            structured_output: None,
            strict_json_schema: true,
            response_format_style: ResponseFormatStyle::default(),
            grammar: false,
            token_limit_param: None,
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
        c.grammar = env_bool(env, "SIGIL_OPENAI_GRAMMAR").unwrap_or(false);
        if env("SIGIL_OPENAI_RESPONSE_FORMAT").is_some_and(|v| v.trim() == "json_object") {
            c.response_format_style = ResponseFormatStyle::JsonObjectWithSchema;
        }
        if c.provider == "ollama" {
            if let Some(url) = env_nonempty(env, "OLLAMA_BASE_URL") {
                c.options.base_url = Some(url);
            }
            return Ok(c);
        }
        c.options.api_key = env_nonempty(env, "OPENAI_API_KEY").map(ApiKey::new);
        if let Some(url) = env_first(env, &["SIGIL_OPENAI_BASE_URL", "OPENAI_BASE_URL"]) {
            c.options.base_url = Some(url);
        }
        Ok(c)
    }

    /// OpenAI itself needs a key; other servers may not.
    pub(crate) fn require_credentials(&self) -> Result<(), LmError> {
        if self.options.api_key.is_none()
            && self.endpoint().trim_end_matches('/') == OPENAI_BASE_URL
        {
            return Err(LmError::Config(format!(
                "OPENAI_API_KEY is not set (needed for `{}/{}`); set it, or set \
                 SIGIL_OPENAI_BASE_URL to use a local OpenAI-compatible server",
                self.provider, self.model
            )));
        }
        Ok(())
    }

    /// The server's base URL: the one set, else the provider's.
    pub fn endpoint(&self) -> &str {
        let default = if self.provider == "ollama" {
            OLLAMA_BASE_URL
        } else {
            OPENAI_BASE_URL
        };
        self.options.base_url_or(default)
    }

    /// Sets [`OpenAiConfig::structured_output`].
    pub fn structured_output(mut self, yes: bool) -> Self {
        self.structured_output = Some(yes);
        self
    }
    /// Sets [`OpenAiConfig::response_format_style`].
    pub fn response_format_style(mut self, style: ResponseFormatStyle) -> Self {
        self.response_format_style = style;
        self
    }
    /// Send `ChatFields` and `Choice` constraints (and JSON schemas, when structured
    /// output is off) as GBNF grammars (llama.cpp servers).
    pub fn grammar(mut self, yes: bool) -> Self {
        self.grammar = yes;
        self
    }
    /// Sets [`OpenAiConfig::strict_json_schema`].
    pub fn strict_json_schema(mut self, strict: bool) -> Self {
        self.strict_json_schema = strict;
        self
    }
    /// Sets [`OpenAiConfig::token_limit_param`].
    pub fn token_limit_param(mut self, param: TokenLimitParam) -> Self {
        self.token_limit_param = Some(param);
        self
    }
}

/// A client for `POST {base_url}/chat/completions`.
///
/// Constraints: [`OutputConstraint::JsonSchema`] becomes a strict `json_schema`
/// `response_format` when the server supports structured output. `Choice` and
/// `ChatFields` (and a JSON schema, on a server without structured output) are sent
/// only to servers configured to take a GBNF `grammar` ([`OpenAiConfig::grammar`],
/// llama.cpp's servers): OpenAI has no way to enforce either on free text (a JSON schema
/// would change the completion's format from what the adapter parses).
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
                &self.config.options.api_key.as_ref().map(|_| "<redacted>"),
            )
            .field("structured_output", &self.structured)
            .field("timeout", &self.config.options.timeout)
            .field("max_concurrency", &self.config.options.max_concurrency)
            .field("max_retries", &self.config.options.max_retries)
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
    /// A client for `config`. Fails on a malformed base URL or API key.
    pub fn new(config: OpenAiConfig) -> Result<Self, LmError> {
        let base = config.endpoint().trim_end_matches('/').to_string();
        let parsed = reqwest::Url::parse(&base)
            .map_err(|e| LmError::Config(format!("invalid OpenAI base URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(LmError::Config(
                "the OpenAI base URL must be http:// or https://".into(),
            ));
        }
        let on_openai = host_of(&parsed) == "api.openai.com";
        let mut headers = HeaderMap::new();
        if let Some(key) = config
            .options
            .api_key
            .as_ref()
            .filter(|k| !k.expose().is_empty())
        {
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
            config.options.timeout,
            config.options.max_concurrency,
            config.options.max_retries,
            config.options.backoff.clone(),
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

    /// The configuration the client was built with.
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
                    && self.config.response_format_style
                        == ResponseFormatStyle::JsonObjectWithSchema =>
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
        // A JSON schema goes as response_format where the server takes one; every
        // other constraint (and a schema, on a server without structured output) as a
        // grammar when grammars are on.
        let grammar = match &request.constraint {
            Some(c) if self.config.grammar && response_format.is_none() => {
                Some(gbnf::grammar(c).map_err(|e| {
                    LmError::Unsupported(format!(
                        "this output constraint cannot be sent as a grammar: {e}"
                    ))
                })?)
            }
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
            grammar,
            tools: (!request.tools.is_empty())
                .then(|| request.tools.iter().map(function_tool).collect()),
            tool_choice: request.tool_choice.as_ref().map(openai_tool_choice),
        };
        serde_json::to_vec(&body)
            .map_err(|e| LmError::Other(format!("cannot encode the request: {e}")))
    }

    fn parse(&self, body: &[u8]) -> Result<LmResponse, LmError> {
        let bad = |message: String| LmError::BadResponse {
            provider: self.config.provider.clone(),
            message,
        };
        let secret = self.config.options.api_key.as_ref();
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
        let tool_calls = match choice.message.as_ref() {
            Some(m) => read_tool_calls(&m.tool_calls).map_err(bad)?,
            None => Vec::new(),
        };
        let text = match choice.message {
            Some(m) => match m.content {
                Some(Value::String(s)) => s,
                Some(Value::Array(parts)) => parts
                    .iter()
                    .filter_map(|p| p.get("text").and_then(Value::as_str))
                    .collect::<String>(),
                None | Some(Value::Null) => match m.refusal {
                    Some(r) if tool_calls.is_empty() => {
                        return Err(bad(format!(
                            "the model refused: {}",
                            scrub(&r, secret, 500)
                        )));
                    }
                    _ => String::new(),
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
            .options
            .prices
            .cost(&[&self.model_id, &reported], &usage, 0);
        Ok(LmResponse {
            text,
            finish_reason: choice.finish_reason,
            usage,
            model,
            tool_calls,
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
        match constraint {
            OutputConstraint::JsonSchema { .. } if self.structured => true,
            c => self.config.grammar && gbnf::grammar(c).is_ok(),
        }
    }

    /// Chat Completions takes `tools`; whether the model behind a compatible server uses
    /// them is the server's affair (llama.cpp needs a chat format that supports tools).
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

#[cfg(test)]
#[path = "openai_tests.rs"]
mod tests;

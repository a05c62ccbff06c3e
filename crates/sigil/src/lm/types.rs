use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::signature::FieldType;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

/// One chat message.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn system(content: impl Into<String>) -> Self {
        Message {
            role: Role::System,
            content: content.into(),
        }
    }
    pub fn user(content: impl Into<String>) -> Self {
        Message {
            role: Role::User,
            content: content.into(),
        }
    }
    pub fn assistant(content: impl Into<String>) -> Self {
        Message {
            role: Role::Assistant,
            content: content.into(),
        }
    }
}

/// Sampling parameters of a request. `None` means the provider's default.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LmParams {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

impl LmParams {
    /// Fills every unset parameter from `defaults`.
    pub fn or(&self, defaults: &LmParams) -> LmParams {
        LmParams {
            temperature: self.temperature.or(defaults.temperature),
            max_tokens: self.max_tokens.or(defaults.max_tokens),
            top_p: self.top_p.or(defaults.top_p),
            stop: if self.stop.is_empty() {
                defaults.stop.clone()
            } else {
                self.stop.clone()
            },
            seed: self.seed.or(defaults.seed),
        }
    }
}

/// A constraint on what the LM may output, derived from a signature by the adapter.
///
/// Hosted clients map it onto the provider's structured output where one exists; a
/// local engine can enforce it while decoding.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum OutputConstraint {
    /// Exactly one of these strings.
    Choice { choices: Vec<String> },
    /// The ChatAdapter's `[[ ## field ## ]]` structure, each value constrained by its type.
    ChatFields { fields: Vec<(String, FieldType)> },
    /// A JSON value matching this schema.
    JsonSchema { name: String, schema: Value },
}

/// One LM request: messages, parameters, an optional output constraint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LmRequest {
    pub messages: Vec<Message>,
    #[serde(default)]
    pub params: LmParams,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraint: Option<OutputConstraint>,
    /// A distinct rollout id asks the cache for a fresh sample of the same request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_id: Option<u64>,
}

impl LmRequest {
    pub fn new(messages: Vec<Message>) -> Self {
        LmRequest {
            messages,
            ..Default::default()
        }
    }
}

/// Token counts and cost. Cached tokens are a subset of input tokens (prompt-prefix
/// caching at the provider) or, for request-cache hits, the whole call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cached_tokens: u64,
    pub cost_usd: f64,
}

impl Usage {
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cached_tokens += other.cached_tokens;
        self.cost_usd += other.cost_usd;
    }
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

/// What an LM answered, and what it took.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LmResponse {
    pub text: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    pub usage: Usage,
    /// The model that answered, as the provider reported it.
    pub model: String,
    /// True when served from the request cache (no tokens spent).
    #[serde(default)]
    pub cache_hit: bool,
    /// Retries made before this answer.
    #[serde(default)]
    pub retries: u32,
    #[serde(default)]
    pub latency_ms: f64,
}

/// LM failures. Each says what went wrong without leaking secrets.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LmError {
    #[error("LM configuration: {0}")]
    Config(String),
    #[error("{provider} returned HTTP {status}: {body}")]
    Http {
        provider: String,
        status: u16,
        body: String,
    },
    #[error("{provider} rate limited the request (HTTP 429) after {attempts} attempts")]
    RateLimited { provider: String, attempts: u32 },
    #[error("{provider} request timed out after {after:?}")]
    Timeout { provider: String, after: Duration },
    #[error("cannot connect to {provider}: {message}")]
    Connection { provider: String, message: String },
    #[error("{provider} sent a response Sigil cannot read: {message}")]
    BadResponse { provider: String, message: String },
    #[error("the LM does not support {0}")]
    Unsupported(String),
    /// The prompt does not fit the model's context window (ReAct drops the oldest
    /// steps of its trajectory and tries again).
    #[error("{provider}: the prompt exceeds the context window: {message}")]
    ContextWindowExceeded { provider: String, message: String },
    #[error("{0}")]
    Other(String),
}

impl LmError {
    /// Whether retrying the same request may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            LmError::Http { status, .. } => *status == 429 || *status >= 500 || *status == 408,
            LmError::RateLimited { .. } | LmError::Timeout { .. } | LmError::Connection { .. } => {
                true
            }
            _ => false,
        }
    }
}

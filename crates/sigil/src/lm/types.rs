use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::tools::{LmToolCall, ToolChoice, ToolSpec};
use crate::signature::FieldType;

/// Who wrote a chat message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The system prompt (instructions and field descriptions).
    System,
    /// The user's turn (inputs, and the inputs of each demo).
    User,
    /// The model's turn (a completion, or a demo's outputs).
    Assistant,
}

/// One chat message.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Message {
    /// Who wrote it.
    pub role: Role,
    /// The text.
    pub content: String,
}

impl Message {
    /// A system message.
    pub fn system(content: impl Into<String>) -> Self {
        Message {
            role: Role::System,
            content: content.into(),
        }
    }
    /// A user message.
    pub fn user(content: impl Into<String>) -> Self {
        Message {
            role: Role::User,
            content: content.into(),
        }
    }
    /// An assistant message.
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
    /// Sampling temperature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    /// The most tokens the completion may have.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Nucleus sampling: sample from the smallest token set with this total probability.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub top_p: Option<f64>,
    /// Strings that end the completion when generated (empty: none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stop: Vec<String>,
    /// A sampling seed, for providers that honour one.
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
    Choice {
        /// The allowed outputs.
        choices: Vec<String>,
    },
    /// The ChatAdapter's `[[ ## field ## ]]` structure, each value constrained by its type.
    ChatFields {
        /// The output fields in order, with their types.
        fields: Vec<(String, FieldType)>,
    },
    /// [`OutputConstraint::ChatFields`], where the value chosen for the `choice` field
    /// (a literal among `cases`) decides the JSON schema of the `args` field right
    /// after it. ReAct's step: the tool named decides what its arguments look like.
    ChatFieldsByChoice {
        /// The output fields in order, with their types (`args`'s type is replaced by
        /// the chosen case's schema).
        fields: Vec<(String, FieldType)>,
        /// The field whose value picks the case (a literal field).
        choice: String,
        /// The field right after `choice`, whose JSON the case's schema constrains.
        args: String,
        /// Each choice and the JSON schema of its `args`.
        cases: Vec<(String, Value)>,
    },
    /// A JSON value matching this schema.
    JsonSchema {
        /// The schema's name (OpenAI's `json_schema.name`).
        name: String,
        /// The JSON schema.
        schema: Value,
    },
}

/// One LM request: messages, parameters, an optional output constraint.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LmRequest {
    /// The conversation, system message first.
    pub messages: Vec<Message>,
    /// Sampling parameters.
    #[serde(default)]
    pub params: LmParams,
    /// What the output must look like, if the LM can enforce it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub constraint: Option<OutputConstraint>,
    /// A distinct rollout id asks the cache for a fresh sample of the same request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_id: Option<u64>,
    /// Tools the LM may call natively (empty: none; the request is plain chat).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<ToolSpec>,
    /// Whether and which of `tools` the LM must call (`None`: the provider's default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tool_choice: Option<ToolChoice>,
}

impl LmRequest {
    /// A request with these messages and default parameters.
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
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// Prompt tokens served from a cache (part of `input_tokens`).
    pub cached_tokens: u64,
    /// What the call cost, in US dollars (0 when the model has no known price).
    pub cost_usd: f64,
}

impl Usage {
    /// Adds `other`'s counts and cost to these.
    pub fn add(&mut self, other: &Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cached_tokens += other.cached_tokens;
        self.cost_usd += other.cost_usd;
    }
    /// Input plus output tokens.
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

/// What an LM answered, and what it took.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LmResponse {
    /// The completion.
    pub text: String,
    /// Why generation stopped, in OpenAI's words (`stop`, `length`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish_reason: Option<String>,
    /// Tokens and cost of this call.
    pub usage: Usage,
    /// The model that answered, as the provider reported it.
    pub model: String,
    /// True when served from the request cache (no tokens spent).
    #[serde(default)]
    pub cache_hit: bool,
    /// Retries made before this answer.
    #[serde(default)]
    pub retries: u32,
    /// Wall time of the call, retries included, in milliseconds.
    #[serde(default)]
    pub latency_ms: f64,
    /// The tool calls the LM asked for, when the request offered tools natively.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool_calls: Vec<LmToolCall>,
}

/// LM failures. Each says what went wrong without leaking secrets.
#[derive(Debug, Clone, thiserror::Error)]
pub enum LmError {
    /// The client or its cache is misconfigured (no key, an unknown provider, a bad
    /// URL, a cache directory that cannot be created).
    #[error("LM configuration: {0}")]
    Config(String),
    /// The provider answered with an error status.
    #[error("{provider} returned HTTP {status}: {body}")]
    Http {
        /// The provider's name.
        provider: String,
        /// The HTTP status code.
        status: u16,
        /// The error message from the body (secrets removed, cut short).
        body: String,
    },
    /// Still rate limited when the retries ran out.
    #[error("{provider} rate limited the request (HTTP 429) after {attempts} attempts")]
    RateLimited {
        /// The provider's name.
        provider: String,
        /// Attempts made, the first included.
        attempts: u32,
    },
    /// An attempt took longer than the client's timeout.
    #[error("{provider} request timed out after {after:?}")]
    Timeout {
        /// The provider's name.
        provider: String,
        /// The timeout that ran out.
        after: Duration,
    },
    /// The provider could not be reached.
    #[error("cannot connect to {provider}: {message}")]
    Connection {
        /// The provider's name.
        provider: String,
        /// What the transport reported.
        message: String,
    },
    /// The response could not be read (not JSON, or missing the completion).
    #[error("{provider} sent a response Sigil cannot read: {message}")]
    BadResponse {
        /// The provider's name.
        provider: String,
        /// What was wrong with it.
        message: String,
    },
    /// The request asks for something this LM cannot do.
    #[error("the LM does not support {0}")]
    Unsupported(String),
    /// The prompt does not fit the model's context window (ReAct drops the oldest
    /// steps of its trajectory and tries again).
    #[error("{provider}: the prompt exceeds the context window: {message}")]
    ContextWindowExceeded {
        /// Who reported it.
        provider: String,
        /// What the provider said.
        message: String,
    },
    /// Any other failure (an LM implemented outside Sigil may use this).
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

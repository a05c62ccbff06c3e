//! Language-model clients: the [`Lm`] trait, requests and responses, and the layers in
//! front of a provider (cache, retries, concurrency limits, usage and cost).
//!
//! The client owns transport: formatting prompts is the adapter's job, and only
//! [`crate::module::Predict`] calls an LM.

mod anthropic;
mod cache;
mod config;
pub mod constraint;
mod gbnf;
mod openai;
mod openai_finetune;
mod options;
mod pricing;
mod retry;
#[cfg(test)]
pub(crate) mod test_server;
mod tools;
mod types;

pub use anthropic::{ANTHROPIC_BASE_URL, AnthropicClient, AnthropicConfig};
pub use cache::{CacheConfig, CacheKey, CacheStats, CachedLm, ResponseCache, default_cache_dir};
pub use config::{ApiKey, LmConfig, lm_from_config, lm_from_model_id};
pub use constraint::{CompiledConstraint, ConstraintError};
pub use gbnf::grammar as gbnf_grammar;
pub use openai::{
    OLLAMA_BASE_URL, OPENAI_BASE_URL, OpenAiClient, OpenAiConfig, ResponseFormatStyle,
    TokenLimitParam,
};
pub use openai_finetune::OpenAiFinetuner;
pub use options::{ClientOptions, WithClientOptions};
pub use pricing::{Price, PriceTable};
pub use retry::Backoff;
pub use tools::{BadToolArguments, LmToolCall, ToolChoice, ToolSpec};
pub use types::{LmError, LmParams, LmRequest, LmResponse, Message, OutputConstraint, Role, Usage};

use async_trait::async_trait;

/// A language model that answers chat requests.
///
/// Object-safe and `Send + Sync` so a program can hold `Arc<dyn Lm>` and call it from
/// many tasks at once.
#[async_trait]
pub trait Lm: Send + Sync {
    /// The model id, e.g. `openai/gpt-4o-mini` (never contains secrets).
    fn model_id(&self) -> String;

    /// Whether the provider enforces `response_format` JSON schemas (structured output).
    fn supports_structured_output(&self) -> bool {
        false
    }

    /// Whether the LM can enforce an [`OutputConstraint`] while decoding.
    fn supports_constraint(&self, constraint: &OutputConstraint) -> bool {
        let _ = constraint;
        false
    }

    /// Whether the LM takes [`LmRequest::tools`] and answers with
    /// [`LmResponse::tool_calls`] (DSPy's `supports_function_calling`). An LM that does
    /// not returns [`LmError::Unsupported`] for a request with tools, or ignores them.
    fn supports_native_tools(&self) -> bool {
        false
    }

    /// Sends one request.
    async fn call(&self, request: LmRequest) -> Result<LmResponse, LmError>;
}

#[async_trait]
impl<T: Lm + ?Sized> Lm for std::sync::Arc<T> {
    fn model_id(&self) -> String {
        (**self).model_id()
    }
    fn supports_structured_output(&self) -> bool {
        (**self).supports_structured_output()
    }
    fn supports_constraint(&self, constraint: &OutputConstraint) -> bool {
        (**self).supports_constraint(constraint)
    }
    fn supports_native_tools(&self) -> bool {
        (**self).supports_native_tools()
    }
    async fn call(&self, request: LmRequest) -> Result<LmResponse, LmError> {
        (**self).call(request).await
    }
}

//! Secrets, environment variables, and building an LM from a model id.
//!
//! Environment variables read:
//!
//! | variable | used for |
//! | --- | --- |
//! | `OPENAI_API_KEY` | `openai/<model>` |
//! | `SIGIL_OPENAI_BASE_URL`, then `OPENAI_BASE_URL` | an OpenAI-compatible server (vLLM, Ollama, llama.cpp) |
//! | `SIGIL_OPENAI_STRUCTURED_OUTPUT` | `1`/`0`: whether that server enforces JSON schemas |
//! | `ANTHROPIC_API_KEY` | `anthropic/<model>` |
//! | `SIGIL_ANTHROPIC_BASE_URL`, then `ANTHROPIC_BASE_URL` | another Anthropic endpoint |
//! | `OLLAMA_BASE_URL` | `ollama/<model>` (default `http://localhost:11434/v1`) |
//! | `SIGIL_CACHE_DIR` | the default cache directory (default `.sigil/cache`) |

use std::fmt;
use std::sync::Arc;

use super::anthropic::{AnthropicClient, AnthropicConfig};
use super::cache::{CacheConfig, CachedLm};
use super::openai::{OpenAiClient, OpenAiConfig};
use super::options::{ClientOptions, WithClientOptions};
use super::{Lm, LmError};

/// An API key. Its `Debug` is redacted, it has no `Display` or `Serialize`, and
/// clients never put it in errors, cache keys or cache files.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    /// Wraps a key.
    pub fn new(key: impl Into<String>) -> Self {
        ApiKey(key.into())
    }

    /// The key itself, for building request headers.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(<redacted>)")
    }
}

impl From<String> for ApiKey {
    fn from(s: String) -> Self {
        ApiKey(s)
    }
}

impl From<&str> for ApiKey {
    fn from(s: &str) -> Self {
        ApiKey(s.to_string())
    }
}

/// Reads a variable: `Some` only when set and not blank.
pub(crate) type EnvLookup<'a> = &'a dyn Fn(&str) -> Option<String>;

pub(crate) fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok()
}

pub(crate) fn env_nonempty(env: EnvLookup<'_>, name: &str) -> Option<String> {
    env(name)
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty())
}

pub(crate) fn env_first(env: EnvLookup<'_>, names: &[&str]) -> Option<String> {
    names.iter().find_map(|n| env_nonempty(env, n))
}

pub(crate) fn env_bool(env: EnvLookup<'_>, name: &str) -> Option<bool> {
    match env_nonempty(env, name)?.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Some(true),
        "0" | "false" | "no" | "off" => Some(false),
        _ => None,
    }
}

/// Splits `provider/model` at the first `/` (the model may contain more slashes).
fn split_model_id(id: &str) -> Result<(&str, &str), LmError> {
    match id.split_once('/') {
        Some((p, m)) if !p.is_empty() && !m.is_empty() => Ok((p, m)),
        _ => Err(LmError::Config(format!(
            "model id `{id}` is not of the form `provider/model` (e.g. `openai/gpt-4o-mini`, `anthropic/claude-3-5-haiku-latest`)"
        ))),
    }
}

/// The providers [`lm_from_model_id`] knows.
const PROVIDERS: &[&str] = &["openai", "anthropic", "ollama"];

/// How to build an LM: a model id plus optional overrides. Unset fields come from the
/// environment or the client's defaults.
///
/// ```no_run
/// # fn demo() -> Result<(), sigil::lm::LmError> {
/// use sigil::lm::{CacheConfig, LmConfig, WithClientOptions, lm_from_config};
/// let lm = lm_from_config(
///     LmConfig::new("openai/Qwen2.5-7B-Instruct")
///         .base_url("http://localhost:8000/v1")
///         .max_concurrency(32)
///         .cache(CacheConfig::default()),
/// )?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct LmConfig {
    /// `provider/model`.
    pub model: String,
    /// Endpoint, key and transport, for whichever client the model id picks (setters in
    /// [`WithClientOptions`]). An endpoint or key left unset comes from the environment.
    pub options: ClientOptions,
    /// Whether the (OpenAI-compatible) server enforces JSON schemas.
    pub structured_output: Option<bool>,
    /// The `response_format` dialect of an OpenAI-compatible server.
    pub response_format_style: Option<super::openai::ResponseFormatStyle>,
    /// Whether the (llama.cpp) server takes GBNF grammars (see [`OpenAiConfig::grammar`]).
    pub grammar: Option<bool>,
    /// Wrap the client in a [`CachedLm`] with this cache.
    pub cache: Option<CacheConfig>,
}

impl WithClientOptions for LmConfig {
    fn client_options(&mut self) -> &mut ClientOptions {
        &mut self.options
    }
}

impl LmConfig {
    /// A configuration for `provider/model`; everything else from the environment.
    pub fn new(model: impl Into<String>) -> Self {
        LmConfig {
            model: model.into(),
            ..Default::default()
        }
    }
    /// Sets [`LmConfig::structured_output`].
    pub fn structured_output(mut self, yes: bool) -> Self {
        self.structured_output = Some(yes);
        self
    }
    /// Sets [`LmConfig::response_format_style`].
    pub fn response_format_style(mut self, style: super::openai::ResponseFormatStyle) -> Self {
        self.response_format_style = Some(style);
        self
    }
    /// Sets [`LmConfig::grammar`].
    pub fn grammar(mut self, yes: bool) -> Self {
        self.grammar = Some(yes);
        self
    }
    /// Sets [`LmConfig::cache`].
    pub fn cache(mut self, cache: CacheConfig) -> Self {
        self.cache = Some(cache);
        self
    }
}

/// An LM for `openai/<model>`, `anthropic/<model>` or `ollama/<model>`, configured
/// from the environment (see the module docs). Not cached: wrap it in a
/// [`CachedLm`], or use [`lm_from_config`] with [`LmConfig::cache`].
pub fn lm_from_model_id(id: &str) -> Result<Arc<dyn Lm>, LmError> {
    lm_from_config(LmConfig::new(id))
}

/// An LM from explicit configuration, with the environment filling the gaps.
pub fn lm_from_config(config: LmConfig) -> Result<Arc<dyn Lm>, LmError> {
    lm_from_config_with_env(config, &process_env)
}

pub(crate) fn lm_from_config_with_env(
    config: LmConfig,
    env: EnvLookup<'_>,
) -> Result<Arc<dyn Lm>, LmError> {
    let (provider, _) = split_model_id(&config.model)?;
    let lm: Arc<dyn Lm> = match provider {
        "openai" | "ollama" => {
            let mut c = OpenAiConfig::from_env_unchecked(&config.model, env)?;
            c.options = c.options.under(config.options);
            if config.structured_output.is_some() {
                c.structured_output = config.structured_output;
            }
            if let Some(style) = config.response_format_style {
                c.response_format_style = style;
            }
            if let Some(yes) = config.grammar {
                c.grammar = yes;
            }
            c.require_credentials()?;
            Arc::new(OpenAiClient::new(c)?)
        }
        "anthropic" => {
            let mut c = AnthropicConfig::from_env_unchecked(&config.model, env)?;
            c.options = c.options.under(config.options);
            c.require_credentials()?;
            Arc::new(AnthropicClient::new(c)?)
        }
        other => {
            return Err(LmError::Config(format!(
                "unknown LM provider `{other}` in model id `{}`: expected one of {} \
                 (for another OpenAI-compatible server use `openai/<model>` with a base URL, \
                 e.g. SIGIL_OPENAI_BASE_URL)",
                config.model,
                PROVIDERS.join(", ")
            )));
        }
    };
    Ok(match config.cache {
        Some(cache) => Arc::new(CachedLm::with_config(lm, cache)?),
        None => lm,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn api_key_debug_is_redacted() {
        let k = ApiKey::new("sk-very-secret");
        assert!(!format!("{k:?}").contains("sk-very-secret"));
        let c = LmConfig::new("openai/gpt-4o-mini").api_key("sk-very-secret");
        assert!(!format!("{c:?}").contains("sk-very-secret"));
    }

    #[test]
    fn providers_dispatch() {
        let env = env_of(&[("OPENAI_API_KEY", "sk-o"), ("ANTHROPIC_API_KEY", "sk-a")]);
        let lm = lm_from_config_with_env(LmConfig::new("openai/gpt-4o-mini"), &env).unwrap();
        assert_eq!(lm.model_id(), "openai/gpt-4o-mini");
        assert!(lm.supports_structured_output());
        let lm = lm_from_config_with_env(LmConfig::new("anthropic/claude-3-5-haiku-latest"), &env)
            .unwrap();
        assert_eq!(lm.model_id(), "anthropic/claude-3-5-haiku-latest");
        let lm = lm_from_config_with_env(LmConfig::new("ollama/llama3.2"), &env_of(&[])).unwrap();
        assert_eq!(lm.model_id(), "ollama/llama3.2");
        assert!(!lm.supports_structured_output());
    }

    #[test]
    fn unknown_provider_and_bad_ids_are_clear_errors() {
        let env = env_of(&[]);
        let err = lm_from_config_with_env(LmConfig::new("mistral/large"), &env)
            .err()
            .map(|e| e.to_string());
        let err = err.unwrap_or_default();
        assert!(
            err.contains("unknown LM provider `mistral`") && err.contains("openai"),
            "{err}"
        );
        assert!(lm_from_config_with_env(LmConfig::new("gpt-4o"), &env).is_err());
        assert!(lm_from_config_with_env(LmConfig::new("openai/"), &env).is_err());
    }

    #[test]
    fn missing_key_is_an_error_unless_base_url() {
        let env = env_of(&[]);
        let err = lm_from_config_with_env(LmConfig::new("openai/gpt-4o-mini"), &env)
            .err()
            .map(|e| e.to_string());
        assert!(err.unwrap_or_default().contains("OPENAI_API_KEY"));
        let err = lm_from_config_with_env(LmConfig::new("anthropic/claude-3-5-haiku"), &env)
            .err()
            .map(|e| e.to_string());
        assert!(err.unwrap_or_default().contains("ANTHROPIC_API_KEY"));
        let local = env_of(&[("OPENAI_BASE_URL", "http://localhost:8000/v1")]);
        let lm = lm_from_config_with_env(LmConfig::new("openai/qwen"), &local).unwrap();
        assert!(
            !lm.supports_structured_output(),
            "local servers default to no structured output"
        );
        let lm =
            lm_from_config_with_env(LmConfig::new("openai/qwen").structured_output(true), &local)
                .unwrap();
        assert!(lm.supports_structured_output());
        let lm = lm_from_config_with_env(
            LmConfig::new("openai/qwen").base_url("http://127.0.0.1:1/v1"),
            &env,
        );
        assert!(lm.is_ok());
    }

    #[test]
    fn grammar_is_off_by_default_and_on_by_env_or_config() {
        use crate::lm::OutputConstraint;
        use crate::signature::FieldType;
        let chat = OutputConstraint::ChatFields {
            fields: vec![("answer".into(), FieldType::Str)],
        };
        let local = env_of(&[("OPENAI_BASE_URL", "http://localhost:8080/v1")]);
        let lm = lm_from_config_with_env(LmConfig::new("openai/llama"), &local).unwrap();
        assert!(!lm.supports_constraint(&chat));
        let lm =
            lm_from_config_with_env(LmConfig::new("openai/llama").grammar(true), &local).unwrap();
        assert!(lm.supports_constraint(&chat));
        let on = env_of(&[
            ("OPENAI_BASE_URL", "http://localhost:8080/v1"),
            ("SIGIL_OPENAI_GRAMMAR", "1"),
        ]);
        let lm = lm_from_config_with_env(LmConfig::new("openai/llama"), &on).unwrap();
        assert!(lm.supports_constraint(&chat));
        assert!(!lm.supports_constraint(&OutputConstraint::Choice { choices: vec![] }));
        let lm =
            lm_from_config_with_env(LmConfig::new("openai/llama").grammar(false), &on).unwrap();
        assert!(!lm.supports_constraint(&chat));
    }
}

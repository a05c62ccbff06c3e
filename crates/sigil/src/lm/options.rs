//! The settings every HTTP LM client shares, written once: [`ClientOptions`] and its
//! setters ([`WithClientOptions`]), held by [`OpenAiConfig`](super::OpenAiConfig),
//! [`AnthropicConfig`](super::AnthropicConfig) and [`LmConfig`](super::LmConfig).

use std::sync::Arc;
use std::time::Duration;

use super::config::ApiKey;
use super::pricing::PriceTable;
use super::retry::Backoff;

/// Endpoint, credentials and transport of an HTTP LM client.
///
/// Defaults: the provider's own endpoint, no key, 120 s per attempt, 16 requests in
/// flight, 3 retries with the default backoff, the built-in price table.
#[derive(Clone, Debug)]
pub struct ClientOptions {
    /// `None`: the provider's endpoint (or the one its environment variable names).
    /// For OpenAI-compatible servers, up to and including the version segment
    /// (`http://localhost:8000/v1`); for Anthropic, the host (`/v1` is accepted too).
    pub base_url: Option<String>,
    /// Optional: local servers usually take none.
    pub api_key: Option<ApiKey>,
    /// Per HTTP attempt, body included.
    pub timeout: Duration,
    /// Requests in flight at once through this client.
    pub max_concurrency: usize,
    /// Retries after the first attempt on 408, 429, 5xx, timeouts and connection errors.
    pub max_retries: u32,
    /// How long to wait between retries.
    pub backoff: Backoff,
    /// Prices the usage of each response (`LmResponse::usage.cost_usd`).
    pub prices: Arc<PriceTable>,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            base_url: None,
            api_key: None,
            timeout: Duration::from_secs(120),
            max_concurrency: 16,
            max_retries: 3,
            backoff: Backoff::default(),
            prices: PriceTable::shared_builtin(),
        }
    }
}

impl ClientOptions {
    /// `top` over `self`: `top`'s endpoint and key where it names them (else these,
    /// which may come from the environment), and `top`'s transport settings.
    pub(crate) fn under(self, top: ClientOptions) -> ClientOptions {
        ClientOptions {
            base_url: top.base_url.or(self.base_url),
            api_key: top.api_key.or(self.api_key),
            ..top
        }
    }

    /// The base URL, or `default` when none is set.
    pub(crate) fn base_url_or<'a>(&'a self, default: &'a str) -> &'a str {
        self.base_url.as_deref().unwrap_or(default)
    }
}

/// The setters of [`ClientOptions`], on every config that holds them. In the prelude
/// and in `sigil::lm`, so `OpenAiConfig::new(..).base_url(..)` reads as a builder.
///
/// ```
/// use std::time::Duration;
/// use sigil::lm::{LmConfig, OpenAiConfig, WithClientOptions};
///
/// let c = OpenAiConfig::new("openai/smollm2")
///     .base_url("http://127.0.0.1:8080/v1")
///     .timeout(Duration::from_secs(30));
/// assert_eq!(c.options.max_retries, 3);
/// let lm = LmConfig::new("openai/smollm2").max_retries(0);
/// assert_eq!(lm.options.max_retries, 0);
/// ```
pub trait WithClientOptions: Sized {
    /// The options these setters change.
    fn client_options(&mut self) -> &mut ClientOptions;

    /// Sets [`ClientOptions::base_url`].
    fn base_url(mut self, url: impl Into<String>) -> Self {
        self.client_options().base_url = Some(url.into());
        self
    }
    /// Sets [`ClientOptions::api_key`].
    fn api_key(mut self, key: impl Into<ApiKey>) -> Self {
        self.client_options().api_key = Some(key.into());
        self
    }
    /// Sets [`ClientOptions::timeout`].
    fn timeout(mut self, timeout: Duration) -> Self {
        self.client_options().timeout = timeout;
        self
    }
    /// Sets [`ClientOptions::max_concurrency`].
    fn max_concurrency(mut self, n: usize) -> Self {
        self.client_options().max_concurrency = n;
        self
    }
    /// Sets [`ClientOptions::max_retries`].
    fn max_retries(mut self, n: u32) -> Self {
        self.client_options().max_retries = n;
        self
    }
    /// Sets [`ClientOptions::backoff`].
    fn backoff(mut self, backoff: Backoff) -> Self {
        self.client_options().backoff = backoff;
        self
    }
    /// Sets [`ClientOptions::prices`].
    fn prices(mut self, prices: Arc<PriceTable>) -> Self {
        self.client_options().prices = prices;
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_top_layer_wins_except_where_it_names_no_endpoint_or_key() {
        let env = ClientOptions {
            base_url: Some("http://env/v1".into()),
            api_key: Some(ApiKey::new("k-env")),
            ..ClientOptions::default()
        };
        let top = ClientOptions {
            max_retries: 0,
            ..ClientOptions::default()
        };
        let merged = env.clone().under(top);
        assert_eq!(merged.base_url.as_deref(), Some("http://env/v1"));
        assert_eq!(merged.api_key, Some(ApiKey::new("k-env")));
        assert_eq!(merged.max_retries, 0);
        let top = ClientOptions {
            base_url: Some("http://flag/v1".into()),
            ..ClientOptions::default()
        };
        assert_eq!(
            env.under(top).base_url_or("http://default/v1"),
            "http://flag/v1"
        );
        assert_eq!(
            ClientOptions::default().base_url_or("http://default/v1"),
            "http://default/v1"
        );
    }
}

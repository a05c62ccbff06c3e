//! What tokens cost: a table of USD prices per million tokens, keyed by model id.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use serde::{Deserialize, Serialize};

use super::{LmError, Usage};

/// Prices in USD per million tokens.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Price {
    /// Input (prompt) tokens.
    pub input_per_mtok: f64,
    /// Output (completion) tokens.
    pub output_per_mtok: f64,
    /// Input tokens read from the provider's prompt cache; `None` means the input price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cached_input_per_mtok: Option<f64>,
    /// Input tokens written to the provider's prompt cache (Anthropic); `None` means the input price.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache_write_per_mtok: Option<f64>,
}

impl Price {
    /// A price with no separate cache prices.
    pub const fn new(input_per_mtok: f64, output_per_mtok: f64) -> Self {
        Price {
            input_per_mtok,
            output_per_mtok,
            cached_input_per_mtok: None,
            cache_write_per_mtok: None,
        }
    }

    /// Sets [`Price::cached_input_per_mtok`].
    pub const fn with_cached_input(mut self, cached_input_per_mtok: f64) -> Self {
        self.cached_input_per_mtok = Some(cached_input_per_mtok);
        self
    }

    /// Sets [`Price::cache_write_per_mtok`].
    pub const fn with_cache_write(mut self, cache_write_per_mtok: f64) -> Self {
        self.cache_write_per_mtok = Some(cache_write_per_mtok);
        self
    }

    /// The cost of `usage`, whose `cached_tokens` are a part of its `input_tokens`.
    pub fn cost(&self, usage: &Usage) -> f64 {
        self.cost_with_cache_writes(usage, 0)
    }

    /// Like [`Price::cost`], with `cache_write_tokens` of the input billed as cache writes.
    pub fn cost_with_cache_writes(&self, usage: &Usage, cache_write_tokens: u64) -> f64 {
        let cached = usage.cached_tokens.min(usage.input_tokens);
        let writes = cache_write_tokens.min(usage.input_tokens - cached);
        let plain = usage.input_tokens - cached - writes;
        let cached_price = self.cached_input_per_mtok.unwrap_or(self.input_per_mtok);
        let write_price = self.cache_write_per_mtok.unwrap_or(self.input_per_mtok);
        (plain as f64 * self.input_per_mtok
            + cached as f64 * cached_price
            + writes as f64 * write_price
            + usage.output_tokens as f64 * self.output_per_mtok)
            / 1_000_000.0
    }
}

/// Prices keyed by model id (`openai/gpt-4o-mini`, `anthropic/claude-3-5-haiku`, or a
/// bare model name). Start from [`PriceTable::builtin`] and [`insert`](Self::insert)
/// your own models; an unknown model costs 0.
///
/// A lookup tries the id as given, then the provider-less name, then both without a
/// trailing date (`-2024-07-18`, `-20241022`) or `-latest`, so dated snapshots find
/// their family's price.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PriceTable {
    prices: HashMap<String, Price>,
}

/// Shipped prices (USD per million tokens, list prices at the time of writing; check
/// your provider's page and override what has changed).
const BUILTIN: &[(&str, Price)] = &[
    (
        "openai/gpt-4o",
        Price::new(2.50, 10.00).with_cached_input(1.25),
    ),
    (
        "openai/gpt-4o-mini",
        Price::new(0.15, 0.60).with_cached_input(0.075),
    ),
    (
        "openai/gpt-4.1",
        Price::new(2.00, 8.00).with_cached_input(0.50),
    ),
    (
        "openai/gpt-4.1-mini",
        Price::new(0.40, 1.60).with_cached_input(0.10),
    ),
    (
        "openai/gpt-4.1-nano",
        Price::new(0.10, 0.40).with_cached_input(0.025),
    ),
    (
        "openai/o3-mini",
        Price::new(1.10, 4.40).with_cached_input(0.55),
    ),
    (
        "openai/o4-mini",
        Price::new(1.10, 4.40).with_cached_input(0.275),
    ),
    ("openai/gpt-3.5-turbo", Price::new(0.50, 1.50)),
    (
        "anthropic/claude-3-haiku",
        Price::new(0.25, 1.25)
            .with_cached_input(0.03)
            .with_cache_write(0.30),
    ),
    (
        "anthropic/claude-3-5-haiku",
        Price::new(0.80, 4.00)
            .with_cached_input(0.08)
            .with_cache_write(1.00),
    ),
    (
        "anthropic/claude-3-5-sonnet",
        Price::new(3.00, 15.00)
            .with_cached_input(0.30)
            .with_cache_write(3.75),
    ),
    (
        "anthropic/claude-3-7-sonnet",
        Price::new(3.00, 15.00)
            .with_cached_input(0.30)
            .with_cache_write(3.75),
    ),
    (
        "anthropic/claude-sonnet-4",
        Price::new(3.00, 15.00)
            .with_cached_input(0.30)
            .with_cache_write(3.75),
    ),
    (
        "anthropic/claude-opus-4",
        Price::new(15.00, 75.00)
            .with_cached_input(1.50)
            .with_cache_write(18.75),
    ),
];

impl PriceTable {
    /// An empty table: every model costs 0.
    pub fn empty() -> Self {
        PriceTable::default()
    }

    /// The shipped prices for common OpenAI and Anthropic models.
    pub fn builtin() -> Self {
        PriceTable {
            prices: BUILTIN.iter().map(|(k, p)| (k.to_string(), *p)).collect(),
        }
    }

    /// The shipped table, shared (what clients use unless configured otherwise).
    pub fn shared_builtin() -> Arc<PriceTable> {
        static TABLE: OnceLock<Arc<PriceTable>> = OnceLock::new();
        TABLE
            .get_or_init(|| Arc::new(PriceTable::builtin()))
            .clone()
    }

    /// Sets the price of a model id, replacing any previous one.
    pub fn insert(&mut self, model_id: impl Into<String>, price: Price) -> &mut Self {
        self.prices.insert(model_id.into(), price);
        self
    }

    /// Builder form of [`insert`](Self::insert).
    pub fn with(mut self, model_id: impl Into<String>, price: Price) -> Self {
        self.insert(model_id, price);
        self
    }

    /// Adds (or replaces) prices from JSON: `{"openai/my-model": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}}`.
    pub fn extend_from_json(&mut self, json: &str) -> Result<(), LmError> {
        let more: HashMap<String, Price> = serde_json::from_str(json)
            .map_err(|e| LmError::Config(format!("invalid price table JSON: {e}")))?;
        self.prices.extend(more);
        Ok(())
    }

    /// The number of priced model ids.
    pub fn len(&self) -> usize {
        self.prices.len()
    }

    /// Whether no model has a price.
    pub fn is_empty(&self) -> bool {
        self.prices.is_empty()
    }

    /// The price of a model id, if known (see the type's docs for the lookup order).
    pub fn get(&self, model_id: &str) -> Option<&Price> {
        let bare = model_id.split_once('/').map(|(_, m)| m);
        let candidates = [Some(model_id), bare];
        for c in candidates.iter().flatten() {
            if let Some(p) = self.prices.get(*c) {
                return Some(p);
            }
        }
        candidates.iter().flatten().find_map(|c| {
            let base = strip_version_suffix(c);
            (base.len() != c.len())
                .then(|| self.prices.get(base))
                .flatten()
        })
    }

    /// The cost of `usage` on the first of `model_ids` with a known price; 0 if none.
    pub fn cost(&self, model_ids: &[&str], usage: &Usage, cache_write_tokens: u64) -> f64 {
        model_ids
            .iter()
            .find_map(|id| self.get(id))
            .map_or(0.0, |p| p.cost_with_cache_writes(usage, cache_write_tokens))
    }
}

/// `gpt-4o-mini-2024-07-18` → `gpt-4o-mini`, `claude-3-5-haiku-20241022` →
/// `claude-3-5-haiku`, `claude-3-5-haiku-latest` → `claude-3-5-haiku`.
fn strip_version_suffix(id: &str) -> &str {
    if let Some(s) = id.strip_suffix("-latest") {
        return s;
    }
    let b = id.as_bytes();
    let digits = |s: &[u8]| s.iter().all(u8::is_ascii_digit);
    let n = b.len();
    // `-YYYY-MM-DD`
    if n > 11
        && b[n - 11] == b'-'
        && b[n - 6] == b'-'
        && b[n - 3] == b'-'
        && digits(&b[n - 10..n - 6])
        && digits(&b[n - 5..n - 3])
        && digits(&b[n - 2..])
    {
        return &id[..n - 11];
    }
    // `-YYYYMMDD`
    if n > 9 && b[n - 9] == b'-' && digits(&b[n - 8..]) {
        return &id[..n - 9];
    }
    id
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffixes_strip() {
        assert_eq!(
            strip_version_suffix("gpt-4o-mini-2024-07-18"),
            "gpt-4o-mini"
        );
        assert_eq!(
            strip_version_suffix("claude-3-5-haiku-20241022"),
            "claude-3-5-haiku"
        );
        assert_eq!(
            strip_version_suffix("claude-3-5-haiku-latest"),
            "claude-3-5-haiku"
        );
        assert_eq!(strip_version_suffix("gpt-4o"), "gpt-4o");
        assert_eq!(strip_version_suffix("x-12"), "x-12");
    }

    #[test]
    fn lookup_and_cost() {
        let t = PriceTable::builtin();
        let usage = Usage {
            input_tokens: 1_000_000,
            output_tokens: 1_000_000,
            cached_tokens: 0,
            cost_usd: 0.0,
        };
        assert!((t.cost(&["openai/gpt-4o-mini"], &usage, 0) - 0.75).abs() < 1e-9);
        assert!((t.cost(&["openai/gpt-4o-mini-2024-07-18"], &usage, 0) - 0.75).abs() < 1e-9);
        assert!((t.cost(&["anthropic/claude-3-5-haiku-20241022"], &usage, 0) - 4.8).abs() < 1e-9);
        assert_eq!(t.cost(&["openai/unknown-model"], &usage, 0), 0.0);
        assert_eq!(t.cost(&["nope/x", "openai/gpt-4o"], &usage, 0), 12.5);

        let cached = Usage {
            input_tokens: 1_000_000,
            output_tokens: 0,
            cached_tokens: 400_000,
            cost_usd: 0.0,
        };
        let p = t
            .get("openai/gpt-4o")
            .copied()
            .unwrap_or(Price::new(0.0, 0.0));
        assert!((p.cost(&cached) - (0.6 * 2.5 + 0.4 * 1.25)).abs() < 1e-9);
        let a = t
            .get("anthropic/claude-3-5-sonnet")
            .copied()
            .unwrap_or(Price::new(0.0, 0.0));
        assert!(
            (a.cost_with_cache_writes(&cached, 100_000) - (0.5 * 3.0 + 0.4 * 0.3 + 0.1 * 3.75))
                .abs()
                < 1e-9
        );
    }

    #[test]
    fn users_extend() {
        let mut t = PriceTable::builtin().with("openai/my-ft", Price::new(1.0, 2.0));
        t.extend_from_json(r#"{"llama3": {"input_per_mtok": 0.5, "output_per_mtok": 0.5}}"#)
            .unwrap();
        assert!(t.get("openai/my-ft").is_some());
        assert!(
            t.get("ollama/llama3").is_some(),
            "bare names match any provider"
        );
        assert!(t.extend_from_json("not json").is_err());
    }
}

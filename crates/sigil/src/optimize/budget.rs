//! The LM budget: limits on calls, tokens and cost, enforced by an LM wrapper that
//! refuses any call that could take the spend past a limit.
//!
//! Every call reserves an upper bound of its spend before it is sent: one call, its
//! input tokens bounded by the prompt's bytes (a byte-level tokenizer never makes
//! more tokens than bytes) plus a per-message allowance, and its output tokens bounded
//! by `max_tokens` (set to [`Budget::output_reserve`] when a token or cost limit is set
//! and the request has none). A call is refused when spend plus reservations of the
//! calls in flight plus its own reservation would pass a limit, so concurrent calls
//! cannot overshoot together. Responses served from the request cache cost nothing;
//! with [`super::EngineConfig::request_cache`] the cache sits in front of the budget,
//! so cache hits are never refused either.

use std::fmt;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::lm::{Lm, LmError, LmRequest, LmResponse, OutputConstraint, Price, PriceTable, Usage};

/// Limits on what an optimization may spend. `None` is no limit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    /// LM calls, counting only those the provider answers.
    pub max_calls: Option<u64>,
    /// Input plus output tokens.
    pub max_tokens: Option<u64>,
    /// Cost in US dollars.
    pub max_cost_usd: Option<f64>,
    /// Output tokens reserved per call when the request sets no `max_tokens` (default 1024).
    pub output_reserve: Option<u32>,
    /// Price to assume for cost limits; else the built-in price table by model id.
    pub price: Option<Price>,
}

impl Budget {
    /// No limits.
    pub fn unlimited() -> Self {
        Budget::default()
    }
    /// Sets [`Budget::max_calls`].
    pub fn max_calls(mut self, n: u64) -> Self {
        self.max_calls = Some(n);
        self
    }
    /// Sets [`Budget::max_tokens`].
    pub fn max_tokens(mut self, n: u64) -> Self {
        self.max_tokens = Some(n);
        self
    }
    /// Sets [`Budget::max_cost_usd`].
    pub fn max_cost_usd(mut self, usd: f64) -> Self {
        self.max_cost_usd = Some(usd);
        self
    }
    /// Sets [`Budget::output_reserve`].
    pub fn output_reserve(mut self, tokens: u32) -> Self {
        self.output_reserve = Some(tokens);
        self
    }
    /// Sets [`Budget::price`].
    pub fn price(mut self, price: Price) -> Self {
        self.price = Some(price);
        self
    }
    /// Whether no limit is set.
    pub fn is_unlimited(&self) -> bool {
        self.max_calls.is_none() && self.max_tokens.is_none() && self.max_cost_usd.is_none()
    }
    fn limits_tokens(&self) -> bool {
        self.max_tokens.is_some() || self.max_cost_usd.is_some()
    }
    /// Whether `spend` fits in every limit.
    pub fn allows(&self, spend: &Spend) -> bool {
        self.max_calls.is_none_or(|m| spend.lm_calls <= m)
            && self.max_tokens.is_none_or(|m| spend.total_tokens() <= m)
            && self.max_cost_usd.is_none_or(|m| spend.cost_usd <= m)
    }
}

impl fmt::Display for Budget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(n) = self.max_calls {
            parts.push(format!("{n} LM calls"));
        }
        if let Some(n) = self.max_tokens {
            parts.push(format!("{n} tokens"));
        }
        if let Some(c) = self.max_cost_usd {
            parts.push(format!("${c:.4}"));
        }
        if parts.is_empty() {
            parts.push("unlimited".into());
        }
        write!(f, "{}", parts.join(", "))
    }
}

/// LM spend: provider calls (cache hits excluded), tokens and cost.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Spend {
    /// Calls the provider answered.
    pub lm_calls: u64,
    /// Input tokens.
    pub input_tokens: u64,
    /// Output tokens.
    pub output_tokens: u64,
    /// Cost in US dollars.
    pub cost_usd: f64,
    /// Calls answered from the request cache (free).
    #[serde(default)]
    pub cache_hits: u64,
}

impl Spend {
    /// Input plus output tokens.
    pub fn total_tokens(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
    /// Adds `other` to this.
    pub fn add(&mut self, other: &Spend) {
        self.lm_calls += other.lm_calls;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cost_usd += other.cost_usd;
        self.cache_hits += other.cache_hits;
    }
}

impl fmt::Display for Spend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} LM calls, {} tokens",
            self.lm_calls,
            self.total_tokens()
        )?;
        if self.cost_usd > 0.0 {
            write!(f, ", ${:.4}", self.cost_usd)?;
        }
        Ok(())
    }
}

/// A dry-run estimate of a run's spend, computed without any LM call.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SpendEstimate {
    /// The first step that must run (e.g. scoring the unoptimized program).
    pub baseline: Spend,
    /// The whole run.
    pub total: Spend,
    /// How the numbers were reached, for people.
    pub breakdown: Vec<String>,
}

impl fmt::Display for SpendEstimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "estimated spend: {} (baseline {})",
            self.total, self.baseline
        )?;
        for line in &self.breakdown {
            write!(f, "\n  - {line}")?;
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
struct Ledger {
    spent: Spend,
    reserved_calls: u64,
    reserved_tokens: u64,
    reserved_cost: f64,
    refused: u64,
}

/// The shared account of one optimization: every [`BudgetedLm`] made from it draws on it.
#[derive(Debug)]
pub(crate) struct BudgetState {
    budget: Budget,
    ledger: Mutex<Ledger>,
}

impl BudgetState {
    pub(crate) fn new(budget: Budget, already_spent: Spend) -> Arc<Self> {
        Arc::new(BudgetState {
            budget,
            ledger: Mutex::new(Ledger {
                spent: already_spent,
                ..Ledger::default()
            }),
        })
    }
    fn ledger(&self) -> std::sync::MutexGuard<'_, Ledger> {
        // A poisoned ledger only means a panic elsewhere mid-update; its numbers are still the best we have.
        self.ledger.lock().unwrap_or_else(|e| e.into_inner())
    }
    pub(crate) fn spent(&self) -> Spend {
        self.ledger().spent
    }
    /// How many calls were refused so far.
    pub(crate) fn refused(&self) -> u64 {
        self.ledger().refused
    }
    /// The price used for cost limits for `model_id`.
    pub(crate) fn price_for(&self, model_id: &str) -> Option<Price> {
        self.budget
            .price
            .or_else(|| PriceTable::shared_builtin().get(model_id).copied())
    }
    /// Wraps `lm` so its calls draw on this budget.
    pub(crate) fn wrap(self: &Arc<Self>, lm: Arc<dyn Lm>) -> Arc<dyn Lm> {
        let price = self.price_for(&lm.model_id());
        Arc::new(BudgetedLm {
            inner: lm,
            state: self.clone(),
            price,
        })
    }
}

/// An LM that refuses calls past its [`Budget`]. Refusals are `LmError::Other`
/// whose message starts with `budget exhausted`.
pub(crate) struct BudgetedLm {
    inner: Arc<dyn Lm>,
    state: Arc<BudgetState>,
    price: Option<Price>,
}

/// An upper bound of a request's input tokens for a byte-level tokenizer.
pub(crate) fn input_token_bound(request: &LmRequest) -> u64 {
    let messages: u64 = request
        .messages
        .iter()
        .map(|m| m.content.len() as u64 + 16)
        .sum();
    // Native tools are prompt tokens too (the provider renders their specs).
    let tools: u64 = request
        .tools
        .iter()
        .map(|t| serde_json::to_string(t).map_or(0, |s| s.len() as u64) + 16)
        .sum();
    16 + messages + tools
}

fn cost_of(price: Option<Price>, input: u64, output: u64) -> f64 {
    price.map_or(0.0, |p| {
        p.cost(&Usage {
            input_tokens: input,
            output_tokens: output,
            ..Usage::default()
        })
    })
}

#[async_trait]
impl Lm for BudgetedLm {
    fn model_id(&self) -> String {
        self.inner.model_id()
    }
    fn supports_structured_output(&self) -> bool {
        self.inner.supports_structured_output()
    }
    fn supports_constraint(&self, constraint: &OutputConstraint) -> bool {
        self.inner.supports_constraint(constraint)
    }
    fn supports_native_tools(&self) -> bool {
        self.inner.supports_native_tools()
    }

    async fn call(&self, mut request: LmRequest) -> Result<LmResponse, LmError> {
        let budget = &self.state.budget;
        if budget.limits_tokens() && request.params.max_tokens.is_none() {
            request.params.max_tokens = Some(budget.output_reserve.unwrap_or(1024));
        }
        let tokens =
            input_token_bound(&request) + u64::from(request.params.max_tokens.unwrap_or(0));
        let out = u64::from(request.params.max_tokens.unwrap_or(0));
        let cost = cost_of(self.price, tokens - out, out);
        {
            let mut l = self.state.ledger();
            let over_calls = budget
                .max_calls
                .is_some_and(|m| l.spent.lm_calls + l.reserved_calls + 1 > m);
            let over_tokens = budget
                .max_tokens
                .is_some_and(|m| l.spent.total_tokens() + l.reserved_tokens + tokens > m);
            let over_cost = budget
                .max_cost_usd
                .is_some_and(|m| l.spent.cost_usd + l.reserved_cost + cost > m);
            if over_calls || over_tokens || over_cost {
                l.refused += 1;
                return Err(LmError::Other(format!(
                    "budget exhausted: {} spent of {budget}; this call was not sent",
                    l.spent
                )));
            }
            l.reserved_calls += 1;
            l.reserved_tokens += tokens;
            l.reserved_cost += cost;
        }
        let result = self.inner.call(request).await;
        let mut l = self.state.ledger();
        l.reserved_calls -= 1;
        l.reserved_tokens -= tokens;
        l.reserved_cost = (l.reserved_cost - cost).max(0.0);
        match &result {
            Ok(r) if r.cache_hit => l.spent.cache_hits += 1,
            Ok(r) => {
                l.spent.lm_calls += 1;
                l.spent.input_tokens += r.usage.input_tokens;
                l.spent.output_tokens += r.usage.output_tokens;
                l.spent.cost_usd += if r.usage.cost_usd > 0.0 {
                    r.usage.cost_usd
                } else {
                    cost_of(self.price, r.usage.input_tokens, r.usage.output_tokens)
                };
            }
            // A failed call may still have been billed; count it as one call without tokens.
            Err(_) => l.spent.lm_calls += 1,
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lm::Message;
    use crate::testing::ScriptedLm;

    fn req(text: &str) -> LmRequest {
        LmRequest::new(vec![Message::user(text)])
    }

    #[tokio::test]
    async fn call_limit_is_never_passed_even_concurrently() {
        let state = BudgetState::new(Budget::unlimited().max_calls(5), Spend::default());
        let inner = Arc::new(ScriptedLm::from_fn(|_| Ok("ok".into())));
        let lm = state.wrap(inner.clone());
        let results =
            futures::future::join_all((0..12).map(|i| lm.call(req(&format!("q{i}"))))).await;
        assert_eq!(results.iter().filter(|r| r.is_ok()).count(), 5);
        assert_eq!(inner.calls(), 5, "refused calls never reach the LM");
        assert_eq!(state.spent().lm_calls, 5);
        assert_eq!(state.refused(), 7);
        let err = results
            .iter()
            .find_map(|r| r.as_ref().err())
            .unwrap()
            .to_string();
        assert!(err.starts_with("budget exhausted"), "{err}");
    }

    #[tokio::test]
    async fn token_limit_reserves_an_upper_bound() {
        let state = BudgetState::new(
            Budget::unlimited().max_tokens(400).output_reserve(10),
            Spend::default(),
        );
        let inner = Arc::new(ScriptedLm::from_fn(|_| Ok("a b c".into())));
        let lm = state.wrap(inner.clone());
        let mut ok = 0;
        for i in 0..50 {
            if lm.call(req(&format!("one two three {i}"))).await.is_ok() {
                ok += 1;
            }
        }
        assert!(ok > 0);
        assert!(state.spent().total_tokens() <= 400);
        assert!(
            inner
                .requests()
                .iter()
                .all(|r| r.params.max_tokens == Some(10))
        );
    }

    #[tokio::test]
    async fn cache_hits_are_free() {
        // The wrapper cannot know in advance that a call will hit the cache, so it
        // needs room for one more call, but a hit spends nothing.
        let state = BudgetState::new(Budget::unlimited().max_calls(2), Spend::default());
        let inner: Arc<dyn Lm> = Arc::new(ScriptedLm::from_fn(|_| Ok("ok".into())));
        let cached: Arc<dyn Lm> = Arc::new(crate::lm::CachedLm::memory_only(inner, 16));
        let lm = state.wrap(cached);
        for _ in 0..5 {
            lm.call(req("same")).await.unwrap();
        }
        assert_eq!(state.spent().lm_calls, 1);
        assert_eq!(state.spent().cache_hits, 4);
    }

    #[tokio::test]
    async fn cost_limit_uses_the_price() {
        let price = Price::new(1_000_000.0, 1_000_000.0); // $1 per token
        let state = BudgetState::new(
            Budget::unlimited()
                .max_cost_usd(100.0)
                .price(price)
                .output_reserve(4),
            Spend::default(),
        );
        let lm = state.wrap(Arc::new(ScriptedLm::from_fn(|_| Ok("x".into()))));
        let mut ok = 0;
        for _ in 0..40 {
            ok += usize::from(lm.call(req("hello")).await.is_ok());
        }
        assert!(ok > 1);
        assert!(state.spent().cost_usd <= 100.0, "{:?}", state.spent());
        assert!(state.refused() > 0);
    }
}

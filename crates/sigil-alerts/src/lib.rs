//! # sigil-alerts: alert rules over the Sigil trace store
//!
//! Alert rules evaluated over the [`sigil_store::Store`]: error rate, p95 latency, cost per hour, score
//! regression between two artifact versions, and input drift (the share of recent
//! production inputs lexically far from the trainset). `sigil alerts check --rules
//! FILE` loads a [`RuleSet`], calls [`evaluate`], prints the [`AlertReport`], posts
//! firing alerts with [`post_webhook`] and exits non-zero when one fires.
//!
//! A rules file (TOML; `.json` files are read as JSON with the same shape):
//!
//! ```toml
//! webhook = "https://hooks.example.com/sigil"   # optional: firing alerts are POSTed here
//!
//! [[rule]]
//! name = "qa errors"
//! kind = "error_rate"      # share of traces with an error status
//! program = "qa"           # optional: one program (default: all)
//! window = "1h"            # look-back (s, m, h, d; default 1h)
//! max = 0.05
//!
//! [[rule]]
//! kind = "p95_latency"
//! max_ms = 2000
//!
//! [[rule]]
//! kind = "cost_per_hour"   # spend over the window, per hour
//! max_usd = 5.0
//!
//! [[rule]]
//! kind = "score_regression" # mean evaluation score of two artifact versions
//! program = "qa"
//! baseline = "3f2a9c"       # an artifact hash, or "uncompiled"
//! candidate = "latest"      # an artifact hash, "latest" (newest evaluated artifact) or "uncompiled"
//! max_drop = 0.02
//!
//! [[rule]]
//! kind = "input_drift"
//! program = "qa"
//! trainset = "data/train.jsonl"   # JSONL or CSV; relative to the rules file
//! fields = ["question"]           # input fields compared (default: every field)
//! min_similarity = 0.2            # an input is far when its best Jaccard similarity is below this
//! max_share = 0.3                 # fires when a larger share of recent inputs is far
//! window = "24h"
//! ```
//!
//! `embedding_drift` rules need a sentence embedder and are measured by
//! [`drift::evaluate_with_embedder`]; [`evaluate`] reports them as no-data.
//!
//! Kept apart from `sigil-store` so that the store stays storage and queries: this
//! crate brings the rules language, the drift measures and an HTTP client (webhooks).

pub mod drift;
mod evaluate;
mod lexical;
mod rules;
mod webhook;

use std::path::PathBuf;

use sigil_store::StoreError;

pub use evaluate::{AlertReport, AlertResult, AlertStatus, count_by_status, evaluate};
pub use rules::{Check, Rule, RuleSet, parse_window};
pub use webhook::post_webhook;

/// Why rules could not be loaded or checked.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error("cannot read rules file {path}: {message}")]
    Read { path: PathBuf, message: String },
    #[error("rules file {path} is malformed: {message}")]
    Malformed { path: PathBuf, message: String },
    #[error("rule `{rule}`: {message}")]
    BadRule { rule: String, message: String },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("webhook {url}: {message}")]
    Webhook { url: String, message: String },
}

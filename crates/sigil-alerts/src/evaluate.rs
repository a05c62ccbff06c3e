//! Evaluating rules against the store.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};
use sigil::trace::SpanKind;
use sigil_store::{Store, TraceFilter, TraceSummary};

use crate::AlertError;
use crate::lexical::{best_similarity, load_trainset, select_text, tokens};
use crate::rules::{Check, RuleSet};

/// How a rule came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AlertStatus {
    Ok,
    Firing,
    /// Not enough data to judge (no traces in the window, no evaluations).
    NoData,
}

/// One rule's outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertResult {
    pub rule: String,
    pub kind: String,
    pub program: Option<String>,
    pub status: AlertStatus,
    /// The measured value (share, ms, USD per hour, score drop, drift share).
    pub value: Option<f64>,
    pub threshold: f64,
    /// A sentence a person can act on.
    pub message: String,
}

/// Every rule's outcome.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AlertReport {
    pub checked_at_ns: u64,
    pub results: Vec<AlertResult>,
}

impl AlertReport {
    pub fn firing(&self) -> impl Iterator<Item = &AlertResult> {
        self.results
            .iter()
            .filter(|r| r.status == AlertStatus::Firing)
    }
    pub fn any_firing(&self) -> bool {
        self.firing().next().is_some()
    }
}

/// Evaluates every rule against the store at time `now_ns`. A rule that cannot be
/// evaluated (unreadable trainset) is an error; a rule without data is `NoData`.
pub fn evaluate(store: &Store, rules: &RuleSet, now_ns: u64) -> Result<AlertReport, AlertError> {
    let mut results = Vec::new();
    for rule in &rules.rules {
        let window = rule.window()?;
        let since = now_ns.saturating_sub(window.as_nanos() as u64);
        let mut filter = TraceFilter::default()
            .since_ns(since)
            .until_ns(now_ns.saturating_add(1))
            .limit(0);
        if let Some(p) = &rule.program {
            filter = filter.program(p.clone());
        }
        let production = filter.clone().root_kind(SpanKind::Module);
        let w = rule.window.clone().unwrap_or_else(|| "1h".into());
        let mut result = AlertResult {
            rule: rule.label(),
            kind: rule.check.kind().into(),
            program: rule.program.clone(),
            status: AlertStatus::NoData,
            value: None,
            threshold: 0.0,
            message: String::new(),
        };
        let fire = |r: &mut AlertResult, value: f64, threshold: f64, over: bool, what: String| {
            r.value = Some(value);
            r.threshold = threshold;
            r.status = if over {
                AlertStatus::Firing
            } else {
                AlertStatus::Ok
            };
            r.message = what;
        };
        match &rule.check {
            Check::ErrorRate { max } => {
                let traces = store.traces(&production)?;
                if traces.is_empty() {
                    result.message = format!("no traces in the last {w}");
                } else {
                    let errors = traces.iter().filter(|t| t.status == "error").count();
                    let rate = errors as f64 / traces.len() as f64;
                    let msg = format!(
                        "{errors} of {} traces failed in the last {w} ({:.1}%, max {:.1}%)",
                        traces.len(),
                        100.0 * rate,
                        100.0 * max
                    );
                    fire(&mut result, rate, *max, rate > *max, msg);
                }
            }
            Check::P95Latency { max_ms } => {
                let mut lat: Vec<f64> = store
                    .traces(&production)?
                    .iter()
                    .map(|t| t.duration_ms)
                    .collect();
                if lat.is_empty() {
                    result.message = format!("no traces in the last {w}");
                } else {
                    lat.sort_by(f64::total_cmp);
                    let rank = ((0.95 * lat.len() as f64).ceil() as usize).clamp(1, lat.len());
                    let p95 = lat[rank - 1];
                    let msg = format!(
                        "p95 latency {p95:.0} ms over {} traces in the last {w} (max {max_ms:.0} ms)",
                        lat.len()
                    );
                    fire(&mut result, p95, *max_ms, p95 > *max_ms, msg);
                }
            }
            Check::CostPerHour { max_usd } => {
                // All traces: compile runs and evaluations spend money too.
                let traces = store.traces(&filter)?;
                let cost: f64 = traces.iter().map(|t| t.cost_usd).sum();
                let per_hour = cost / (window.as_secs_f64() / 3600.0);
                let msg = format!(
                    "${per_hour:.4}/hour over the last {w} ({} traces, max ${max_usd:.4}/hour)",
                    traces.len()
                );
                fire(&mut result, per_hour, *max_usd, per_hour > *max_usd, msg);
            }
            Check::ScoreRegression {
                baseline,
                candidate,
                max_drop,
            } => {
                let evals = store.traces(&filter.clone().root_kind(SpanKind::Evaluate))?;
                let version = |t: &TraceSummary| match (&t.artifact_hash, t.compiled) {
                    (Some(h), true) => h.clone(),
                    _ => "uncompiled".to_string(),
                };
                let candidate = if candidate == "latest" {
                    // Traces come newest first.
                    evals.iter().map(version).find(|v| v != baseline)
                } else {
                    Some(candidate.clone())
                };
                let mean = |v: &str| {
                    let s: Vec<f64> = evals
                        .iter()
                        .filter(|t| version(t) == v)
                        .filter_map(|t| t.score)
                        .collect();
                    (!s.is_empty()).then(|| s.iter().sum::<f64>() / s.len() as f64)
                };
                match (mean(baseline), candidate.as_deref().and_then(mean)) {
                    (Some(b), Some(c)) => {
                        let drop = b - c;
                        let msg = format!(
                            "mean score {c:.4} for {} vs {b:.4} for {baseline} (drop {drop:.4}, max {max_drop:.4}) in the last {w}",
                            candidate.unwrap_or_default()
                        );
                        fire(&mut result, drop, *max_drop, drop > *max_drop, msg);
                    }
                    _ => {
                        result.message = format!(
                            "no evaluation scores for both {baseline} and {} in the last {w}",
                            candidate.unwrap_or_else(|| "a candidate".into())
                        )
                    }
                }
            }
            Check::InputDrift {
                trainset,
                fields,
                min_similarity,
                max_share,
            } => {
                let path = if trainset.is_absolute() {
                    trainset.clone()
                } else {
                    rules.base_dir.join(trainset)
                };
                let train =
                    load_trainset(&path, fields).map_err(|message| AlertError::BadRule {
                        rule: rule.label(),
                        message,
                    })?;
                let traces = store.traces(&production.clone().limit(5000))?;
                let recent: Vec<HashSet<String>> = traces
                    .iter()
                    .filter_map(|t| t.inputs.as_deref())
                    .filter_map(|j| {
                        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(j).ok()
                    })
                    .map(|m| tokens(&select_text(&m, fields)))
                    .collect();
                if recent.is_empty() || train.is_empty() {
                    result.message = format!(
                        "no recorded inputs in the last {w} (inputs may be switched off by privacy settings) or an empty trainset"
                    );
                } else {
                    let far = recent
                        .iter()
                        .filter(|r| best_similarity(r, &train) < *min_similarity)
                        .count();
                    let share = far as f64 / recent.len() as f64;
                    let msg = format!(
                        "{far} of {} recent inputs are far from the trainset (Jaccard < {min_similarity}): {:.1}% (max {:.1}%)",
                        recent.len(),
                        100.0 * share,
                        100.0 * max_share
                    );
                    fire(&mut result, share, *max_share, share > *max_share, msg);
                }
            }
            Check::EmbeddingDrift { .. } => {
                result.message =
                    "needs an embedding model: evaluate with sigil_alerts::drift::evaluate_with_embedder"
                        .into();
            }
        }
        results.push(result);
    }
    Ok(AlertReport {
        checked_at_ns: now_ns,
        results,
    })
}

/// Groups results by status, for summaries.
pub fn count_by_status(report: &AlertReport) -> HashMap<AlertStatus, usize> {
    let mut m = HashMap::new();
    for r in &report.results {
        *m.entry(r.status).or_insert(0) += 1;
    }
    m
}

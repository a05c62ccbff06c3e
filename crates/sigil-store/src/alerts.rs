//! Alert rules evaluated over the store: error rate, p95 latency, cost per hour, score
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

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sigil::trace::SpanKind;

use crate::{Store, StoreError, TraceFilter};

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

/// A rules file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSet {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub webhook: Option<String>,
    #[serde(default, rename = "rule")]
    pub rules: Vec<Rule>,
    /// Where relative paths (trainsets) are resolved; the rules file's folder.
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// One rule: what to measure, over which traces, and the threshold. (Unknown fields
/// are refused by [`Check`], which receives every field the rule does not take.)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub program: Option<String>,
    /// Look-back window, e.g. `30m`, `1h`, `7d` (default `1h`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    #[serde(flatten)]
    pub check: Check,
}

/// What a rule measures.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Check {
    ErrorRate {
        max: f64,
    },
    P95Latency {
        max_ms: f64,
    },
    CostPerHour {
        max_usd: f64,
    },
    ScoreRegression {
        baseline: String,
        #[serde(default = "latest")]
        candidate: String,
        #[serde(default)]
        max_drop: f64,
    },
    InputDrift {
        trainset: PathBuf,
        #[serde(default)]
        fields: Vec<String>,
        #[serde(default = "default_similarity")]
        min_similarity: f64,
        max_share: f64,
    },
    /// Like `input_drift`, by cosine similarity of sentence embeddings; needs an
    /// embedder, so it is measured by [`crate::drift::evaluate_with_embedder`].
    EmbeddingDrift {
        trainset: PathBuf,
        #[serde(default)]
        fields: Vec<String>,
        #[serde(default = "crate::drift::default_cosine")]
        min_similarity: f64,
        max_share: f64,
    },
}

fn latest() -> String {
    "latest".into()
}
fn default_similarity() -> f64 {
    0.2
}

impl Check {
    pub fn kind(&self) -> &'static str {
        match self {
            Check::ErrorRate { .. } => "error_rate",
            Check::P95Latency { .. } => "p95_latency",
            Check::CostPerHour { .. } => "cost_per_hour",
            Check::ScoreRegression { .. } => "score_regression",
            Check::InputDrift { .. } => "input_drift",
            Check::EmbeddingDrift { .. } => "embedding_drift",
        }
    }
}

impl Rule {
    /// The rule's name, or `kind[/program]`.
    pub fn label(&self) -> String {
        match (&self.name, &self.program) {
            (Some(n), _) => n.clone(),
            (None, Some(p)) => format!("{}/{p}", self.check.kind()),
            (None, None) => self.check.kind().to_string(),
        }
    }
    fn window(&self) -> Result<Duration, AlertError> {
        match &self.window {
            None => Ok(Duration::from_secs(3600)),
            Some(w) => parse_window(w).ok_or_else(|| AlertError::BadRule {
                rule: self.label(),
                message: format!("window `{w}` is not a duration like 30m, 1h or 7d"),
            }),
        }
    }
}

/// `90`, `90s`, `30m`, `1h`, `7d`.
pub fn parse_window(s: &str) -> Option<Duration> {
    let s = s.trim();
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num
        .parse()
        .ok()
        .filter(|n: &f64| n.is_finite() && *n > 0.0)?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        "d" => n * 86400.0,
        _ => return None,
    };
    Some(Duration::from_secs_f64(secs))
}

impl RuleSet {
    /// Reads a TOML (or, for `.json`, JSON) rules file and checks every rule.
    pub fn load(path: impl AsRef<Path>) -> Result<RuleSet, AlertError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| AlertError::Read {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let mut set = if json {
            RuleSet::from_json(&text)
        } else {
            RuleSet::from_toml(&text)
        }
        .map_err(|message| AlertError::Malformed {
            path: path.to_path_buf(),
            message,
        })?;
        set.base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        set.validate()?;
        Ok(set)
    }

    /// Parses TOML; the error is one line: `line L, key `k`: what is wrong`.
    pub fn from_toml(text: &str) -> Result<RuleSet, String> {
        toml::from_str(text).map_err(|e| {
            let what = one_line(e.message());
            match e.span() {
                Some(span) => {
                    let line = text[..span.start.min(text.len())].matches('\n').count() + 1;
                    located(text, line, &what)
                }
                None => what,
            }
        })
    }
    /// Parses JSON; the error is one line: `line L, key `k`: what is wrong`.
    pub fn from_json(text: &str) -> Result<RuleSet, String> {
        serde_json::from_str(text).map_err(|e| {
            let what = one_line(&e.to_string());
            // serde_json appends " at line L column C"; say it once, up front.
            let what = what
                .rsplit_once(" at line ")
                .map_or(what.clone(), |(w, _)| w.to_string());
            if e.line() == 0 {
                what
            } else {
                located(text, e.line(), &what)
            }
        })
    }

    /// Thresholds in range, windows readable.
    pub fn validate(&self) -> Result<(), AlertError> {
        if self.rules.is_empty() {
            return Err(AlertError::BadRule {
                rule: "(none)".into(),
                message: "the file has no [[rule]]".into(),
            });
        }
        for r in &self.rules {
            r.window()?;
            let bad = |message: &str| {
                Err(AlertError::BadRule {
                    rule: r.label(),
                    message: message.into(),
                })
            };
            match &r.check {
                Check::ErrorRate { max } if !(0.0..=1.0).contains(max) => {
                    return bad("max must be a share between 0 and 1");
                }
                Check::P95Latency { max_ms } if max_ms.is_nan() || *max_ms <= 0.0 => {
                    return bad("max_ms must be positive");
                }
                Check::CostPerHour { max_usd } if max_usd.is_nan() || *max_usd < 0.0 => {
                    return bad("max_usd must not be negative");
                }
                Check::ScoreRegression { max_drop, .. } if max_drop.is_nan() || *max_drop < 0.0 => {
                    return bad("max_drop must not be negative");
                }
                Check::InputDrift {
                    max_share,
                    min_similarity,
                    ..
                } if !(0.0..=1.0).contains(max_share) || !(0.0..=1.0).contains(min_similarity) => {
                    return bad("max_share and min_similarity must be between 0 and 1");
                }
                Check::EmbeddingDrift {
                    max_share,
                    min_similarity,
                    ..
                } if !(0.0..=1.0).contains(max_share) || !(-1.0..=1.0).contains(min_similarity) => {
                    return bad(
                        "max_share must be between 0 and 1, min_similarity between -1 and 1",
                    );
                }
                _ => {}
            }
        }
        match &self.webhook {
            Some(w) if !(w.starts_with("http://") || w.starts_with("https://")) => {
                Err(AlertError::BadRule {
                    rule: "webhook".into(),
                    message: format!("`{w}` is not an http(s) URL"),
                })
            }
            _ => Ok(()),
        }
    }
}

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
                let version = |t: &crate::TraceSummary| match (&t.artifact_hash, t.compiled) {
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
                    "needs an embedding model: evaluate with sigil_store::drift::evaluate_with_embedder"
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

/// Lowercase word tokens (letters and digits).
fn tokens(text: &str) -> HashSet<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

pub(crate) fn select_text(
    values: &serde_json::Map<String, serde_json::Value>,
    fields: &[String],
) -> String {
    let mut out = String::new();
    for (k, v) in values {
        if fields.is_empty() || fields.iter().any(|f| f == k) {
            out.push_str(&sigil::data::value_to_string(v));
            out.push(' ');
        }
    }
    out
}

fn load_trainset(path: &Path, fields: &[String]) -> Result<Vec<HashSet<String>>, String> {
    let csv = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    let data = if csv {
        sigil::data::load_csv(path, &[])
    } else {
        sigil::data::load_jsonl(path, &[])
    };
    let data = data.map_err(|e| format!("cannot load trainset {}: {e}", path.display()))?;
    Ok(data
        .examples
        .iter()
        .map(|e| {
            let m: serde_json::Map<String, serde_json::Value> = e
                .values()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect();
            tokens(&select_text(&m, fields))
        })
        .collect())
}

/// The best Jaccard similarity of `input` to any trainset example.
fn best_similarity(input: &HashSet<String>, train: &[HashSet<String>]) -> f64 {
    if input.is_empty() {
        return 0.0;
    }
    let mut best = 0.0f64;
    for t in train {
        let inter = input.intersection(t).count();
        if inter == 0 {
            continue;
        }
        let union = input.len() + t.len() - inter;
        best = best.max(inter as f64 / union as f64);
        if best >= 1.0 {
            break;
        }
    }
    best
}

/// POSTs the firing alerts as JSON (`{"source": "sigil", "alerts": [...]}`) to `url`.
/// Does nothing when none fire.
pub async fn post_webhook(url: &str, report: &AlertReport) -> Result<(), AlertError> {
    let firing: Vec<&AlertResult> = report.firing().collect();
    if firing.is_empty() {
        return Ok(());
    }
    let body = serde_json::json!({"source": "sigil", "checked_at_ns": report.checked_at_ns, "alerts": firing});
    let err = |message: String| AlertError::Webhook {
        url: url.to_string(),
        message,
    };
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| err(e.to_string()))?;
    let resp = client
        .post(url)
        .json(&body)
        .send()
        .await
        .map_err(|e| err(e.to_string()))?;
    if !resp.status().is_success() {
        return Err(err(format!("HTTP {}", resp.status().as_u16())));
    }
    Ok(())
}

/// `message` on one line.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("; ")
}

/// `line L, key `k`: what`, the key being the one assigned on that line (when the
/// message does not already name one).
fn located(text: &str, line: usize, what: &str) -> String {
    let key = text
        .lines()
        .nth(line.saturating_sub(1))
        .and_then(|l| l.split_once(['=', ':']))
        .map(|(k, _)| k.trim().trim_matches('"').trim())
        .filter(|k| !k.is_empty() && !k.starts_with('[') && !k.starts_with('{'));
    match key {
        Some(k) if !what.contains(&format!("`{k}`")) => format!("line {line}, key `{k}`: {what}"),
        _ => format!("line {line}: {what}"),
    }
}

/// Groups results by status, for summaries.
pub fn count_by_status(report: &AlertReport) -> HashMap<AlertStatus, usize> {
    let mut m = HashMap::new();
    for r in &report.results {
        *m.entry(r.status).or_insert(0) += 1;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_parse() {
        assert_eq!(parse_window("90"), Some(Duration::from_secs(90)));
        assert_eq!(parse_window("30m"), Some(Duration::from_secs(1800)));
        assert_eq!(parse_window("1h"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_window("7d"), Some(Duration::from_secs(7 * 86400)));
        assert_eq!(parse_window("soon"), None);
        assert_eq!(parse_window("-1h"), None);
    }

    #[test]
    fn jaccard_similarity_of_token_sets() {
        let train = vec![
            tokens("What is the capital of France?"),
            tokens("Who wrote Hamlet?"),
        ];
        assert_eq!(
            best_similarity(&tokens("what is the capital of france"), &train),
            1.0
        );
        assert_eq!(
            best_similarity(&tokens("quantum chromodynamics lattice"), &train),
            0.0
        );
        let s = best_similarity(&tokens("what is the capital of Spain"), &train);
        assert!(s > 0.5 && s < 1.0, "{s}");
    }
}

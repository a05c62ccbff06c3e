//! The rules file: what each rule measures, its window and threshold, and the checks
//! that make a malformed file a one-line error.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::AlertError;

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
    pub(crate) fn window(&self) -> Result<Duration, AlertError> {
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
}

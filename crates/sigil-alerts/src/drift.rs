//! Input drift by meaning: the share of recent production inputs whose sentence
//! embedding is far (cosine) from every trainset example. Complements the lexical
//! `input_drift` rule, which misses paraphrases and flags harmless rewordings.
//!
//! A rules file uses it with `kind = "embedding_drift"` (same keys as `input_drift`;
//! `min_similarity` is a cosine, default 0.5). [`crate::evaluate`] has no
//! embedder and reports such rules as no-data; [`evaluate_with_embedder`] measures them:
//!
//! ```no_run
//! # async fn demo(store: &sigil_store::Store, embedder: std::sync::Arc<dyn sigil::retrieve::Embedder>)
//! #   -> Result<(), sigil_alerts::AlertError> {
//! use sigil_alerts::RuleSet;
//! let rules = RuleSet::load("alerts.toml")?;
//! let report = sigil_alerts::drift::evaluate_with_embedder(store, &rules, 1_700_000_000_000_000_000, embedder).await?;
//! # Ok(()) }
//! ```

use std::path::Path;
use std::sync::Arc;

use sigil::retrieve::{Embedder, RetrieveError};
use sigil::trace::SpanKind;

use sigil_store::{Store, TraceFilter};

use crate::lexical::{select_text, trainset_texts};
use crate::{AlertError, AlertReport, AlertStatus, Check, RuleSet, evaluate, parse_window};

/// The default cosine below which an input counts as far from the trainset.
pub fn default_cosine() -> f64 {
    0.5
}

/// Texts per embedder call.
const BATCH: usize = 64;

/// Trainset vectors to compare inputs against.
pub struct EmbeddingDrift {
    embedder: Arc<dyn Embedder>,
    train: Vec<Vec<f32>>,
}

/// What [`EmbeddingDrift::measure`] found.
#[derive(Clone, Debug, PartialEq)]
pub struct DriftMeasure {
    /// Inputs whose best cosine to the trainset is below the threshold.
    pub far: usize,
    pub total: usize,
    /// `far / total` (0 when there are no inputs).
    pub share: f64,
    /// Mean over inputs of the best cosine to the trainset.
    pub mean_best_similarity: f64,
}

async fn embed_all(
    embedder: &dyn Embedder,
    texts: &[String],
) -> Result<Vec<Vec<f32>>, RetrieveError> {
    let mut out = Vec::with_capacity(texts.len());
    for chunk in texts.chunks(BATCH) {
        let got = embedder.embed(chunk).await?;
        if got.len() != chunk.len() {
            return Err(RetrieveError::Model(format!(
                "{} returned {} vectors for {} texts",
                embedder.model_id(),
                got.len(),
                chunk.len()
            )));
        }
        out.extend(got.into_iter().map(unit));
    }
    Ok(out)
}

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

impl EmbeddingDrift {
    /// Embeds the trainset texts.
    pub async fn new(
        embedder: Arc<dyn Embedder>,
        train_texts: &[String],
    ) -> Result<Self, RetrieveError> {
        let train = embed_all(embedder.as_ref(), train_texts).await?;
        Ok(EmbeddingDrift { embedder, train })
    }

    /// Loads a JSONL or CSV trainset, keeps `fields` (every field when empty) of each
    /// example as one text, and embeds them.
    pub async fn from_trainset(
        embedder: Arc<dyn Embedder>,
        path: &Path,
        fields: &[String],
    ) -> Result<Self, String> {
        let texts = trainset_texts(path, fields)?;
        Self::new(embedder, &texts)
            .await
            .map_err(|e| format!("embedding trainset {}: {e}", path.display()))
    }

    /// How many of `inputs` are far (best cosine below `min_similarity`) from the trainset.
    pub async fn measure(
        &self,
        inputs: &[String],
        min_similarity: f64,
    ) -> Result<DriftMeasure, RetrieveError> {
        let vectors = embed_all(self.embedder.as_ref(), inputs).await?;
        let mut far = 0;
        let mut sum = 0.0f64;
        for v in &vectors {
            let best = self
                .train
                .iter()
                .map(|t| t.iter().zip(v).map(|(a, b)| a * b).sum::<f32>())
                .fold(f32::NEG_INFINITY, f32::max) as f64;
            let best = if best.is_finite() { best } else { -1.0 };
            sum += best;
            if best < min_similarity {
                far += 1;
            }
        }
        let total = vectors.len();
        Ok(DriftMeasure {
            far,
            total,
            share: if total == 0 {
                0.0
            } else {
                far as f64 / total as f64
            },
            mean_best_similarity: if total == 0 { 0.0 } else { sum / total as f64 },
        })
    }
}

/// [`evaluate`], with every `embedding_drift` rule measured by `embedder` over the
/// inputs recorded in the rule's window (production traces, at most 5,000).
pub async fn evaluate_with_embedder(
    store: &Store,
    rules: &RuleSet,
    now_ns: u64,
    embedder: Arc<dyn Embedder>,
) -> Result<AlertReport, AlertError> {
    let mut report = evaluate(store, rules, now_ns)?;
    for (rule, result) in rules.rules.iter().zip(report.results.iter_mut()) {
        let Check::EmbeddingDrift {
            trainset,
            fields,
            min_similarity,
            max_share,
        } = &rule.check
        else {
            continue;
        };
        let bad = |message: String| AlertError::BadRule {
            rule: rule.label(),
            message,
        };
        let w = rule.window.clone().unwrap_or_else(|| "1h".into());
        let window =
            parse_window(&w).ok_or_else(|| bad(format!("window `{w}` is not a duration")))?;
        let mut filter = TraceFilter::default()
            .since_ns(now_ns.saturating_sub(window.as_nanos() as u64))
            .until_ns(now_ns.saturating_add(1))
            .root_kind(SpanKind::Module)
            .limit(5000);
        if let Some(p) = &rule.program {
            filter = filter.program(p.clone());
        }
        let inputs: Vec<String> = store
            .traces(&filter)?
            .iter()
            .filter_map(|t| t.inputs.as_deref())
            .filter_map(|j| {
                serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(j).ok()
            })
            .map(|m| select_text(&m, fields))
            .filter(|t| !t.trim().is_empty())
            .collect();
        let path = if trainset.is_absolute() {
            trainset.clone()
        } else {
            rules.base_dir.join(trainset)
        };
        let drift = EmbeddingDrift::from_trainset(embedder.clone(), &path, fields)
            .await
            .map_err(bad)?;
        if inputs.is_empty() || drift.train.is_empty() {
            result.status = AlertStatus::NoData;
            result.message = format!(
                "no recorded inputs in the last {w} (inputs may be switched off by privacy settings) or an empty trainset"
            );
            continue;
        }
        let m = drift
            .measure(&inputs, *min_similarity)
            .await
            .map_err(|e| bad(format!("embedding recent inputs: {e}")))?;
        result.value = Some(m.share);
        result.threshold = *max_share;
        result.status = if m.share > *max_share {
            AlertStatus::Firing
        } else {
            AlertStatus::Ok
        };
        result.message = format!(
            "{} of {} recent inputs are far from the trainset (cosine < {min_similarity} with {}): {:.1}% (max {:.1}%); mean best cosine {:.3}",
            m.far,
            m.total,
            embedder.model_id(),
            100.0 * m.share,
            100.0 * max_share,
            m.mean_best_similarity
        );
    }
    Ok(report)
}

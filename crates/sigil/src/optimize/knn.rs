//! KNNFewShot: demos chosen per input — the `k` training examples nearest to the input
//! by embedding similarity — as in DSPy's `KNNFewShot`.
//!
//! DSPy re-runs BootstrapFewShot on the `k` neighbours at every call. Sigil bootstraps
//! once instead: at compile time the teacher (the program under the given ctx) runs on
//! every training example, and the passing traces are kept per example and predictor.
//! At call time the nearest examples' traces become that call's demos (the example
//! itself, labeled, where the teacher failed). The result is the same kind of demo
//! with one teacher run per training example rather than `k` per call.
//!
//! Demos that depend on the input cannot be a static [`Overlay`], so this is not an
//! [`super::Optimizer`]: [`KnnFewShot::compile`] returns a [`KnnProgram`], a module
//! that wraps the program and scopes each call's demos through the ctx's overlay.

use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use indexmap::IndexMap;

use super::OptimizeError;
use super::capture::DemoCapture;
use super::data::check_examples;
use crate::data::{Example, Prediction, value_to_string};
use crate::evaluate::Metric;
use crate::module::{CallCtx, Ctx, Module, ModuleError, Overlay, Predict};
use crate::retrieve::Embedder;

/// Picks each call's demos among the training examples nearest to its input.
#[derive(Clone)]
pub struct KnnFewShot {
    k: usize,
    embedder: Arc<dyn Embedder>,
    metric: Option<Arc<dyn Metric>>,
    concurrency: usize,
}

impl KnnFewShot {
    /// `k` nearest training examples per call, compared by `embedder` over their
    /// input fields (`key: value` lines). Without [`KnnFewShot::bootstrap`] the demos
    /// are the labeled examples themselves and compiling makes no LM call.
    pub fn new(k: usize, embedder: Arc<dyn Embedder>) -> Self {
        KnnFewShot {
            k,
            embedder,
            metric: None,
            concurrency: 4,
        }
    }

    /// Runs the teacher on every training example and keeps the traces that pass
    /// `metric` as that example's demos (DSPy's KNNFewShot + BootstrapFewShot).
    pub fn bootstrap(mut self, metric: impl Metric + 'static) -> Self {
        self.metric = Some(Arc::new(metric));
        self
    }

    /// Teacher runs in flight at once (default 4).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// Embeds the trainset (and bootstraps it when asked) and returns the program with
    /// per-input demos. `ctx` is the teacher's context.
    pub async fn compile(
        &self,
        program: Arc<dyn Module>,
        trainset: &[Example],
        ctx: &Ctx,
    ) -> Result<KnnProgram, OptimizeError> {
        if trainset.is_empty() {
            return Err(OptimizeError::EmptyTrainset);
        }
        if self.k == 0 {
            return Err(OptimizeError::Config("KNNFewShot needs k >= 1".into()));
        }
        match &self.metric {
            Some(m) => check_examples("trainset", trainset, m.as_ref())?,
            None => check_examples("trainset", trainset, &NoMetric)?,
        }
        let paths: Vec<String> = program
            .named_predictors()
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        if paths.is_empty() {
            return Err(OptimizeError::NoPredictors);
        }
        let texts: Vec<String> = trainset.iter().map(input_text).collect();
        let vectors = self
            .embedder
            .embed(&texts)
            .await
            .map_err(|e| OptimizeError::Other(format!("embedding the trainset: {e}")))?;
        if vectors.len() != trainset.len() {
            return Err(OptimizeError::Other(format!(
                "embedding the trainset: {} vectors for {} examples",
                vectors.len(),
                trainset.len()
            )));
        }
        let traces = match &self.metric {
            Some(metric) => {
                futures::stream::iter(trainset.iter())
                    .map(|e| teacher_demos(program.as_ref(), ctx, metric.as_ref(), e))
                    .buffered(self.concurrency)
                    .collect::<Vec<_>>()
                    .await
            }
            None => vec![IndexMap::new(); trainset.len()],
        };
        Ok(KnnProgram {
            program,
            k: self.k,
            embedder: self.embedder.clone(),
            paths,
            entries: trainset
                .iter()
                .cloned()
                .zip(vectors.into_iter().map(unit))
                .zip(traces)
                .map(|((example, vector), demos)| KnnEntry {
                    example,
                    vector,
                    demos,
                })
                .collect(),
        })
    }
}

/// Stands in for the metric in the trainset checks when demos are labeled only.
struct NoMetric;
impl Metric for NoMetric {
    fn score(&self, _: &Example, _: &Prediction) -> f64 {
        1.0
    }
}

/// The text an example is embedded by: its input fields as `key: value` lines.
fn input_text(e: &Example) -> String {
    let inputs = e.inputs();
    inputs
        .values()
        .iter()
        .map(|(k, v)| format!("{k}: {}", value_to_string(v)))
        .collect::<Vec<_>>()
        .join("\n")
}

fn unit(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

/// One teacher run on `example`: a demo per predictor path when the metric passes.
async fn teacher_demos(
    program: &dyn Module,
    ctx: &Ctx,
    metric: &dyn Metric,
    example: &Example,
) -> IndexMap<String, Example> {
    let capture = DemoCapture::new();
    let run_ctx = ctx.with_hook(capture.clone());
    let Ok(prediction) = program.call(&run_ctx, example.inputs()).await else {
        return IndexMap::new();
    };
    let scored = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        metric.try_score(example, &prediction)
    }));
    match scored {
        Ok(Ok(s)) if s.is_finite() && s != 0.0 => {}
        _ => return IndexMap::new(),
    }
    let mut out = IndexMap::new();
    // The last call of each predictor in the run.
    for call in capture.take() {
        out.insert(call.path.clone(), call.demo());
    }
    out
}

struct KnnEntry {
    example: Example,
    vector: Vec<f32>,
    demos: IndexMap<String, Example>,
}

/// A program whose predictors get, at every call, demos from the `k` training
/// examples nearest to the call's input. Build it with [`KnnFewShot::compile`].
pub struct KnnProgram {
    program: Arc<dyn Module>,
    k: usize,
    embedder: Arc<dyn Embedder>,
    paths: Vec<String>,
    entries: Vec<KnnEntry>,
}

impl KnnProgram {
    /// The indexes (into the trainset) of the `k` examples nearest to `inputs`.
    pub async fn neighbours(&self, inputs: &Example) -> Result<Vec<usize>, ModuleError> {
        let text = input_text(inputs);
        let mut v = self
            .embedder
            .embed(&[text])
            .await
            .map_err(|e| ModuleError::Other(format!("KNNFewShot: embedding the input: {e}")))?;
        let q = unit(v.pop().ok_or_else(|| {
            ModuleError::Other("KNNFewShot: the embedder returned no vector".into())
        })?);
        let mut scored: Vec<(usize, f32)> = self
            .entries
            .iter()
            .enumerate()
            .map(|(i, e)| (i, e.vector.iter().zip(&q).map(|(a, b)| a * b).sum()))
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        Ok(scored.into_iter().take(self.k).map(|(i, _)| i).collect())
    }

    /// How many training examples got bootstrapped demos.
    pub fn bootstrapped(&self) -> usize {
        self.entries.iter().filter(|e| !e.demos.is_empty()).count()
    }

    /// The overlay for one call: `ctx`'s overlay with every predictor's demos replaced
    /// by the neighbours' (nearest first).
    fn overlay_for(&self, base: Option<&Overlay>, neighbours: &[usize]) -> Overlay {
        let mut overlay = base.cloned().unwrap_or_default();
        for path in &self.paths {
            let demos = neighbours
                .iter()
                .map(|&i| {
                    let e = &self.entries[i];
                    e.demos
                        .get(path)
                        .cloned()
                        .unwrap_or_else(|| e.example.clone())
                })
                .collect();
            overlay.set_demos(path, demos);
        }
        overlay
    }
}

#[async_trait]
impl Module for KnnProgram {
    async fn forward(&self, ctx: &CallCtx<'_>, inputs: Example) -> Result<Prediction, ModuleError> {
        let neighbours = self.neighbours(&inputs).await?;
        let overlay = self.overlay_for(ctx.overlay(), &neighbours);
        let scoped = ctx.with_overlay(Some(Arc::new(overlay)));
        self.program.call(&scoped, inputs).await
    }

    fn named_predictors(&self) -> Vec<(String, &Predict)> {
        self.program.named_predictors()
    }

    fn name(&self) -> &str {
        self.program.name()
    }
}

#[cfg(test)]
#[path = "knn_tests.rs"]
mod tests;

//! The honest final score: baseline and compiled program on a held-out test set.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::data::example_id;
use super::{Compiled, OptimizeError};
use crate::data::Example;
use crate::evaluate::{EvalReport, Evaluate, Metric, PairedComparison, paired_bootstrap};
use crate::module::{Ctx, Module};

/// Baseline and compiled program on the same held-out examples, each with a 95%
/// bootstrap CI, and the paired bootstrap CI of the difference (compiled - baseline).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HeldOutReport {
    /// The program without the overlay.
    pub baseline: EvalReport,
    /// The program with the compiled overlay.
    pub compiled: EvalReport,
    /// Compiled minus baseline.
    pub difference: PairedComparison,
}

impl HeldOutReport {
    /// Whether the compiled program is better with the paired 95% CI excluding zero.
    pub fn significant_gain(&self) -> bool {
        self.difference.ci95.0 > 0.0
    }
}

impl fmt::Display for HeldOutReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let pct = |x: f64| 100.0 * x;
        writeln!(f, "baseline: {}", self.baseline)?;
        writeln!(f, "compiled: {}", self.compiled)?;
        write!(
            f,
            "difference: {:+.2} points (paired 95% CI {:+.2} to {:+.2}, P(better) = {:.3}) over {} held-out examples",
            pct(self.difference.diff),
            pct(self.difference.ci95.0),
            pct(self.difference.ci95.1),
            self.difference.prob_positive,
            self.difference.n
        )
    }
}

/// Scores the program without and with `compiled`'s overlay on `testset`.
///
/// Errors before any LM call if the test set is empty or shares an example with the
/// data the optimizer saw. Concurrency 8, 1000 bootstrap resamples, seed = the run's seed.
pub async fn held_out_report(
    program: &dyn Module,
    ctx: &Ctx,
    compiled: &Compiled,
    testset: &[Example],
    metric: impl Metric + 'static,
) -> Result<HeldOutReport, OptimizeError> {
    held_out_report_with(program, ctx, compiled, testset, Arc::new(metric), 8).await
}

/// [`held_out_report`] with a shared metric and a concurrency.
pub async fn held_out_report_with(
    program: &dyn Module,
    ctx: &Ctx,
    compiled: &Compiled,
    testset: &[Example],
    metric: Arc<dyn Metric>,
    concurrency: usize,
) -> Result<HeldOutReport, OptimizeError> {
    let against = HeldOut {
        seen: &compiled.seen_examples,
        seed: compiled.seed,
        metric,
        concurrency,
    };
    held_out_report_ctx(program, ctx, &compiled.ctx(ctx), testset, against).await
}

/// How a held-out comparison runs: the examples the optimizer saw (refused in the
/// test set), the seed of its resampling, the metric and the concurrency.
pub struct HeldOut<'a> {
    /// Ids ([`example_id`]) of the train and val examples.
    pub seen: &'a [String],
    /// Seeds the evaluation and the bootstrap.
    pub seed: u64,
    /// Scores each prediction.
    pub metric: Arc<dyn Metric>,
    /// Examples run at once.
    pub concurrency: usize,
}

/// Scores the program under `ctx` and under `compiled_ctx` (an overlay, fine-tuned
/// LMs, both) on `testset`, with the paired difference. Errors before any LM call if
/// the test set is empty or shares an example with the data the optimizer saw.
pub async fn held_out_report_ctx(
    program: &dyn Module,
    ctx: &Ctx,
    compiled_ctx: &Ctx,
    testset: &[Example],
    how: HeldOut<'_>,
) -> Result<HeldOutReport, OptimizeError> {
    if testset.is_empty() {
        return Err(OptimizeError::Config("the test set is empty".into()));
    }
    let seen: std::collections::HashSet<&str> = how.seen.iter().map(String::as_str).collect();
    let ids: Vec<String> = testset.iter().map(example_id).collect();
    if let Some(i) = ids.iter().position(|id| seen.contains(id.as_str())) {
        let count = ids.iter().filter(|id| seen.contains(id.as_str())).count();
        return Err(OptimizeError::Overlap {
            a: "testset",
            b: "optimizer's train/val data",
            count,
            a_index: i,
            b_index: 0,
        });
    }
    let eval = Evaluate::new(testset)
        .metric_arc(how.metric)
        .concurrency(how.concurrency)
        .max_errors(None)
        .seed(how.seed);
    let baseline = eval.run(program, ctx).await?;
    let compiled_report = eval.run(program, compiled_ctx).await?;
    let difference = paired_bootstrap(&compiled_report, &baseline, 1000, how.seed)?;
    Ok(HeldOutReport {
        baseline,
        compiled: compiled_report,
        difference,
    })
}

//! Running a program over a dataset with bounded concurrency and an error budget.

use std::any::Any;
use std::fmt;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use serde::{Deserialize, Serialize};

use super::EvalError;
use super::metrics::Metric;
use super::progress::Progress;
use super::stats::{PairedComparison, bootstrap_mean_ci, mean, paired_bootstrap_scores};
use crate::data::{Dataset, Example, Prediction};
use crate::lm::Usage;
use crate::module::{Ctx, Module, ModuleError};
use crate::trace::{EndData, ErrorInfo, EvalSummary, StartData};

/// Anything that is an ordered list of examples: `[Example]`, `Vec<Example>`, [`Dataset`].
pub trait ExampleSource {
    /// The examples, in order.
    fn examples(&self) -> &[Example];
}

impl ExampleSource for [Example] {
    fn examples(&self) -> &[Example] {
        self
    }
}
impl ExampleSource for Vec<Example> {
    fn examples(&self) -> &[Example] {
        self
    }
}
impl<const N: usize> ExampleSource for [Example; N] {
    fn examples(&self) -> &[Example] {
        self
    }
}
impl ExampleSource for Dataset {
    fn examples(&self) -> &[Example] {
        &self.examples
    }
}

/// Which step of an example failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureStage {
    /// The program's `forward` returned an error (or panicked).
    Program,
    /// The metric could not score the prediction (or panicked, or returned NaN/inf).
    Metric,
}

/// Why one example failed. Failed examples are kept in the report and scored with
/// the failure score (0 by default).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ExampleError {
    /// Whether the program or the metric failed.
    pub stage: FailureStage,
    /// The error's message.
    pub message: String,
    /// The completion that could not be parsed, for parse errors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_completion: Option<String>,
    /// The program's typed error, when the program failed (not serialised).
    #[serde(skip)]
    pub source: Option<ModuleError>,
}

impl PartialEq for ExampleError {
    fn eq(&self, other: &Self) -> bool {
        self.stage == other.stage
            && self.message == other.message
            && self.raw_completion == other.raw_completion
    }
}

/// The outcome of one example.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExampleResult {
    /// Position in the dataset.
    pub index: usize,
    /// The example.
    pub example: Example,
    /// The program's output; `None` when the program failed. Kept when only the
    /// metric failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prediction: Option<Prediction>,
    /// Why it failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ExampleError>,
    /// Its score (the failure score when it failed).
    pub score: f64,
    /// LM usage of this example (zero when the program failed: a failed call's
    /// usage is not reported back by the program).
    pub usage: Usage,
    /// LM calls it made.
    pub lm_calls: u32,
    /// Parses that needed the JSON fallback.
    pub fallbacks: u32,
    /// Time from starting this example's call to scoring it.
    pub elapsed: Duration,
}

impl ExampleResult {
    /// Whether the example failed.
    pub fn is_error(&self) -> bool {
        self.error.is_some()
    }
}

/// What an evaluation found: per-example results in dataset order and totals.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    /// The metric's name.
    pub metric: String,
    /// One result per example, `results[i].index == i`.
    pub results: Vec<ExampleResult>,
    /// Mean score over all examples, failed ones included at the failure score.
    pub mean: f64,
    /// 95% percentile-bootstrap interval of the mean, `(lo, hi)`.
    pub ci95: (f64, f64),
    /// Number of failed examples.
    pub errors: usize,
    /// LM usage summed over the examples.
    pub usage: Usage,
    /// LM calls summed over the examples.
    pub lm_calls: u64,
    /// JSON fallbacks summed over the examples.
    pub fallbacks: u64,
    /// How long the whole run took.
    pub wall_time: Duration,
    /// Bootstrap resamples and seed behind `ci95`.
    pub resamples: usize,
    /// The bootstrap's seed.
    pub seed: u64,
}

impl EvalReport {
    /// Builds a report (totals and CI) from per-example results, which must be in
    /// dataset order (`results[i].index == i`).
    pub(crate) fn from_results(
        metric: impl Into<String>,
        results: Vec<ExampleResult>,
        wall_time: Duration,
        resamples: usize,
        seed: u64,
    ) -> Result<EvalReport, EvalError> {
        if let Some(r) = results.iter().enumerate().find(|(i, r)| r.index != *i) {
            return Err(EvalError::Invalid(format!(
                "result at position {} has index {}",
                r.0, r.1.index
            )));
        }
        let scores: Vec<f64> = results.iter().map(|r| r.score).collect();
        let ci95 = bootstrap_mean_ci(&scores, resamples, 0.95, seed)?;
        let mut usage = Usage::default();
        let (mut lm_calls, mut fallbacks) = (0u64, 0u64);
        for r in &results {
            usage.add(&r.usage);
            lm_calls += u64::from(r.lm_calls);
            fallbacks += u64::from(r.fallbacks);
        }
        Ok(EvalReport {
            metric: metric.into(),
            mean: mean(&scores),
            ci95,
            errors: results.iter().filter(|r| r.is_error()).count(),
            usage,
            lm_calls,
            fallbacks,
            wall_time,
            resamples,
            seed,
            results,
        })
    }

    /// Number of examples.
    pub fn len(&self) -> usize {
        self.results.len()
    }
    /// Whether there are no results.
    pub fn is_empty(&self) -> bool {
        self.results.is_empty()
    }
    /// Per-example scores in dataset order.
    pub fn scores(&self) -> Vec<f64> {
        self.results.iter().map(|r| r.score).collect()
    }
    /// The mean as a percentage (DSPy reports scores this way).
    pub fn percent(&self) -> f64 {
        100.0 * self.mean
    }
    /// The failed examples.
    pub fn failures(&self) -> impl Iterator<Item = &ExampleResult> {
        self.results.iter().filter(|r| r.is_error())
    }
}

impl fmt::Display for EvalReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {:.2}% (95% CI {:.2}–{:.2}) over {} examples, {} failed; {} LM calls, {} tokens",
            self.metric,
            self.percent(),
            100.0 * self.ci95.0,
            100.0 * self.ci95.1,
            self.len(),
            self.errors,
            self.lm_calls,
            self.usage.total_tokens()
        )?;
        if self.usage.cost_usd > 0.0 {
            write!(f, ", ${:.4}", self.usage.cost_usd)?;
        }
        if self.fallbacks > 0 {
            write!(f, ", {} fallbacks", self.fallbacks)?;
        }
        write!(f, "; {:.1}s", self.wall_time.as_secs_f64())
    }
}

/// Two programs evaluated on the same examples, and their paired comparison (A - B).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Comparison {
    /// Program A's report.
    pub a: EvalReport,
    /// Program B's report.
    pub b: EvalReport,
    /// A minus B, paired by example.
    pub paired: PairedComparison,
}

/// Paired bootstrap of two reports on the same examples (A minus B): the mean
/// difference, its 95% interval and the fraction of resamples where A is ahead.
/// Errors if the reports are not over the same examples in the same order.
pub fn paired_bootstrap(
    a: &EvalReport,
    b: &EvalReport,
    resamples: usize,
    seed: u64,
) -> Result<PairedComparison, EvalError> {
    if a.len() != b.len() {
        return Err(EvalError::ExampleMismatch {
            reason: format!("{} examples vs {}", a.len(), b.len()),
        });
    }
    if let Some(i) = a
        .results
        .iter()
        .zip(&b.results)
        .position(|(x, y)| x.example != y.example)
    {
        return Err(EvalError::ExampleMismatch {
            reason: format!("example {i} differs"),
        });
    }
    paired_bootstrap_scores(&a.scores(), &b.scores(), resamples, seed)
}

/// Evaluates a program on a dataset.
///
/// ```no_run
/// # async fn demo(program: &dyn sigil::module::Module, ctx: &sigil::module::Ctx, devset: &sigil::data::Dataset)
/// # -> Result<(), sigil::evaluate::EvalError> {
/// use sigil::evaluate::{Evaluate, ExactMatch};
/// let report = Evaluate::new(devset).metric(ExactMatch::new("answer")).concurrency(16).run(program, ctx).await?;
/// println!("{report}");
/// # Ok(()) }
/// ```
///
/// Defaults: 8 concurrent calls, `max_errors = Some(10)`, failure score 0, a progress
/// bar when stderr is a terminal and `CI` is unset, 1000 bootstrap resamples, seed 0.
#[derive(Clone)]
pub struct Evaluate<'a> {
    examples: &'a [Example],
    metric: Option<Arc<dyn Metric>>,
    concurrency: usize,
    max_errors: Option<usize>,
    failure_score: f64,
    progress: bool,
    resamples: usize,
    seed: u64,
}

impl<'a> Evaluate<'a> {
    /// An evaluation of `data`: 8 examples at once, stopped once more than 10 fail,
    /// failure score 0, a progress bar, 1000 bootstrap resamples, seed 0. Set a metric
    /// before running it.
    pub fn new<D: ExampleSource + ?Sized>(data: &'a D) -> Self {
        Evaluate {
            examples: data.examples(),
            metric: None,
            concurrency: 8,
            max_errors: Some(10),
            failure_score: 0.0,
            progress: true,
            resamples: 1000,
            seed: 0,
        }
    }

    /// The metric to score predictions with (required).
    pub fn metric(mut self, metric: impl Metric + 'static) -> Self {
        self.metric = Some(Arc::new(metric));
        self
    }
    /// A shared metric.
    pub fn metric_arc(mut self, metric: Arc<dyn Metric>) -> Self {
        self.metric = Some(metric);
        self
    }
    /// How many examples run at once (at least 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }
    /// The error budget: the run stops with [`EvalError::TooManyErrors`] as soon as
    /// more than this many examples have failed. `None` never stops. (DSPy stops
    /// when the count reaches `max_errors`; here `max_errors` failures are allowed.)
    pub fn max_errors(mut self, max: Option<usize>) -> Self {
        self.max_errors = max;
        self
    }
    /// The score given to failed examples (default 0).
    pub fn failure_score(mut self, score: f64) -> Self {
        self.failure_score = score;
        self
    }
    /// `false` never draws a progress bar; `true` (default) draws one when stderr is
    /// a terminal and `CI` is not set.
    pub fn progress(mut self, show: bool) -> Self {
        self.progress = show;
        self
    }
    /// Bootstrap resamples for the confidence interval (0 skips it).
    pub fn bootstrap_resamples(mut self, n: usize) -> Self {
        self.resamples = n;
        self
    }
    /// Seed of the bootstrap.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// Runs `program` on every example's inputs and scores the outputs.
    ///
    /// At high concurrency against a fast server, drive it from a task on a
    /// multi-thread runtime (`tokio::spawn`) rather than from `block_on` on a thread
    /// outside the runtime: each response then wakes the evaluation on the worker that
    /// read it, one thread hop fewer per call (`sigil eval` does this).
    pub async fn run(&self, program: &dyn Module, ctx: &Ctx) -> Result<EvalReport, EvalError> {
        let metric = self.metric.clone().ok_or(EvalError::NoMetric)?;
        if self.examples.is_empty() {
            return Err(EvalError::EmptyDataset);
        }
        if !self.failure_score.is_finite() {
            return Err(EvalError::Invalid(format!(
                "failure score must be finite, got {}",
                self.failure_score
            )));
        }
        // Paths bound once for the run, not per example.
        let bound = ctx.for_program(program);
        let ctx = &bound;
        let span = ctx.start_span("Evaluate", || StartData::Evaluate {
            program: Arc::from(program.name()),
            metric: Arc::from(metric.name().as_str()),
            examples: self.examples.len(),
        });
        let traced_ctx = ctx.child(&span);
        let ctx = &traced_ctx;
        let result = self.run_inner(program, ctx, metric).await;
        span.end_with(|| {
            EndData::Evaluate(match &result {
                Ok(r) => Ok(EvalSummary {
                    mean: r.mean,
                    errors: r.errors,
                    usage: r.usage,
                    example_scores: Arc::new(
                        r.results
                            .iter()
                            .map(|x| (x.example.inputs(), x.score))
                            .collect(),
                    ),
                }),
                Err(e) => Err(ErrorInfo::new("evaluate", e.to_string())),
            })
        });
        result
    }

    async fn run_inner(
        &self,
        program: &dyn Module,
        ctx: &Ctx,
        metric: Arc<dyn Metric>,
    ) -> Result<EvalReport, EvalError> {
        let start = Instant::now();
        let total = self.examples.len();
        let progress = Progress::new(total, self.progress, &metric.name());
        let failure_score = self.failure_score;
        let metric_ref: &dyn Metric = metric.as_ref();

        let mut slots: Vec<Option<ExampleResult>> = vec![None; total];
        let examples = self.examples;
        // The closure takes a plain index (not a borrowed example) so the stream's
        // future stays `Send` without higher-ranked lifetime trouble.
        let mut stream = futures::stream::iter(0..total)
            .map(move |index| {
                run_one(
                    index,
                    &examples[index],
                    program,
                    ctx,
                    metric_ref,
                    failure_score,
                )
            })
            .buffer_unordered(self.concurrency);

        let (mut done, mut errors, mut score_sum) = (0usize, 0usize, 0.0f64);
        while let Some(result) = stream.next().await {
            done += 1;
            score_sum += result.score;
            let index = result.index;
            let failed = result.error.as_ref().map(|e| e.message.clone());
            slots[index] = Some(result);
            if let Some(message) = failed {
                errors += 1;
                if self.max_errors.is_some_and(|max| errors > max) {
                    // Dropping the stream cancels the calls still in flight.
                    drop(stream);
                    progress.abandon();
                    return Err(EvalError::TooManyErrors {
                        max_errors: self.max_errors.unwrap_or_default(),
                        errors,
                        completed: done,
                        total,
                        index,
                        message,
                        results: slots.into_iter().flatten().collect(),
                    });
                }
            }
            progress.tick(score_sum, done, errors);
        }
        drop(stream);
        progress.finish();

        let results: Vec<ExampleResult> = slots.into_iter().flatten().collect();
        if results.len() != total {
            // Every example yields exactly one result; anything else is a bug here.
            return Err(EvalError::Invalid(format!(
                "internal: {} results for {total} examples",
                results.len()
            )));
        }
        EvalReport::from_results(
            metric.name(),
            results,
            start.elapsed(),
            self.resamples,
            self.seed,
        )
    }

    /// Evaluates two programs on the same examples (one after the other) and compares
    /// them with a paired bootstrap (A minus B).
    pub async fn compare(
        &self,
        a: &dyn Module,
        b: &dyn Module,
        ctx: &Ctx,
    ) -> Result<Comparison, EvalError> {
        let a = self.run(a, ctx).await?;
        let b = self.run(b, ctx).await?;
        let paired = paired_bootstrap(&a, &b, self.resamples, self.seed)?;
        Ok(Comparison { a, b, paired })
    }
}

fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        format!("panicked: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("panicked: {s}")
    } else {
        "panicked".to_string()
    }
}

/// Runs and scores one example; never fails, failures become recorded errors.
async fn run_one(
    index: usize,
    example: &Example,
    program: &dyn Module,
    ctx: &Ctx,
    metric: &dyn Metric,
    failure_score: f64,
) -> ExampleResult {
    let started = Instant::now();
    // `call`, not `forward`: each example's program call is its own module span.
    let outcome = AssertUnwindSafe(program.call(ctx, example.inputs()))
        .catch_unwind()
        .await;
    let mut result = ExampleResult {
        index,
        example: example.clone(),
        prediction: None,
        error: None,
        score: failure_score,
        usage: Usage::default(),
        lm_calls: 0,
        fallbacks: 0,
        elapsed: Duration::ZERO,
    };
    let program_error = |message: String, source: Option<ModuleError>| ExampleError {
        stage: FailureStage::Program,
        raw_completion: source
            .as_ref()
            .and_then(|e| e.raw_completion())
            .map(str::to_string),
        message,
        source,
    };
    let metric_error = |message: String| ExampleError {
        stage: FailureStage::Metric,
        message,
        raw_completion: None,
        source: None,
    };
    match outcome {
        Ok(Ok(prediction)) => {
            result.usage = prediction.usage;
            result.lm_calls = prediction.lm_calls;
            result.fallbacks = prediction.fallbacks;
            let scored = std::panic::catch_unwind(AssertUnwindSafe(|| {
                metric.try_score(example, &prediction)
            }));
            match scored {
                Ok(Ok(score)) if score.is_finite() => result.score = score,
                Ok(Ok(score)) => {
                    result.error = Some(metric_error(format!(
                        "metric returned a non-finite score ({score})"
                    )))
                }
                Ok(Err(e)) => result.error = Some(metric_error(e.to_string())),
                Err(p) => {
                    result.error = Some(metric_error(format!(
                        "metric {}",
                        panic_message(p.as_ref())
                    )))
                }
            }
            result.prediction = Some(prediction);
        }
        Ok(Err(e)) => result.error = Some(program_error(e.to_string(), Some(e))),
        Err(p) => {
            result.error = Some(program_error(
                format!("program {}", panic_message(p.as_ref())),
                None,
            ))
        }
    }
    result.elapsed = started.elapsed();
    result
}

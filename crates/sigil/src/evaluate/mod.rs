//! Evaluate: run a program over a dataset and score it.
//!
//! [`Evaluate`] runs a [`Module`](crate::module::Module) on every example's inputs
//! with bounded concurrency, scores each output with a [`Metric`], and returns an
//! [`EvalReport`]: per-example results in dataset order (failures included, with
//! their error message), the mean score with a seeded 95% bootstrap interval, error
//! count, LM usage and wall time. [`paired_bootstrap`] compares two reports on the
//! same examples.
//!
//! Metrics: [`ExactMatch`], [`F1`] and [`Contains`] (SQuAD-style normalisation, as in
//! DSPy), or any closure `Fn(&Example, &Prediction) -> f64`.

mod metrics;
mod progress;
mod runner;
mod stats;

#[cfg(test)]
mod runner_report_tests;
#[cfg(test)]
mod runner_tests;

pub use metrics::{
    Contains, ExactMatch, F1, FnMetric, Metric, MetricError, contains_answer, em_score,
    exact_match_any, f1_any, f1_score, hotpot_f1_score, metric_fn, normalize_text, precision_score,
};
pub(crate) use progress::progress_allowed;
pub use runner::{
    Comparison, EvalReport, Evaluate, ExampleError, ExampleResult, ExampleSource, FailureStage,
    paired_bootstrap,
};
pub use stats::PairedComparison;

/// Why an evaluation could not produce a report.
#[derive(Debug, Clone, thiserror::Error)]
pub enum EvalError {
    /// No metric was set.
    #[error("no metric set: call Evaluate::metric before running")]
    NoMetric,
    /// There are no examples.
    #[error("the dataset is empty")]
    EmptyDataset,
    /// More examples failed than the error budget allows. The examples finished so
    /// far (failed ones included) are in `results`; the calls still running were
    /// cancelled.
    #[error(
        "evaluation stopped: {errors} examples failed (max_errors = {max_errors}) after {completed} of {total} \
         finished; last failure, example {index}: {message}"
    )]
    TooManyErrors {
        /// The error budget.
        max_errors: usize,
        /// Examples that failed.
        errors: usize,
        /// Examples finished.
        completed: usize,
        /// Examples in the dataset.
        total: usize,
        /// The example whose failure exceeded the budget.
        index: usize,
        /// Its error.
        message: String,
        /// The results of the finished examples.
        results: Vec<ExampleResult>,
    },
    /// A score is NaN or infinite.
    #[error("score at position {index} is not a finite number")]
    NonFiniteScore {
        /// The score's position.
        index: usize,
    },
    /// Two reports to compare are not over the same examples.
    #[error("cannot compare results on different examples: {reason}")]
    ExampleMismatch {
        /// How they differ.
        reason: String,
    },
    /// A setting or a result list is not usable (a failure score that is not finite,
    /// results out of dataset order).
    #[error("invalid evaluation: {0}")]
    Invalid(String),
}

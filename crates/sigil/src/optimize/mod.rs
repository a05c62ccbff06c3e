//! Optimizers: compile a program against a metric.
//!
//! An optimizer takes a program, a trainset, a valset and a metric, and searches for
//! instructions and demos per predictor that score better. Candidates are
//! [`Overlay`]s (predictor path -> instructions, demos) scoped to a call through the
//! [`Ctx`]; the program itself is never mutated. The result is a [`Compiled`] whose
//! overlay you run with [`Compiled::ctx`].
//!
//! ```no_run
//! # async fn demo(program: &dyn sigil::module::Module, ctx: &sigil::module::Ctx,
//! #   train: &[sigil::data::Example], val: &[sigil::data::Example], test: &[sigil::data::Example])
//! #   -> Result<(), sigil::optimize::OptimizeError> {
//! use sigil::evaluate::ExactMatch;
//! use sigil::optimize::{BootstrapFewShotWithRandomSearch, Budget, EngineConfig, Optimizer, held_out_report};
//!
//! let config = EngineConfig::new().seed(9).budget(Budget::unlimited().max_calls(20_000)).checkpoint("rs.ckpt");
//! let search = BootstrapFewShotWithRandomSearch::new(ExactMatch::new("answer")).num_candidates(8).config(config);
//! let compiled = search.compile(program, train, val, ctx).await?;
//! let report = held_out_report(program, ctx, &compiled, test, ExactMatch::new("answer")).await?;
//! println!("{report}");
//! # Ok(()) }
//! ```
//!
//! Every optimizer runs on the shared [`engine`](EngineConfig): rollouts through
//! [`crate::evaluate::Evaluate`] with bounded concurrency, a [`Budget`] enforced by an
//! LM wrapper that refuses calls past it, a dry-run [`SpendEstimate`] checked before
//! any call, seeded randomness ([`crate::rng::SeededRng`]), a checkpoint after every
//! step so that `resume` replays finished work, a progress bar, and an
//! [`OptimizerObserver`] that sees every trial.
//!
//! The optimizers, as in DSPy 3.4:
//! - [`LabeledFewShot`]: `k` training examples as demos, no LM call.
//! - [`BootstrapFewShot`]: the teacher's passing traces as demos, topped up with labeled ones.
//! - [`BootstrapFewShotWithRandomSearch`]: zero-shot, labeled, unshuffled and shuffled
//!   bootstrap candidates scored on the valset.
//! - [`Copro`]: LM-proposed instructions refined from their scored history, one predictor at a time.
//! - [`KnnFewShot`]: per-input demos, the training examples nearest to each input by
//!   embedding similarity (bootstrapped once per example); returns a [`KnnProgram`].
//! - [`MiproV2`]: demo-set and grounded instruction candidates searched with a categorical
//!   TPE ([`tpe`]) on minibatches.
//!
//! Where Sigil differs, on purpose: the valset is required and may not overlap the
//! trainset (DSPy falls back to the trainset); the program-aware proposer describes
//! the program from its predictors' signatures and instructions (there is no source
//! code to read); COPRO proposes instructions only (no output-field prefixes);
//! MIPROv2 proposes one fewer instruction per predictor, since DSPy overwrites its
//! first proposal with the original instruction anyway.

mod better_together;
mod bootstrap;
mod budget;
mod capture;
mod checkpoint;
mod copro;
mod data;
mod engine;
mod engine_config;
mod finetune;
mod finetune_data;
mod knn;
mod labeled;
mod mipro;
mod observer;
mod proposer;
mod random_search;
mod report;
pub mod tpe;

pub use better_together::{BetterTogether, Candidate, LmOf, Stage, TogetherOutcome, TogetherState};
pub use bootstrap::BootstrapFewShot;
pub use budget::{Budget, Spend, SpendEstimate};
pub use capture::{CapturedCall, DemoCapture};
pub use copro::Copro;
pub use data::example_id;
pub use engine_config::EngineConfig;
pub use finetune::{
    BootstrapFinetune, FinetuneError, FinetuneJob, FinetuneOutcome, FinetuneProgress,
    FinetunedModel, Finetuner, NoProgress, TrainSettings,
};
pub use finetune_data::{
    FinetuneData, FinetuneDataError, FinetuneDataSettings, FinetuneExample,
    bootstrap_finetune_data, finetune_messages, labeled_finetune_data, write_jsonl,
};
pub use knn::{KnnFewShot, KnnProgram};
pub use labeled::LabeledFewShot;
pub use mipro::{Auto, MiproV2};
pub use observer::{
    CandidateSummary, OptimizerObserver, PredictorChoice, RecordingObserver, RunEnd, RunStart,
    TrialEvent, TrialKind,
};
pub use random_search::BootstrapFewShotWithRandomSearch;
pub use report::{
    HeldOut, HeldOutReport, held_out_report, held_out_report_ctx, held_out_report_with,
};

use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::data::Example;
use crate::evaluate::EvalError;
use crate::module::{Ctx, Module, Overlay};

/// Why an optimizer could not run. Every input problem is reported before any LM spend.
#[derive(Debug, Clone, thiserror::Error)]
pub enum OptimizeError {
    /// No training examples.
    #[error("the trainset is empty")]
    EmptyTrainset,
    /// No validation examples.
    #[error("the valset is empty")]
    EmptyValset,
    /// Two datasets share examples.
    #[error(
        "{count} example(s) are in both the {a} and the {b} (first: {a} #{a_index} = {b} #{b_index}); \
         scores on overlapping data are not honest"
    )]
    Overlap {
        /// The first dataset (`trainset`, `valset`, `testset`).
        a: &'static str,
        /// The second dataset.
        b: &'static str,
        /// How many examples they share.
        count: usize,
        /// The first shared example's index in `a`.
        a_index: usize,
        /// Its index in `b`.
        b_index: usize,
    },
    /// An example cannot be used (no inputs marked, no labels, a label the metric
    /// cannot read).
    #[error("{set} example #{index} is unusable: {reason}")]
    BadExample {
        /// The dataset.
        set: &'static str,
        /// The example's index in it.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The program has no `Predict` to optimize.
    #[error("the program has no predictors to optimize")]
    NoPredictors,
    /// A setting is out of range.
    #[error("invalid optimizer setting: {0}")]
    Config(String),
    /// The estimate says the budget cannot pay even for the baseline evaluation.
    #[error(
        "the budget ({budget}) cannot pay for the baseline, which needs about {needed}; \
         no LM call was made"
    )]
    BudgetTooSmall {
        /// The budget, as text.
        budget: String,
        /// The baseline's estimated spend, as text.
        needed: String,
    },
    /// The budget ran out (an optimizer that has a best candidate returns it instead,
    /// with [`StopReason::BudgetExhausted`]).
    #[error("the LM budget is exhausted ({spent})")]
    BudgetExhausted {
        /// What was spent, as text.
        spent: String,
    },
    /// The checkpoint could not be read, written or resumed.
    #[error("checkpoint {path}: {reason}")]
    Checkpoint {
        /// The checkpoint file.
        path: String,
        /// What went wrong.
        reason: String,
    },
    /// An evaluation failed.
    #[error("evaluation failed: {0}")]
    Eval(#[from] EvalError),
    /// A predictor call could not become a fine-tuning example.
    #[error("fine-tuning data: {0}")]
    FinetuneData(String),
    /// A fine-tuning job failed.
    #[error(transparent)]
    Finetune(#[from] FinetuneError),
    /// Any other failure.
    #[error("{0}")]
    Other(String),
}

/// Why a run ended before its planned end.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// The budget ran out; the best candidate found so far is returned.
    BudgetExhausted,
    /// A candidate reached the target score.
    TargetReached,
}

/// The record of one scored candidate.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrialRecord {
    /// 1-based, in the order trials were scored.
    pub trial: usize,
    /// Whether it was scored on the whole valset or a minibatch.
    pub kind: TrialKind,
    /// What the candidate sets, per predictor.
    pub candidate: CandidateSummary,
    /// Its mean score.
    pub score: f64,
    /// Examples scored.
    pub n_examples: usize,
    /// Examples that failed.
    pub errors: usize,
    /// Tokens and cost of the trial's program calls.
    pub usage: crate::lm::Usage,
    /// LM calls the trial made.
    pub lm_calls: u64,
}

/// What an optimizer found: the best overlay, its validation score, and every trial.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Compiled {
    /// The optimizer's name.
    pub optimizer: String,
    /// The run's seed.
    pub seed: u64,
    /// The best candidate: instructions and demos per predictor path.
    pub overlay: Overlay,
    /// Its score on the valset (None when the optimizer does not score, e.g. LabeledFewShot).
    pub score: Option<f64>,
    /// The unoptimized program's valset score, when measured.
    pub baseline_score: Option<f64>,
    /// Every scored candidate, in order.
    pub trials: Vec<TrialRecord>,
    /// LM spend of the optimization (provider calls; cache hits are free).
    pub spend: Spend,
    /// Why the run ended early, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<StopReason>,
    /// Ids ([`example_id`]) of the train and val examples, so a test set can be checked for overlap.
    pub seen_examples: Vec<String>,
}

impl Compiled {
    /// `ctx` with the compiled overlay in scope: run the program with it.
    pub fn ctx(&self, ctx: &Ctx) -> Ctx {
        ctx.with_overlay(Some(Arc::new(self.overlay.clone())))
    }
}

/// An optimizer: program + trainset + valset + metric -> [`Compiled`].
#[async_trait]
pub trait Optimizer: Send + Sync {
    /// The optimizer's name, as in artifacts and spans (`BootstrapFewShot`, ...).
    fn name(&self) -> &'static str;

    /// The spend this run would need, computed without any LM call.
    fn estimate(
        &self,
        program: &dyn Module,
        trainset: &[Example],
        valset: &[Example],
        ctx: &Ctx,
    ) -> SpendEstimate;

    /// Searches for the best overlay for `program`.
    async fn compile(
        &self,
        program: &dyn Module,
        trainset: &[Example],
        valset: &[Example],
        ctx: &Ctx,
    ) -> Result<Compiled, OptimizeError>;
}

//! Weight optimization: `BootstrapFinetune` and the [`Finetuner`] seam.
//!
//! `BootstrapFinetune`, as DSPy 3.4.1's: run the teacher program over the trainset,
//! keep the runs the metric accepts, turn each predictor call into a chat fine-tuning
//! example ([`super::bootstrap_finetune_data`]), train one model for all predictors
//! (`multitask`, DSPy's default) or one per predictor, and hand back the models for
//! the program's predictors to use ([`FinetuneOutcome::ctx`]). The training itself is
//! a [`Finetuner`]: OpenAI's fine-tuning API ([`crate::lm::OpenAiFinetuner`]) or any
//! other trainer.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use super::OptimizeError;
use super::data::check_disjoint;
use super::finetune_data::{
    FinetuneData, FinetuneDataError, FinetuneDataSettings, FinetuneExample,
    bootstrap_finetune_data, labeled_finetune_data,
};
use crate::data::Example;
use crate::evaluate::Metric;
use crate::lm::Lm;
use crate::module::{Ctx, Module};
use crate::trace::{
    CompileSummary, EndData, EpochSummary, ErrorInfo, FinetuneSummary, SpanGuard, StartData,
};

/// Training settings a [`Finetuner`] passes on (`None`: the trainer's default).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TrainSettings {
    /// Passes over the data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub epochs: Option<u32>,
    /// Examples per step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<u32>,
    /// The learning rate (a local trainer) or its multiplier (OpenAI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub learning_rate: Option<f64>,
    /// Seeds the trainer, where it takes a seed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// A name fragment for the trained model (OpenAI's `suffix`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suffix: Option<String>,
}

/// One training job: a base model and chat examples.
#[derive(Clone, Copy)]
pub struct FinetuneJob<'a> {
    /// The model to start from, as the trainer names it.
    pub base_model: &'a str,
    /// The training examples (system, demos, user turn, assistant completion).
    pub examples: &'a [FinetuneExample],
    /// How to train.
    pub settings: &'a TrainSettings,
    /// Where the trainer reports its epochs ([`NoProgress`] to ignore them).
    pub progress: &'a dyn FinetuneProgress,
}

/// Where a trainer reports its epochs, as it runs them. `BootstrapFinetune` makes each
/// epoch a span under the job's span; a provider's job that reports no epochs calls
/// neither.
pub trait FinetuneProgress: Send + Sync {
    /// Epoch `epoch` (from 1) starts.
    fn epoch_started(&self, epoch: u64) {
        let _ = epoch;
    }
    /// Epoch `epoch` ended with this mean loss and speed.
    fn epoch_ended(&self, epoch: u64, loss: f64, tokens_per_s: f64) {
        let _ = (epoch, loss, tokens_per_s);
    }
}

/// Ignores a trainer's progress.
pub struct NoProgress;
impl FinetuneProgress for NoProgress {}

/// Epochs as spans under a fine-tuning job's span.
struct EpochSpans {
    ctx: Ctx,
    open: std::sync::Mutex<Option<SpanGuard>>,
}

impl FinetuneProgress for EpochSpans {
    fn epoch_started(&self, epoch: u64) {
        let span = self
            .ctx
            .start_span(format!("epoch {epoch}"), || StartData::Epoch {
                index: epoch,
            });
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        // An epoch the trainer never ended ends (cancelled) when the next one starts.
        *open = Some(span);
    }
    fn epoch_ended(&self, _epoch: u64, loss: f64, tokens_per_s: f64) {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(span) = open {
            span.end(EndData::Epoch(Ok(EpochSummary { loss, tokens_per_s })));
        }
    }
}

/// What a training job produced.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FinetunedModel {
    /// The trained model's id, to call it by (`ft:gpt-4o-mini:org::abc`, a file name).
    pub model_id: String,
    /// The base model it was trained from.
    pub base_model: String,
    /// A local adapter file, for trainers that write one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub adapter: Option<PathBuf>,
    /// The provider's job id, for trainers that run jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// Tokens trained on, when the trainer says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trained_tokens: Option<u64>,
    /// Training examples used.
    pub examples: usize,
    /// Loss per epoch or step, when the trainer reports it.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub loss_curve: Vec<f64>,
}

/// Why a training job failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FinetuneError {
    /// The trainer is misconfigured (no key, a bad URL).
    #[error("fine-tuning configuration: {0}")]
    Config(String),
    /// The provider answered with an error status.
    #[error("{provider} returned HTTP {status} for {what}: {body}")]
    Http {
        /// Who answered.
        provider: String,
        /// What was asked (`file upload`, `job creation`, `job status`).
        what: &'static str,
        /// The status code.
        status: u16,
        /// The error message from the body (cut short).
        body: String,
    },
    /// The provider could not be reached or sent something unreadable.
    #[error("{provider}: {message}")]
    Transport {
        /// Who was asked.
        provider: String,
        /// What went wrong.
        message: String,
    },
    /// The job ended without a model.
    #[error("fine-tuning job {job} {status}: {message}")]
    JobFailed {
        /// The job id.
        job: String,
        /// `failed` or `cancelled`.
        status: String,
        /// The provider's reason.
        message: String,
    },
    /// The job did not finish in time.
    #[error("fine-tuning job {job} still {status} after {waited_s} s")]
    TimedOut {
        /// The job id.
        job: String,
        /// Its last status.
        status: String,
        /// How long Sigil waited.
        waited_s: u64,
    },
    /// No example to train on.
    #[error("no training examples: the metric accepted no teacher run")]
    NoData,
    /// The examples could not be written.
    #[error(transparent)]
    Data(#[from] FinetuneDataError),
}

/// Trains a model on chat examples.
#[async_trait]
pub trait Finetuner: Send + Sync {
    /// A short name for reports and artifacts (`openai`, `local-lora`).
    fn name(&self) -> &str;
    /// Runs one job to its end.
    async fn finetune(&self, job: FinetuneJob<'_>) -> Result<FinetunedModel, FinetuneError>;
}

/// DSPy's `BootstrapFinetune`: distils a program's accepted runs into fine-tuned
/// weights. See the module docs.
pub struct BootstrapFinetune {
    metric: Arc<dyn Metric>,
    finetuner: Arc<dyn Finetuner>,
    base_model: String,
    multitask: bool,
    train: TrainSettings,
    data: FinetuneDataSettings,
}

/// The models a [`BootstrapFinetune`] run trained, and the data it trained them on.
#[derive(Clone, Debug, PartialEq)]
pub struct FinetuneOutcome {
    /// The fine-tuning examples.
    pub data: FinetuneData,
    /// Each trained model and the predictor paths that use it.
    pub models: Vec<(Vec<String>, FinetunedModel)>,
}

impl FinetuneOutcome {
    /// `ctx` with every fine-tuned predictor's LM replaced by the LM `lm_of` makes for
    /// its model (an `OpenAiClient` for the new model id, the embedded engine with the
    /// adapter, ...). The overlay, hooks and everything else stay as they are.
    pub fn ctx(&self, ctx: &Ctx, lm_of: impl Fn(&FinetunedModel) -> Arc<dyn Lm>) -> Ctx {
        with_models(ctx.clone(), &self.models, &lm_of)
    }
}

/// `ctx` with each model's paths calling the LM `lm_of` makes for it.
pub(super) fn with_models(
    mut ctx: Ctx,
    models: &[(Vec<String>, FinetunedModel)],
    lm_of: &dyn Fn(&FinetunedModel) -> Arc<dyn Lm>,
) -> Ctx {
    for (paths, model) in models {
        let lm = lm_of(model);
        for path in paths {
            ctx = ctx.with_lm_for(path, lm.clone());
        }
    }
    ctx
}

impl BootstrapFinetune {
    /// Fine-tunes `base_model` with `finetuner` on the runs `metric` accepts.
    pub fn new(
        metric: impl Metric + 'static,
        finetuner: Arc<dyn Finetuner>,
        base_model: impl Into<String>,
    ) -> Self {
        BootstrapFinetune {
            metric: Arc::new(metric),
            finetuner,
            base_model: base_model.into(),
            multitask: true,
            train: TrainSettings::default(),
            data: FinetuneDataSettings::default(),
        }
    }
    /// One model for all predictors (`true`, the default) or one per predictor.
    pub fn multitask(mut self, yes: bool) -> Self {
        self.multitask = yes;
        self
    }
    /// The training settings passed to the finetuner.
    pub fn train_settings(mut self, settings: TrainSettings) -> Self {
        self.train = settings;
        self
    }
    /// How the teacher runs are collected (threshold, demos in the prompts, seed).
    pub fn data_settings(mut self, settings: FinetuneDataSettings) -> Self {
        self.data = settings;
        self
    }

    /// Collects the data with `ctx` as the teacher, then trains. `valset` is only
    /// checked to share no example with the trainset (score the result on it after).
    ///
    /// The run is a `compile` span (so stores and the UI list it with the other
    /// compiles) holding the teacher's runs and a `finetune` span per trained model,
    /// with an `epoch` span per epoch under it.
    pub async fn compile(
        &self,
        program: &dyn Module,
        trainset: &[Example],
        valset: &[Example],
        ctx: &Ctx,
    ) -> Result<FinetuneOutcome, OptimizeError> {
        let span = ctx.start_span("compile BootstrapFinetune", || StartData::Compile {
            optimizer: Arc::from("BootstrapFinetune"),
            program: Arc::from(program.name()),
            trainset: trainset.len(),
            valset: valset.len(),
            config: Arc::new(serde_json::json!({
                "trainer": self.finetuner.name(),
                "base_model": self.base_model,
                "multitask": self.multitask,
                "from_labels": self.data.from_labels,
                "exclude_demos": self.data.exclude_demos,
                "settings": self.train,
            })),
        });
        let result = self.run(program, trainset, valset, &ctx.child(&span)).await;
        match &result {
            Ok(_) => span.end(EndData::Compile(Ok(CompileSummary {
                best_score: None,
                artifact_hash: None,
                trials: 0,
            }))),
            Err(e) => span.end(EndData::Compile(Err(ErrorInfo::new(
                "finetune",
                e.to_string(),
            )))),
        }
        result
    }

    async fn run(
        &self,
        program: &dyn Module,
        trainset: &[Example],
        valset: &[Example],
        ctx: &Ctx,
    ) -> Result<FinetuneOutcome, OptimizeError> {
        check_disjoint("trainset", trainset, "valset", valset)?;
        let data = if self.data.from_labels {
            labeled_finetune_data(program, trainset, ctx, &self.data)?
        } else {
            bootstrap_finetune_data(program, trainset, self.metric.as_ref(), ctx, &self.data)
                .await?
        };
        if data.examples.is_empty() {
            return Err(OptimizeError::Finetune(FinetuneError::NoData));
        }
        let paths: Vec<String> = program
            .named_predictors()
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        let groups: Vec<(Vec<String>, Vec<FinetuneExample>)> = if self.multitask {
            vec![(paths, data.examples.clone())]
        } else {
            paths
                .into_iter()
                .map(|p| {
                    let examples = data.for_path(&p).cloned().collect();
                    (vec![p], examples)
                })
                .filter(|(_, e): &(Vec<String>, Vec<FinetuneExample>)| !e.is_empty())
                .collect()
        };
        let mut models = Vec::with_capacity(groups.len());
        for (paths, examples) in groups {
            let span = ctx.start_span(format!("finetune {}", self.finetuner.name()), || {
                StartData::Finetune {
                    trainer: Arc::from(self.finetuner.name()),
                    base_model: Arc::from(self.base_model.as_str()),
                    examples: examples.len(),
                    settings: Arc::new(serde_json::to_value(&self.train).unwrap_or_default()),
                }
            });
            let progress = EpochSpans {
                ctx: ctx.child(&span),
                open: std::sync::Mutex::new(None),
            };
            let result = self
                .finetuner
                .finetune(FinetuneJob {
                    base_model: &self.base_model,
                    examples: &examples,
                    settings: &self.train,
                    progress: &progress,
                })
                .await;
            drop(progress);
            match result {
                Ok(model) => {
                    span.end(EndData::Finetune(Ok(FinetuneSummary {
                        model_id: model.model_id.clone(),
                        trained_tokens: model.trained_tokens,
                        loss_curve: model.loss_curve.clone(),
                    })));
                    models.push((paths, model));
                }
                Err(e) => {
                    span.end(EndData::Finetune(Err(ErrorInfo::new(
                        "finetune",
                        e.to_string(),
                    ))));
                    return Err(OptimizeError::Finetune(e));
                }
            }
        }
        Ok(FinetuneOutcome { data, models })
    }
}

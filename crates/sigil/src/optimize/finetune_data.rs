//! Fine-tuning data: a program's predictor calls as chat fine-tuning examples.
//!
//! DSPy's `BootstrapFinetune` runs a teacher program over the trainset, keeps the runs
//! its metric accepts, and turns each predictor call of those runs into the exact
//! messages the adapter sends at inference (system message, demo turns, user turn)
//! followed by the assistant turn the adapter expects for the call's outputs
//! (`ChatAdapter.format_finetune_data`). [`bootstrap_finetune_data`] does the same with
//! the optimizers' demo capture; [`finetune_messages`] formats one call, and
//! [`write_jsonl`] writes OpenAI's chat fine-tuning JSONL, which DSPy sends to every
//! provider and any other trainer reads.

use std::path::Path;

use futures::StreamExt;
use serde::{Deserialize, Serialize};

use super::OptimizeError;
use super::capture::DemoCapture;
use crate::adapter::{Adapter, Fields, FormatError};
use crate::data::Example;
use crate::evaluate::Metric;
use crate::lm::{Message, Role};
use crate::module::{Ctx, Module};
use crate::rng::SeededRng;
use crate::signature::Signature;

/// One chat fine-tuning example: the messages of one predictor call, the assistant
/// completion last.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FinetuneExample {
    /// The predictor's path in the program (`""` for a bare predictor).
    pub path: String,
    /// System message, demo turns, user turn, then the assistant completion.
    pub messages: Vec<Message>,
}

#[derive(Serialize)]
struct JsonlMessage<'a> {
    role: &'static str,
    content: &'a str,
}

#[derive(Serialize)]
struct JsonlLine<'a> {
    messages: Vec<JsonlMessage<'a>>,
}

impl FinetuneExample {
    /// The example as one line of OpenAI's chat fine-tuning JSONL,
    /// `{"messages":[{"role":"system","content":"..."},...]}`, byte for byte as DSPy
    /// writes it (compact JSON, UTF-8 unescaped).
    pub fn jsonl_line(&self) -> String {
        let line = JsonlLine {
            messages: self
                .messages
                .iter()
                .map(|m| JsonlMessage {
                    role: match m.role {
                        Role::System => "system",
                        Role::User => "user",
                        Role::Assistant => "assistant",
                    },
                    content: &m.content,
                })
                .collect(),
        };
        // Serializing strings and a derived struct cannot fail.
        serde_json::to_string(&line).unwrap_or_default()
    }
}

/// Why a call could not become a fine-tuning example, or the data not be written.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FinetuneDataError {
    /// The adapter has no assistant-turn format to train on.
    #[error("the {adapter} adapter has no fine-tuning format")]
    Unsupported {
        /// The adapter's name.
        adapter: String,
    },
    /// An output field has no value, so there is no completion to train on.
    #[error("output field `{field}` has no value: a fine-tuning example needs every output")]
    MissingOutput {
        /// The field.
        field: String,
    },
    /// The inputs do not fit the signature.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// The JSONL file could not be written.
    #[error("cannot write {path}: {message}")]
    Io {
        /// The file.
        path: String,
        /// What the system said.
        message: String,
    },
}

/// The messages of one predictor call as a fine-tuning example: what `adapter` sends
/// for (`signature`, `demos`, `inputs`), then the assistant turn for `outputs`.
pub fn finetune_messages(
    adapter: &dyn Adapter,
    signature: &Signature,
    demos: &[Example],
    inputs: &Example,
    outputs: &Fields,
) -> Result<Vec<Message>, FinetuneDataError> {
    let mut values = Example::new();
    for f in signature.outputs() {
        match outputs.get(&f.name) {
            Some(v) if !v.is_null() => values.insert(f.name.clone(), v.clone()),
            _ => {
                return Err(FinetuneDataError::MissingOutput {
                    field: f.name.clone(),
                });
            }
        }
    }
    let assistant = adapter
        .format_assistant(signature, &values)
        .ok_or_else(|| FinetuneDataError::Unsupported {
            adapter: adapter.name().to_string(),
        })?;
    let mut messages = adapter.format(signature, demos, inputs)?;
    messages.push(Message::assistant(assistant));
    Ok(messages)
}

/// Writes `examples` as OpenAI chat fine-tuning JSONL, one [`FinetuneExample::jsonl_line`]
/// per line. The file appears whole or not at all (written beside it, then renamed).
pub fn write_jsonl(path: &Path, examples: &[FinetuneExample]) -> Result<(), FinetuneDataError> {
    let mut text = String::new();
    for e in examples {
        text.push_str(&e.jsonl_line());
        text.push('\n');
    }
    crate::artifact::write_atomic(path, text.as_bytes()).map_err(|e| match e {
        crate::artifact::ArtifactError::Io { file, message } => FinetuneDataError::Io {
            path: file,
            message,
        },
        other => FinetuneDataError::Io {
            path: path.display().to_string(),
            message: other.to_string(),
        },
    })
}

/// What [`bootstrap_finetune_data`] collected.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FinetuneData {
    /// The examples, shuffled with the seed.
    pub examples: Vec<FinetuneExample>,
    /// Train examples the teacher ran on.
    pub runs: usize,
    /// Runs the metric accepted (their calls are the examples).
    pub kept: usize,
    /// Runs that failed (an LM or parse error), so were not scored.
    pub failed: usize,
}

impl FinetuneData {
    /// The examples of one predictor (DSPy's `multitask=False`: one model per predictor).
    pub fn for_path<'a>(&'a self, path: &'a str) -> impl Iterator<Item = &'a FinetuneExample> {
        self.examples.iter().filter(move |e| e.path == path)
    }
}

/// How [`bootstrap_finetune_data`] runs.
#[derive(Clone, Debug, PartialEq)]
pub struct FinetuneDataSettings {
    /// A run is kept when its score is at least this; `None`: when it is nonzero.
    pub threshold: Option<f64>,
    /// Leave the predictors' demos out of the examples' prompts (DSPy's
    /// `exclude_demos`), for a model that will run without them.
    pub exclude_demos: bool,
    /// Teacher runs at once.
    pub concurrency: usize,
    /// Seeds the shuffle of the examples.
    pub seed: u64,
    /// Train on the trainset's labels instead of a teacher's accepted runs: each
    /// example's inputs and labelled outputs are the call. Only for a program with one
    /// predictor (whose outputs are the labels); no LM is called to collect the data.
    pub from_labels: bool,
}

impl Default for FinetuneDataSettings {
    fn default() -> Self {
        FinetuneDataSettings {
            threshold: None,
            exclude_demos: false,
            concurrency: 4,
            seed: 0,
            from_labels: false,
        }
    }
}

/// The training data of a one-predictor program straight from labelled examples: each
/// train example's inputs, and its labels for the predictor's outputs as the reply,
/// in the messages `ctx`'s adapter sends with the predictor's instructions and demos
/// (as `ctx`'s overlay sets them). An example without a label for every output is an
/// error naming it.
pub fn labeled_finetune_data(
    program: &dyn Module,
    trainset: &[Example],
    ctx: &Ctx,
    settings: &FinetuneDataSettings,
) -> Result<FinetuneData, OptimizeError> {
    if trainset.is_empty() {
        return Err(OptimizeError::EmptyTrainset);
    }
    let predictors = program.named_predictors();
    let (path, predict) = match predictors.as_slice() {
        [] => return Err(OptimizeError::NoPredictors),
        [one] => one,
        more => {
            return Err(OptimizeError::Config(format!(
                "training on labels needs a program with one predictor; this one has {} ({}): use its teacher's runs",
                more.len(),
                more.iter()
                    .map(|(p, _)| p.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
    };
    let state = ctx.overlay().and_then(|o| o.get(path));
    let signature = match state.and_then(|s| s.instructions.as_ref()) {
        Some(i) => predict.signature().with_instructions(i.clone()),
        None => predict.signature().clone(),
    };
    let demos = match (settings.exclude_demos, state.and_then(|s| s.demos.as_ref())) {
        (true, _) => &[][..],
        (false, Some(d)) => d.as_slice(),
        (false, None) => predict.demos(),
    };
    let adapter = ctx.adapter();
    let mut data = FinetuneData {
        runs: trainset.len(),
        kept: trainset.len(),
        ..Default::default()
    };
    for (i, example) in trainset.iter().enumerate() {
        let mut outputs = crate::adapter::Fields::new();
        for f in signature.outputs() {
            let Some(v) = example.get(&f.name).filter(|v| !v.is_null()) else {
                return Err(OptimizeError::FinetuneData(format!(
                    "train example {i} has no label for the output `{}`",
                    f.name
                )));
            };
            outputs.insert(f.name.clone(), v.clone());
        }
        let messages = finetune_messages(
            adapter.as_ref(),
            &signature,
            demos,
            &example.inputs(),
            &outputs,
        )
        .map_err(|e| OptimizeError::FinetuneData(e.to_string()))?;
        data.examples.push(FinetuneExample {
            path: path.clone(),
            messages,
        });
    }
    SeededRng::new(settings.seed).shuffle(&mut data.examples);
    Ok(data)
}

/// Runs `program` (the teacher: its overlay and LMs are `ctx`'s) on every train
/// example, keeps the runs `metric` accepts, and turns each predictor call of those
/// runs into a fine-tuning example with `ctx`'s adapter and the predictor's signature
/// and demos as the call saw them.
pub async fn bootstrap_finetune_data(
    program: &dyn Module,
    trainset: &[Example],
    metric: &dyn Metric,
    ctx: &Ctx,
    settings: &FinetuneDataSettings,
) -> Result<FinetuneData, OptimizeError> {
    if trainset.is_empty() {
        return Err(OptimizeError::EmptyTrainset);
    }
    let predictors = program.named_predictors();
    if predictors.is_empty() {
        return Err(OptimizeError::NoPredictors);
    }
    // By index, not by reference: a stream of `&Example` closures is not `Send` for
    // every lifetime, which a caller spawning this future needs.
    let runs: Vec<_> = futures::stream::iter(0..trainset.len())
        .map(|i| async move {
            let example = &trainset[i];
            let capture = DemoCapture::new();
            let run = program
                .call(&ctx.with_hook(capture.clone()), example.inputs())
                .await;
            run.ok().map(|prediction| {
                let score = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    metric.try_score(example, &prediction)
                }));
                let passed =
                    matches!(score, Ok(Ok(s)) if super::bootstrap::passes(s, settings.threshold));
                passed.then(|| capture.take())
            })
        })
        .buffered(settings.concurrency.max(1))
        .collect()
        .await;
    let mut data = FinetuneData {
        runs: runs.len(),
        ..Default::default()
    };
    let adapter = ctx.adapter();
    for run in runs {
        let calls = match run {
            None => {
                data.failed += 1;
                continue;
            }
            Some(None) => continue,
            Some(Some(calls)) => calls,
        };
        data.kept += 1;
        for call in calls {
            let Some((_, predict)) = predictors.iter().find(|(p, _)| *p == call.path) else {
                continue;
            };
            let state = ctx.overlay().and_then(|o| o.get(&call.path));
            let signature = match state.and_then(|s| s.instructions.as_ref()) {
                Some(i) => predict.signature().with_instructions(i.clone()),
                None => predict.signature().clone(),
            };
            let demos = match (settings.exclude_demos, state.and_then(|s| s.demos.as_ref())) {
                (true, _) => &[][..],
                (false, Some(d)) => d.as_slice(),
                (false, None) => predict.demos(),
            };
            let messages = finetune_messages(
                adapter.as_ref(),
                &signature,
                demos,
                &call.inputs,
                &call.outputs,
            )
            .map_err(|e| OptimizeError::FinetuneData(e.to_string()))?;
            data.examples.push(FinetuneExample {
                path: call.path,
                messages,
            });
        }
    }
    SeededRng::new(settings.seed).shuffle(&mut data.examples);
    Ok(data)
}

//! What hook events carry: the owned payloads spans are built from ([`StartData`],
//! [`EndData`]) and the borrowed events hooks receive ([`SpanStart`], [`SpanEnd`]),
//! which lend the call's own data and build owned copies only on demand.

use std::borrow::Cow;
use std::sync::Arc;

use serde_json::Value;

use super::hooks::SpanParent;
use super::ids::{SpanId, TraceId};
use super::program::ProgramInfo;
use super::span::{AttrValue, SpanEvent, SpanKind};
use crate::adapter::{Fields, FormatError, ParseError};
use crate::data::{Example, Prediction};
use crate::lm::{
    Lm, LmError, LmParams, LmRequest, LmResponse, Message, OutputConstraint, ToolSpec, Usage,
};

/// What a span started with, one variant per [`SpanKind`].
#[derive(Clone, Debug)]
pub enum StartData {
    /// A module call.
    Module {
        /// The inputs it was called with.
        inputs: Arc<Example>,
    },
    /// An LM request.
    Lm {
        /// The LM's model id.
        model_id: Arc<str>,
        /// The messages, parameters and constraint sent.
        input: Arc<LmInput>,
    },
    /// The adapter formatting a request.
    Format {
        /// The adapter's name (`chat`, `json`).
        adapter: &'static str,
        /// How many demos were formatted.
        demos: usize,
        /// The inputs formatted.
        inputs: Arc<Example>,
    },
    /// The adapter parsing a completion.
    Parse {
        /// The adapter's name.
        adapter: &'static str,
        /// The completion parsed.
        completion: Arc<str>,
        /// Whether this is the JSON fallback's retry after the first adapter failed.
        fallback: bool,
    },
    /// A tool call.
    Tool {
        /// The tool's name.
        tool: Arc<str>,
        /// Its arguments.
        args: Arc<Value>,
    },
    /// A retrieval hop.
    Retrieval {
        /// The query.
        query: Arc<str>,
        /// How many passages were asked for, if a number was.
        k: Option<usize>,
    },
    /// An evaluation run.
    Evaluate {
        /// The program's name.
        program: Arc<str>,
        /// The metric's name.
        metric: Arc<str>,
        /// How many examples are scored.
        examples: usize,
    },
    /// A compile run.
    Compile {
        /// The optimizer's name.
        optimizer: Arc<str>,
        /// The program's name.
        program: Arc<str>,
        /// Training examples.
        trainset: usize,
        /// Validation examples.
        valset: usize,
        /// The optimizer's settings, as JSON.
        config: Arc<Value>,
    },
    /// An optimizer trial.
    Trial {
        /// The trial's number in its run, from 1.
        index: u64,
        /// The candidate tried, as JSON.
        candidate: Arc<Value>,
    },
    /// A fine-tuning job.
    Finetune {
        /// The trainer (`openai`, `local-lora`).
        trainer: Arc<str>,
        /// The model it starts from.
        base_model: Arc<str>,
        /// Training examples.
        examples: usize,
        /// The training settings, as JSON.
        settings: Arc<Value>,
    },
    /// One epoch of a fine-tuning job.
    Epoch {
        /// The epoch's number, from 1.
        index: u64,
    },
}

impl StartData {
    /// The kind of span this starts.
    pub fn kind(&self) -> SpanKind {
        match self {
            StartData::Module { .. } => SpanKind::Module,
            StartData::Lm { .. } => SpanKind::Lm,
            StartData::Format { .. } => SpanKind::Format,
            StartData::Parse { .. } => SpanKind::Parse,
            StartData::Tool { .. } => SpanKind::Tool,
            StartData::Retrieval { .. } => SpanKind::Retrieval,
            StartData::Evaluate { .. } => SpanKind::Evaluate,
            StartData::Compile { .. } => SpanKind::Compile,
            StartData::Trial { .. } => SpanKind::Trial,
            StartData::Finetune { .. } => SpanKind::Finetune,
            StartData::Epoch { .. } => SpanKind::Epoch,
        }
    }
}

/// What an LM call was asked: the messages (a shared, cached prefix and this call's
/// own turns, so recording them copies only the new turn), parameters and the kind of
/// output constraint.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LmInput {
    /// The leading messages shared by every call of a predictor (system message, demos).
    pub prefix: Arc<[Message]>,
    /// This call's own messages, after the prefix.
    pub turns: Vec<Message>,
    /// The sampling parameters.
    pub params: LmParams,
    /// `choice`, `chat_fields`, `chat_fields_by_choice` or `json_schema`.
    pub constraint: Option<&'static str>,
    /// The tools offered for native tool calling (empty: none).
    pub tools: Vec<ToolSpec>,
}

impl LmInput {
    /// From a whole request (copies its messages).
    pub fn from_request(request: &LmRequest) -> Self {
        LmInput {
            prefix: Arc::from(Vec::new()),
            turns: request.messages.clone(),
            params: request.params.clone(),
            constraint: request.constraint.as_ref().map(constraint_kind),
            tools: request.tools.clone(),
        }
    }
    /// Every message, in order.
    pub fn messages(&self) -> impl Iterator<Item = &Message> {
        self.prefix.iter().chain(self.turns.iter())
    }
}

/// The short name of a constraint's kind.
pub(crate) fn constraint_kind(c: &OutputConstraint) -> &'static str {
    match c {
        OutputConstraint::Choice { .. } => "choice",
        OutputConstraint::ChatFields { .. } => "chat_fields",
        OutputConstraint::ChatFieldsByChoice { .. } => "chat_fields_by_choice",
        OutputConstraint::JsonSchema { .. } => "json_schema",
    }
}

/// A failure, as spans record it: the error's type and its message.
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorInfo {
    /// The kind of error (`lm`, `parse`, `format`, ...), recorded as `error.type`.
    pub kind: &'static str,
    /// The error's message.
    pub message: String,
}

impl ErrorInfo {
    /// An error of `kind` with `message`.
    pub fn new(kind: &'static str, message: impl Into<String>) -> Self {
        ErrorInfo {
            kind,
            message: message.into(),
        }
    }
}

/// A module's result, as its end event carries it.
#[derive(Clone, Debug)]
pub struct ModuleOutput {
    /// The output fields.
    pub outputs: Arc<Fields>,
    /// The LM usage of the call and everything under it.
    pub usage: Usage,
    /// LM calls made.
    pub lm_calls: u32,
    /// Parses that needed the JSON fallback.
    pub fallbacks: u32,
}

/// What an evaluation found.
#[derive(Clone, Debug, Default)]
pub struct EvalSummary {
    /// The mean score.
    pub mean: f64,
    /// Examples that failed to run or score.
    pub errors: usize,
    /// The LM usage of the whole run.
    pub usage: Usage,
    /// Each example's inputs and score, in example order (for per-example views).
    pub example_scores: Arc<Vec<(Example, f64)>>,
}

/// What a compile run produced.
#[derive(Clone, Debug, Default)]
pub struct CompileSummary {
    /// The best validation score, if any trial was scored.
    pub best_score: Option<f64>,
    /// The content hash of the artifact written, if one was.
    pub artifact_hash: Option<String>,
    /// Trials run.
    pub trials: u64,
}

/// What a fine-tuning job made.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FinetuneSummary {
    /// The trained model's id.
    pub model_id: String,
    /// Tokens trained on, when the trainer says.
    pub trained_tokens: Option<u64>,
    /// Loss per epoch, when the trainer reports it.
    pub loss_curve: Vec<f64>,
}

/// What one epoch of a fine-tuning job measured.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct EpochSummary {
    /// Mean training loss over the epoch.
    pub loss: f64,
    /// Tokens trained on per second.
    pub tokens_per_s: f64,
}

/// What a span ended with. `Err` ends it with an error status.
#[derive(Clone, Debug)]
pub enum EndData {
    /// A module's outputs.
    Module(Result<ModuleOutput, ErrorInfo>),
    /// The LM's response.
    Lm(Result<Arc<LmResponse>, ErrorInfo>),
    /// The number of messages formatted.
    Format(Result<usize, ErrorInfo>),
    /// The parsed fields.
    Parse(Result<Arc<Fields>, ErrorInfo>),
    /// The tool's result.
    Tool(Result<Arc<Value>, ErrorInfo>),
    /// The passages found.
    Retrieval(Result<Arc<Vec<String>>, ErrorInfo>),
    /// What the evaluation found.
    Evaluate(Result<EvalSummary, ErrorInfo>),
    /// What the compile run produced.
    Compile(Result<CompileSummary, ErrorInfo>),
    /// The candidate's score.
    Trial(Result<Option<f64>, ErrorInfo>),
    /// What a fine-tuning job made.
    Finetune(Result<FinetuneSummary, ErrorInfo>),
    /// What an epoch measured.
    Epoch(Result<EpochSummary, ErrorInfo>),
    /// The span's future was dropped before it finished.
    Cancelled,
}

impl EndData {
    /// The error it ended with, if any (not [`EndData::Cancelled`]).
    pub fn error(&self) -> Option<&ErrorInfo> {
        match self {
            EndData::Module(Err(e))
            | EndData::Lm(Err(e))
            | EndData::Format(Err(e))
            | EndData::Parse(Err(e))
            | EndData::Tool(Err(e))
            | EndData::Retrieval(Err(e))
            | EndData::Evaluate(Err(e))
            | EndData::Compile(Err(e))
            | EndData::Trial(Err(e))
            | EndData::Finetune(Err(e))
            | EndData::Epoch(Err(e)) => Some(e),
            _ => None,
        }
    }
}

/// What the start event of a span borrows, per kind.
#[derive(Clone, Copy)]
pub(crate) enum StartSource<'a> {
    /// A span opened with `Ctx::start_span`: its data as given.
    Data(&'a StartData),
    /// A `Predict` call: its path in the program and its inputs.
    Predict {
        path: &'a str,
        inputs: &'a Arc<Example>,
    },
    Format {
        adapter: &'static str,
        demos: usize,
        inputs: &'a Arc<Example>,
    },
    Lm(LmSource<'a>),
    Parse {
        adapter: &'static str,
        completion: &'a str,
        fallback: bool,
    },
    /// The span's future was dropped; only its kind is known.
    Gone(SpanKind),
}

/// An LM call's request, as parts the call holds: the prompt is the cached prefix
/// plus the turns the format step added.
#[derive(Clone, Copy)]
pub(crate) struct LmSource<'a> {
    pub lm: &'a dyn Lm,
    pub prefix: &'a Arc<[Message]>,
    pub turns: &'a [Message],
    pub inputs: &'a Example,
    pub params: &'a LmParams,
    pub constraint: Option<&'static str>,
    pub tools: &'a [ToolSpec],
}

impl LmSource<'_> {
    pub(crate) fn input(&self) -> LmInput {
        LmInput {
            prefix: self.prefix.clone(),
            turns: self.turns.to_vec(),
            params: self.params.clone(),
            constraint: self.constraint,
            tools: self.tools.to_vec(),
        }
    }
}

/// A span's start event. Borrowed from the call: [`SpanStart::data`] makes an owned
/// copy for a hook that wants to keep it.
#[derive(Clone, Copy)]
pub struct SpanStart<'a> {
    /// The trace the span belongs to.
    pub trace_id: TraceId,
    /// The call id: pairs this start with its end; also the span id.
    pub call_id: SpanId,
    /// The parent span, `None` for a root.
    pub parent_id: Option<SpanId>,
    /// Nanoseconds since the Unix epoch.
    pub start_ns: u64,
    /// What program is running and whether it was compiled (from the ctx).
    pub program: Option<&'a ProgramInfo>,
    pub(crate) name: &'a str,
    pub(crate) source: StartSource<'a>,
}

impl std::fmt::Debug for SpanStart<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanStart")
            .field("trace_id", &self.trace_id)
            .field("call_id", &self.call_id)
            .field("parent_id", &self.parent_id)
            .field("kind", &self.kind())
            .field("name", &self.name())
            .field("start_ns", &self.start_ns)
            .finish()
    }
}

impl<'a> SpanStart<'a> {
    /// What the span stands for.
    pub fn kind(&self) -> SpanKind {
        match self.source {
            StartSource::Data(d) => d.kind(),
            StartSource::Predict { .. } => SpanKind::Module,
            StartSource::Format { .. } => SpanKind::Format,
            StartSource::Lm(_) => SpanKind::Lm,
            StartSource::Parse { .. } => SpanKind::Parse,
            StartSource::Gone(k) => k,
        }
    }
    /// The span's name: the predictor path, `chat.format`, `chat {model}`, ...
    pub fn name(&self) -> Cow<'a, str> {
        match self.source {
            StartSource::Lm(l) => Cow::Owned(format!("chat {}", l.lm.model_id())),
            _ => Cow::Borrowed(self.name),
        }
    }
    /// This span as the parent of spans opened under it.
    pub fn parent(&self) -> SpanParent {
        SpanParent {
            trace_id: self.trace_id,
            span_id: self.call_id,
            sampled: true,
        }
    }
    /// The predictor's path in its program, when this is a `Predict` call's module
    /// span (`""` for a bare predictor run on its own).
    pub fn predictor_path(&self) -> Option<&'a str> {
        match self.source {
            StartSource::Predict { path, .. } => Some(path),
            _ => None,
        }
    }
    /// The inputs of a module or format span, borrowed.
    pub fn inputs(&self) -> Option<&'a Example> {
        match self.source {
            StartSource::Predict { inputs, .. } | StartSource::Format { inputs, .. } => {
                Some(inputs)
            }
            StartSource::Lm(l) => Some(l.inputs),
            StartSource::Data(StartData::Module { inputs })
            | StartSource::Data(StartData::Format { inputs, .. }) => Some(inputs),
            _ => None,
        }
    }
    /// The raw completion a parse span parses, borrowed.
    pub fn completion(&self) -> Option<&'a str> {
        match self.source {
            StartSource::Parse { completion, .. } => Some(completion),
            StartSource::Data(StartData::Parse { completion, .. }) => Some(completion),
            _ => None,
        }
    }
    /// What the span started with, as owned data (built on demand: for an LM span this
    /// renders the messages).
    pub fn data(&self) -> Cow<'a, StartData> {
        match self.source {
            StartSource::Data(d) => Cow::Borrowed(d),
            StartSource::Predict { inputs, .. } => Cow::Owned(StartData::Module {
                inputs: inputs.clone(),
            }),
            StartSource::Format {
                adapter,
                demos,
                inputs,
            } => Cow::Owned(StartData::Format {
                adapter,
                demos,
                inputs: inputs.clone(),
            }),
            StartSource::Lm(l) => Cow::Owned(StartData::Lm {
                model_id: Arc::from(l.lm.model_id()),
                input: Arc::new(l.input()),
            }),
            StartSource::Parse {
                adapter,
                completion,
                fallback,
            } => Cow::Owned(StartData::Parse {
                adapter,
                completion: Arc::from(completion),
                fallback,
            }),
            StartSource::Gone(kind) => Cow::Owned(gone_data(kind)),
        }
    }
}

/// Placeholder start data for a span whose call was dropped before its end.
fn gone_data(kind: SpanKind) -> StartData {
    let empty = || Arc::new(Example::new());
    match kind {
        SpanKind::Lm => StartData::Lm {
            model_id: Arc::from(""),
            input: Arc::new(LmInput::default()),
        },
        SpanKind::Format => StartData::Format {
            adapter: "",
            demos: 0,
            inputs: empty(),
        },
        SpanKind::Parse => StartData::Parse {
            adapter: "",
            completion: Arc::from(""),
            fallback: false,
        },
        _ => StartData::Module { inputs: empty() },
    }
}

/// What the end event of a span borrows, per kind.
#[derive(Clone, Copy)]
pub(crate) enum EndSource<'a> {
    Data(&'a EndData),
    /// A `Predict` call's result.
    Module(Result<&'a Prediction, &'a ErrorInfo>),
    Format(Result<usize, &'a FormatError>),
    Lm(Result<&'a Arc<LmResponse>, &'a LmError>),
    Parse(Result<&'a Fields, &'a ParseError>),
}

/// A span's end event. Borrowed like [`SpanStart`].
#[derive(Clone, Copy)]
pub struct SpanEnd<'a> {
    /// Nanoseconds since the Unix epoch.
    pub end_ns: u64,
    /// Events recorded while the span was open (fallbacks, retries, custom).
    pub events: &'a [SpanEvent],
    /// Extra attributes set by the emitter ([`SpanGuard::set_attribute`](super::SpanGuard::set_attribute)).
    pub attributes: &'a [(String, AttrValue)],
    pub(crate) source: EndSource<'a>,
}

impl std::fmt::Debug for SpanEnd<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanEnd")
            .field("end_ns", &self.end_ns)
            .field("ok", &self.is_ok())
            .finish()
    }
}

impl<'a> SpanEnd<'a> {
    /// Whether the span ended without an error (and was not cancelled).
    pub fn is_ok(&self) -> bool {
        match self.source {
            EndSource::Data(d) => d.error().is_none() && !matches!(d, EndData::Cancelled),
            EndSource::Module(r) => r.is_ok(),
            EndSource::Format(r) => r.is_ok(),
            EndSource::Lm(r) => r.is_ok(),
            EndSource::Parse(r) => r.is_ok(),
        }
    }
    /// The parsed fields of a parse span, borrowed.
    pub fn fields(&self) -> Option<&'a Fields> {
        match self.source {
            EndSource::Parse(Ok(f)) => Some(f),
            EndSource::Module(Ok(p)) => Some(p.values()),
            EndSource::Data(EndData::Parse(Ok(f))) => Some(f),
            _ => None,
        }
    }
    /// The response of an LM span, borrowed.
    pub fn response(&self) -> Option<&'a LmResponse> {
        match self.source {
            EndSource::Lm(Ok(r)) => Some(r),
            EndSource::Data(EndData::Lm(Ok(r))) => Some(r),
            _ => None,
        }
    }
    /// What the span ended with, as owned data (built on demand).
    pub fn data(&self) -> Cow<'a, EndData> {
        match self.source {
            EndSource::Data(d) => Cow::Borrowed(d),
            EndSource::Module(r) => Cow::Owned(EndData::Module(match r {
                Ok(p) => Ok(ModuleOutput {
                    outputs: Arc::new(p.values().clone()),
                    usage: p.usage,
                    lm_calls: p.lm_calls,
                    fallbacks: p.fallbacks,
                }),
                Err(e) => Err(e.clone()),
            })),
            EndSource::Format(r) => Cow::Owned(EndData::Format(
                r.map_err(|e| ErrorInfo::new("format", e.to_string())),
            )),
            EndSource::Lm(r) => Cow::Owned(EndData::Lm(match r {
                Ok(r) => Ok(r.clone()),
                Err(e) => Err(ErrorInfo::new("lm", e.to_string())),
            })),
            EndSource::Parse(r) => Cow::Owned(EndData::Parse(match r {
                Ok(f) => Ok(Arc::new(f.clone())),
                Err(e) => Err(ErrorInfo::new("parse", e.to_string())),
            })),
        }
    }
}

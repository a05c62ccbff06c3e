//! The span model every consumer shares: the store, the exporters, the optimizers'
//! trace capture and the UI all read [`Span`]s.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use super::ids::{SpanId, TraceId};

/// What a span stands for. One kind per hook pair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SpanKind {
    /// A module call (`Predict`, `ChainOfThought`, a user program).
    Module,
    /// One LM request.
    Lm,
    /// The adapter turning signature, demos and inputs into messages.
    Format,
    /// The adapter turning a completion into typed fields.
    Parse,
    /// A tool call (ReAct and friends).
    Tool,
    /// One retrieval hop: a query and the passages it found.
    Retrieval,
    /// An `Evaluate` run over a dataset.
    Evaluate,
    /// An optimizer's compile run.
    Compile,
    /// One optimizer trial (a candidate evaluated).
    Trial,
    /// A fine-tuning job (weight optimization).
    Finetune,
    /// One epoch of a fine-tuning job.
    Epoch,
}

impl SpanKind {
    /// Every kind, in declaration order.
    pub const ALL: [SpanKind; 11] = [
        SpanKind::Module,
        SpanKind::Lm,
        SpanKind::Format,
        SpanKind::Parse,
        SpanKind::Tool,
        SpanKind::Retrieval,
        SpanKind::Evaluate,
        SpanKind::Compile,
        SpanKind::Trial,
        SpanKind::Finetune,
        SpanKind::Epoch,
    ];

    /// The kind's name in spans and queries (`module`, `lm`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            SpanKind::Module => "module",
            SpanKind::Lm => "lm",
            SpanKind::Format => "format",
            SpanKind::Parse => "parse",
            SpanKind::Tool => "tool",
            SpanKind::Retrieval => "retrieval",
            SpanKind::Evaluate => "evaluate",
            SpanKind::Compile => "compile",
            SpanKind::Trial => "trial",
            SpanKind::Finetune => "finetune",
            SpanKind::Epoch => "epoch",
        }
    }

    /// The kind named `s` ([`SpanKind::as_str`]'s names).
    pub fn parse(s: &str) -> Option<SpanKind> {
        SpanKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Whether spans of this kind carry the tokens and cost of their children.
    pub fn rolls_up(self) -> bool {
        matches!(
            self,
            SpanKind::Module
                | SpanKind::Evaluate
                | SpanKind::Compile
                | SpanKind::Trial
                | SpanKind::Tool
        )
    }
}

/// How a span ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", content = "message", rename_all = "snake_case")]
pub enum SpanStatus {
    /// Finished normally.
    Ok,
    /// Failed, with the error's message.
    Error(String),
    /// The span's future was dropped before it finished (a cancelled call).
    Cancelled,
}

impl SpanStatus {
    /// `ok`, `error` or `cancelled`.
    pub fn as_str(&self) -> &'static str {
        match self {
            SpanStatus::Ok => "ok",
            SpanStatus::Error(_) => "error",
            SpanStatus::Cancelled => "cancelled",
        }
    }
    /// The error's message, for an error.
    pub fn message(&self) -> Option<&str> {
        match self {
            SpanStatus::Error(m) => Some(m),
            _ => None,
        }
    }
    /// Whether the span finished normally.
    pub fn is_ok(&self) -> bool {
        matches!(self, SpanStatus::Ok)
    }
}

/// An attribute value. Structured values (inputs, messages, fields) are JSON text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AttrValue {
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string (JSON text for structured values).
    Str(String),
}

impl AttrValue {
    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AttrValue::Str(s) => Some(s),
            _ => None,
        }
    }
    /// The integer, if this is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            AttrValue::Int(i) => Some(*i),
            _ => None,
        }
    }
    /// The number, if this is a float or an integer.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            AttrValue::Float(f) => Some(*f),
            AttrValue::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            AttrValue::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

impl From<&str> for AttrValue {
    fn from(s: &str) -> Self {
        AttrValue::Str(s.to_string())
    }
}
impl From<String> for AttrValue {
    fn from(s: String) -> Self {
        AttrValue::Str(s)
    }
}
impl From<bool> for AttrValue {
    fn from(b: bool) -> Self {
        AttrValue::Bool(b)
    }
}
impl From<i64> for AttrValue {
    fn from(i: i64) -> Self {
        AttrValue::Int(i)
    }
}
impl From<u64> for AttrValue {
    fn from(i: u64) -> Self {
        AttrValue::Int(i64::try_from(i).unwrap_or(i64::MAX))
    }
}
impl From<u32> for AttrValue {
    fn from(i: u32) -> Self {
        AttrValue::Int(i64::from(i))
    }
}
impl From<usize> for AttrValue {
    fn from(i: usize) -> Self {
        AttrValue::Int(i64::try_from(i).unwrap_or(i64::MAX))
    }
}
impl From<f64> for AttrValue {
    fn from(f: f64) -> Self {
        AttrValue::Float(f)
    }
}

/// Attributes in insertion order.
pub type Attributes = IndexMap<String, AttrValue>;

/// Something that happened at a point in time inside a span (a fallback, a retry).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SpanEvent {
    /// The event's name.
    pub name: String,
    /// Nanoseconds since the Unix epoch.
    pub time_ns: u64,
    /// What the event carries.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub attributes: Attributes,
}

/// One finished span.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Span {
    /// The trace it belongs to.
    pub trace_id: TraceId,
    /// Its own id.
    pub span_id: SpanId,
    /// Its parent, `None` for a root.
    pub parent_id: Option<SpanId>,
    /// What it stands for.
    pub kind: SpanKind,
    /// Its name: the predictor path, `chat {model}`, `chat.parse`, ...
    pub name: String,
    /// Nanoseconds since the Unix epoch.
    pub start_ns: u64,
    /// Nanoseconds since the Unix epoch.
    pub end_ns: u64,
    /// How it ended.
    pub status: SpanStatus,
    /// Its attributes (keys in [`keys`]).
    pub attributes: Attributes,
    /// What happened inside it, in time order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<SpanEvent>,
}

impl Span {
    /// `end_ns - start_ns`, in milliseconds.
    pub fn duration_ms(&self) -> f64 {
        self.end_ns.saturating_sub(self.start_ns) as f64 / 1e6
    }
    /// The attribute `key`.
    pub fn attr(&self, key: &str) -> Option<&AttrValue> {
        self.attributes.get(key)
    }
    /// The attribute `key`, if it is a string.
    pub fn attr_str(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).and_then(AttrValue::as_str)
    }
    /// The attribute `key`, if it is an integer.
    pub fn attr_i64(&self, key: &str) -> Option<i64> {
        self.attributes.get(key).and_then(AttrValue::as_i64)
    }
    /// The attribute `key`, if it is a number.
    pub fn attr_f64(&self, key: &str) -> Option<f64> {
        self.attributes.get(key).and_then(AttrValue::as_f64)
    }
    /// Whether it has no parent.
    pub fn is_root(&self) -> bool {
        self.parent_id.is_none()
    }
}

/// Attribute keys Sigil writes. LM attributes use the OpenTelemetry GenAI names
/// where one exists; the OTLP exporter adds the OpenInference and Langfuse names.
pub mod keys {
    /// The program's name (root, evaluate and compile spans).
    pub const PROGRAM_NAME: &str = "sigil.program.name";
    /// Whether the program ran compiled prompts (every root span).
    pub const PROGRAM_COMPILED: &str = "sigil.program.compiled";
    /// The content hash of the artifact the program loaded.
    pub const PROGRAM_ARTIFACT_HASH: &str = "sigil.program.artifact_hash";
    /// The optimizer that compiled the artifact.
    pub const PROGRAM_OPTIMIZER: &str = "sigil.program.optimizer";
    /// Demos per predictor path, as a JSON object.
    pub const PROGRAM_DEMOS: &str = "sigil.program.demos_per_predictor";
    /// The model the artifact was compiled against.
    pub const PROGRAM_MODEL: &str = "sigil.program.model";

    /// A module's (or format step's) inputs, as JSON.
    pub const INPUTS: &str = "sigil.inputs";
    /// A module's output fields, as JSON.
    pub const OUTPUTS: &str = "sigil.outputs";
    /// The kind of error a failed span ended with ([`ErrorInfo::kind`](crate::trace::ErrorInfo::kind)).
    pub const ERROR_TYPE: &str = "error.type";

    /// LM calls a module call made.
    pub const MODULE_LM_CALLS: &str = "sigil.module.lm_calls";
    /// Parses of a module call that needed the JSON fallback.
    pub const MODULE_FALLBACKS: &str = "sigil.module.fallbacks";

    /// Input tokens. The `sigil.usage.*` keys are roll-ups: this span's own LM usage
    /// plus all of its children's.
    pub const USAGE_INPUT_TOKENS: &str = "sigil.usage.input_tokens";
    /// Output tokens (a roll-up).
    pub const USAGE_OUTPUT_TOKENS: &str = "sigil.usage.output_tokens";
    /// Cached input tokens (a roll-up).
    pub const USAGE_CACHED_TOKENS: &str = "sigil.usage.cached_tokens";
    /// Cost in US dollars (a roll-up).
    pub const USAGE_COST_USD: &str = "sigil.usage.cost_usd";
    /// LM calls (a roll-up).
    pub const USAGE_LM_CALLS: &str = "sigil.usage.lm_calls";

    /// The GenAI operation (`chat`).
    pub const GEN_AI_OPERATION: &str = "gen_ai.operation.name";
    /// The provider (`openai`, `anthropic`, ...), from the model id.
    pub const GEN_AI_PROVIDER: &str = "gen_ai.provider.name";
    /// The provider, under the older GenAI name.
    pub const GEN_AI_SYSTEM: &str = "gen_ai.system";
    /// The model id asked for.
    pub const GEN_AI_REQUEST_MODEL: &str = "gen_ai.request.model";
    /// The model that answered, as the provider reported it.
    pub const GEN_AI_RESPONSE_MODEL: &str = "gen_ai.response.model";
    /// The request's temperature.
    pub const GEN_AI_TEMPERATURE: &str = "gen_ai.request.temperature";
    /// The request's token limit.
    pub const GEN_AI_MAX_TOKENS: &str = "gen_ai.request.max_tokens";
    /// The request's `top_p`.
    pub const GEN_AI_TOP_P: &str = "gen_ai.request.top_p";
    /// The request's seed.
    pub const GEN_AI_SEED: &str = "gen_ai.request.seed";
    /// The request's stop sequences, as a JSON array.
    pub const GEN_AI_STOP: &str = "gen_ai.request.stop_sequences";
    /// The messages sent, as JSON.
    pub const GEN_AI_INPUT_MESSAGES: &str = "gen_ai.input.messages";
    /// The completion as an assistant message, as JSON.
    pub const GEN_AI_OUTPUT_MESSAGES: &str = "gen_ai.output.messages";
    /// Why generation stopped, as a JSON array.
    pub const GEN_AI_FINISH_REASONS: &str = "gen_ai.response.finish_reasons";
    /// An LM call's input tokens.
    pub const GEN_AI_INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
    /// An LM call's output tokens.
    pub const GEN_AI_OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
    /// An LM call's input tokens read from a cache.
    pub const GEN_AI_CACHED_TOKENS: &str = "gen_ai.usage.cache_read.input_tokens";
    /// A tool span's tool.
    pub const GEN_AI_TOOL_NAME: &str = "gen_ai.tool.name";

    /// An LM call's cost in US dollars.
    pub const LM_COST_USD: &str = "sigil.lm.cost_usd";
    /// An LM call's wall time in milliseconds, retries included.
    pub const LM_LATENCY_MS: &str = "sigil.lm.latency_ms";
    /// Whether the request cache answered the call.
    pub const LM_CACHE_HIT: &str = "sigil.lm.cache_hit";
    /// Retries the call needed.
    pub const LM_RETRIES: &str = "sigil.lm.retries";
    /// The raw completion.
    pub const LM_OUTPUT: &str = "sigil.lm.output";
    /// The kind of output constraint sent (`choice`, `chat_fields`,
    /// `chat_fields_by_choice`, `json_schema`).
    pub const LM_CONSTRAINT: &str = "sigil.lm.constraint";
    /// The tools offered for native tool calling (JSON list of name, description and
    /// parameter schema).
    pub const LM_TOOLS: &str = "sigil.lm.tools";
    /// The tool calls the LM answered with (JSON list of id, name and arguments).
    pub const LM_TOOL_CALLS: &str = "sigil.lm.tool_calls";

    /// The adapter of a format or parse span (`chat`, `json`).
    pub const ADAPTER: &str = "sigil.adapter";
    /// Demos formatted.
    pub const FORMAT_DEMOS: &str = "sigil.format.demos";
    /// Messages formatted.
    pub const FORMAT_MESSAGES: &str = "sigil.format.messages";
    /// The completion a parse span parsed.
    pub const PARSE_COMPLETION: &str = "sigil.parse.completion";
    /// The fields parsed, as JSON.
    pub const PARSE_FIELDS: &str = "sigil.parse.fields";
    /// Why the parse failed.
    pub const PARSE_ERROR: &str = "sigil.parse.error";
    /// Whether this parse is the JSON fallback's retry.
    pub const PARSE_FALLBACK: &str = "sigil.parse.fallback";

    /// A tool call's arguments, as JSON.
    pub const TOOL_ARGS: &str = "sigil.tool.args";
    /// A tool call's result, as JSON.
    pub const TOOL_RESULT: &str = "sigil.tool.result";
    /// A retrieval hop's query.
    pub const RETRIEVAL_QUERY: &str = "sigil.retrieval.query";
    /// Passages asked for.
    pub const RETRIEVAL_K: &str = "sigil.retrieval.k";
    /// The passages found, as a JSON array.
    pub const RETRIEVAL_PASSAGES: &str = "sigil.retrieval.passages";

    /// Examples an evaluation scores.
    pub const EVAL_EXAMPLES: &str = "sigil.eval.examples";
    /// The metric's name.
    pub const EVAL_METRIC: &str = "sigil.eval.metric";
    /// The mean score.
    pub const EVAL_SCORE: &str = "sigil.eval.score";
    /// Examples that failed.
    pub const EVAL_ERRORS: &str = "sigil.eval.errors";
    /// JSON array of `{"inputs": <the examples' module-span inputs text>, "score": f64}`.
    pub const EVAL_EXAMPLE_SCORES: &str = "sigil.eval.example_scores";

    /// The optimizer's name.
    pub const COMPILE_OPTIMIZER: &str = "sigil.compile.optimizer";
    /// Training examples.
    pub const COMPILE_TRAINSET: &str = "sigil.compile.trainset";
    /// Validation examples.
    pub const COMPILE_VALSET: &str = "sigil.compile.valset";
    /// The optimizer's settings, as JSON.
    pub const COMPILE_CONFIG: &str = "sigil.compile.config";
    /// The best validation score.
    pub const COMPILE_BEST_SCORE: &str = "sigil.compile.best_score";
    /// The content hash of the artifact written.
    pub const COMPILE_ARTIFACT_HASH: &str = "sigil.compile.artifact_hash";
    /// Trials run.
    pub const COMPILE_TRIALS: &str = "sigil.compile.trials";
    /// The run's seed.
    pub const COMPILE_SEED: &str = "sigil.compile.seed";
    /// Trials the run planned.
    pub const COMPILE_PLANNED_TRIALS: &str = "sigil.compile.planned_trials";
    /// The uncompiled program's validation score.
    pub const COMPILE_BASELINE_SCORE: &str = "sigil.compile.baseline_score";
    /// Why the run stopped early (`budget_exhausted`, `target_reached`).
    pub const COMPILE_STOPPED: &str = "sigil.compile.stopped";
    /// LM calls the run made, cache hits included.
    pub const COMPILE_SPEND_LM_CALLS: &str = "sigil.compile.spend.lm_calls";
    /// Input tokens the run spent.
    pub const COMPILE_SPEND_INPUT_TOKENS: &str = "sigil.compile.spend.input_tokens";
    /// Output tokens the run spent.
    pub const COMPILE_SPEND_OUTPUT_TOKENS: &str = "sigil.compile.spend.output_tokens";
    /// What the run cost in US dollars.
    pub const COMPILE_SPEND_COST_USD: &str = "sigil.compile.spend.cost_usd";
    /// LM calls the request cache answered.
    pub const COMPILE_SPEND_CACHE_HITS: &str = "sigil.compile.spend.cache_hits";

    /// The trial's number in its run, from 1.
    pub const TRIAL_INDEX: &str = "sigil.trial.index";

    /// The trainer of a fine-tuning job (`openai`, `local-lora`).
    pub const FINETUNE_TRAINER: &str = "sigil.finetune.trainer";
    /// The model a job starts from.
    pub const FINETUNE_BASE_MODEL: &str = "sigil.finetune.base_model";
    /// Training examples of a job.
    pub const FINETUNE_EXAMPLES: &str = "sigil.finetune.examples";
    /// A job's training settings, as JSON.
    pub const FINETUNE_SETTINGS: &str = "sigil.finetune.settings";
    /// The model a job made.
    pub const FINETUNE_MODEL: &str = "sigil.finetune.model";
    /// Tokens a job trained on.
    pub const FINETUNE_TRAINED_TOKENS: &str = "sigil.finetune.trained_tokens";
    /// A job's loss per epoch, as JSON.
    pub const FINETUNE_LOSS_CURVE: &str = "sigil.finetune.loss_curve";
    /// An epoch's number in its job, from 1.
    pub const EPOCH_INDEX: &str = "sigil.epoch.index";
    /// An epoch's mean training loss.
    pub const EPOCH_LOSS: &str = "sigil.epoch.loss";
    /// Tokens trained on per second in an epoch.
    pub const EPOCH_TOKENS_PER_S: &str = "sigil.epoch.tokens_per_s";
    /// The candidate tried, as JSON.
    pub const TRIAL_CANDIDATE: &str = "sigil.trial.candidate";
    /// The candidate's score.
    pub const TRIAL_SCORE: &str = "sigil.trial.score";
    /// `full` (the whole valset) or `minibatch`.
    pub const TRIAL_KIND: &str = "sigil.trial.kind";
    /// A short description of the candidate (`zero-shot`, `depth 1 predictor 0 #2`, ...).
    pub const TRIAL_LABEL: &str = "sigil.trial.label";
    /// Per predictor path, the candidate's instruction (null when unchanged), as JSON.
    pub const TRIAL_INSTRUCTIONS: &str = "sigil.trial.instructions";
    /// Per predictor path, the candidate's number of demos, as JSON.
    pub const TRIAL_DEMOS: &str = "sigil.trial.demos";
    /// Examples scored.
    pub const TRIAL_EXAMPLES: &str = "sigil.trial.examples";
    /// Examples that failed.
    pub const TRIAL_ERRORS: &str = "sigil.trial.errors";
    /// Input tokens the trial spent.
    pub const TRIAL_INPUT_TOKENS: &str = "sigil.trial.input_tokens";
    /// Output tokens the trial spent.
    pub const TRIAL_OUTPUT_TOKENS: &str = "sigil.trial.output_tokens";
    /// Cached input tokens of the trial.
    pub const TRIAL_CACHED_TOKENS: &str = "sigil.trial.cached_tokens";
    /// What the trial cost in US dollars.
    pub const TRIAL_COST_USD: &str = "sigil.trial.cost_usd";
    /// LM calls the trial made.
    pub const TRIAL_LM_CALLS: &str = "sigil.trial.lm_calls";
    /// The best full-valset score so far, this trial included.
    pub const TRIAL_BEST_SCORE: &str = "sigil.trial.best_score";
    /// Whether the trial was replayed from a checkpoint rather than run.
    pub const TRIAL_REPLAYED: &str = "sigil.trial.replayed";
}

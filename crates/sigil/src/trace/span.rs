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
}

impl SpanKind {
    pub const ALL: [SpanKind; 9] = [
        SpanKind::Module,
        SpanKind::Lm,
        SpanKind::Format,
        SpanKind::Parse,
        SpanKind::Tool,
        SpanKind::Retrieval,
        SpanKind::Evaluate,
        SpanKind::Compile,
        SpanKind::Trial,
    ];

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
        }
    }

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
    Ok,
    Error(String),
    /// The span's future was dropped before it finished (a cancelled call).
    Cancelled,
}

impl SpanStatus {
    pub fn as_str(&self) -> &'static str {
        match self {
            SpanStatus::Ok => "ok",
            SpanStatus::Error(_) => "error",
            SpanStatus::Cancelled => "cancelled",
        }
    }
    pub fn message(&self) -> Option<&str> {
        match self {
            SpanStatus::Error(m) => Some(m),
            _ => None,
        }
    }
    pub fn is_ok(&self) -> bool {
        matches!(self, SpanStatus::Ok)
    }
}

/// An attribute value. Structured values (inputs, messages, fields) are JSON text.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AttrValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

impl AttrValue {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AttrValue::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            AttrValue::Int(i) => Some(*i),
            _ => None,
        }
    }
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            AttrValue::Float(f) => Some(*f),
            AttrValue::Int(i) => Some(*i as f64),
            _ => None,
        }
    }
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
    pub name: String,
    /// Nanoseconds since the Unix epoch.
    pub time_ns: u64,
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub attributes: Attributes,
}

/// One finished span.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Span {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub parent_id: Option<SpanId>,
    pub kind: SpanKind,
    pub name: String,
    /// Nanoseconds since the Unix epoch.
    pub start_ns: u64,
    pub end_ns: u64,
    pub status: SpanStatus,
    pub attributes: Attributes,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<SpanEvent>,
}

impl Span {
    pub fn duration_ms(&self) -> f64 {
        self.end_ns.saturating_sub(self.start_ns) as f64 / 1e6
    }
    pub fn attr(&self, key: &str) -> Option<&AttrValue> {
        self.attributes.get(key)
    }
    pub fn attr_str(&self, key: &str) -> Option<&str> {
        self.attributes.get(key).and_then(AttrValue::as_str)
    }
    pub fn attr_i64(&self, key: &str) -> Option<i64> {
        self.attributes.get(key).and_then(AttrValue::as_i64)
    }
    pub fn attr_f64(&self, key: &str) -> Option<f64> {
        self.attributes.get(key).and_then(AttrValue::as_f64)
    }
    pub fn is_root(&self) -> bool {
        self.parent_id.is_none()
    }
}

/// Attribute keys Sigil writes. LM attributes use the OpenTelemetry GenAI names
/// where one exists; the OTLP exporter adds the OpenInference and Langfuse names.
pub mod keys {
    pub const PROGRAM_NAME: &str = "sigil.program.name";
    pub const PROGRAM_COMPILED: &str = "sigil.program.compiled";
    pub const PROGRAM_ARTIFACT_HASH: &str = "sigil.program.artifact_hash";
    pub const PROGRAM_OPTIMIZER: &str = "sigil.program.optimizer";
    pub const PROGRAM_DEMOS: &str = "sigil.program.demos_per_predictor";
    pub const PROGRAM_MODEL: &str = "sigil.program.model";

    pub const INPUTS: &str = "sigil.inputs";
    pub const OUTPUTS: &str = "sigil.outputs";
    pub const ERROR_TYPE: &str = "error.type";

    pub const MODULE_LM_CALLS: &str = "sigil.module.lm_calls";
    pub const MODULE_FALLBACKS: &str = "sigil.module.fallbacks";

    /// Roll-ups: this span's own LM usage plus all of its children's.
    pub const USAGE_INPUT_TOKENS: &str = "sigil.usage.input_tokens";
    pub const USAGE_OUTPUT_TOKENS: &str = "sigil.usage.output_tokens";
    pub const USAGE_CACHED_TOKENS: &str = "sigil.usage.cached_tokens";
    pub const USAGE_COST_USD: &str = "sigil.usage.cost_usd";
    pub const USAGE_LM_CALLS: &str = "sigil.usage.lm_calls";

    pub const GEN_AI_OPERATION: &str = "gen_ai.operation.name";
    pub const GEN_AI_PROVIDER: &str = "gen_ai.provider.name";
    pub const GEN_AI_SYSTEM: &str = "gen_ai.system";
    pub const GEN_AI_REQUEST_MODEL: &str = "gen_ai.request.model";
    pub const GEN_AI_RESPONSE_MODEL: &str = "gen_ai.response.model";
    pub const GEN_AI_TEMPERATURE: &str = "gen_ai.request.temperature";
    pub const GEN_AI_MAX_TOKENS: &str = "gen_ai.request.max_tokens";
    pub const GEN_AI_TOP_P: &str = "gen_ai.request.top_p";
    pub const GEN_AI_SEED: &str = "gen_ai.request.seed";
    pub const GEN_AI_STOP: &str = "gen_ai.request.stop_sequences";
    pub const GEN_AI_INPUT_MESSAGES: &str = "gen_ai.input.messages";
    pub const GEN_AI_OUTPUT_MESSAGES: &str = "gen_ai.output.messages";
    pub const GEN_AI_FINISH_REASONS: &str = "gen_ai.response.finish_reasons";
    pub const GEN_AI_INPUT_TOKENS: &str = "gen_ai.usage.input_tokens";
    pub const GEN_AI_OUTPUT_TOKENS: &str = "gen_ai.usage.output_tokens";
    pub const GEN_AI_CACHED_TOKENS: &str = "gen_ai.usage.cache_read.input_tokens";
    pub const GEN_AI_TOOL_NAME: &str = "gen_ai.tool.name";

    pub const LM_COST_USD: &str = "sigil.lm.cost_usd";
    pub const LM_LATENCY_MS: &str = "sigil.lm.latency_ms";
    pub const LM_CACHE_HIT: &str = "sigil.lm.cache_hit";
    pub const LM_RETRIES: &str = "sigil.lm.retries";
    pub const LM_OUTPUT: &str = "sigil.lm.output";
    pub const LM_CONSTRAINT: &str = "sigil.lm.constraint";

    pub const ADAPTER: &str = "sigil.adapter";
    pub const FORMAT_DEMOS: &str = "sigil.format.demos";
    pub const FORMAT_MESSAGES: &str = "sigil.format.messages";
    pub const PARSE_COMPLETION: &str = "sigil.parse.completion";
    pub const PARSE_FIELDS: &str = "sigil.parse.fields";
    pub const PARSE_ERROR: &str = "sigil.parse.error";
    pub const PARSE_FALLBACK: &str = "sigil.parse.fallback";

    pub const TOOL_ARGS: &str = "sigil.tool.args";
    pub const TOOL_RESULT: &str = "sigil.tool.result";
    pub const RETRIEVAL_QUERY: &str = "sigil.retrieval.query";
    pub const RETRIEVAL_K: &str = "sigil.retrieval.k";
    pub const RETRIEVAL_PASSAGES: &str = "sigil.retrieval.passages";

    pub const EVAL_EXAMPLES: &str = "sigil.eval.examples";
    pub const EVAL_METRIC: &str = "sigil.eval.metric";
    pub const EVAL_SCORE: &str = "sigil.eval.score";
    pub const EVAL_ERRORS: &str = "sigil.eval.errors";
    /// JSON array of `{"inputs": <the examples' module-span inputs text>, "score": f64}`.
    pub const EVAL_EXAMPLE_SCORES: &str = "sigil.eval.example_scores";

    pub const COMPILE_OPTIMIZER: &str = "sigil.compile.optimizer";
    pub const COMPILE_TRAINSET: &str = "sigil.compile.trainset";
    pub const COMPILE_VALSET: &str = "sigil.compile.valset";
    pub const COMPILE_CONFIG: &str = "sigil.compile.config";
    pub const COMPILE_BEST_SCORE: &str = "sigil.compile.best_score";
    pub const COMPILE_ARTIFACT_HASH: &str = "sigil.compile.artifact_hash";
    pub const COMPILE_TRIALS: &str = "sigil.compile.trials";
    pub const COMPILE_SEED: &str = "sigil.compile.seed";
    pub const COMPILE_PLANNED_TRIALS: &str = "sigil.compile.planned_trials";
    pub const COMPILE_BASELINE_SCORE: &str = "sigil.compile.baseline_score";
    pub const COMPILE_STOPPED: &str = "sigil.compile.stopped";
    pub const COMPILE_SPEND_LM_CALLS: &str = "sigil.compile.spend.lm_calls";
    pub const COMPILE_SPEND_INPUT_TOKENS: &str = "sigil.compile.spend.input_tokens";
    pub const COMPILE_SPEND_OUTPUT_TOKENS: &str = "sigil.compile.spend.output_tokens";
    pub const COMPILE_SPEND_COST_USD: &str = "sigil.compile.spend.cost_usd";
    pub const COMPILE_SPEND_CACHE_HITS: &str = "sigil.compile.spend.cache_hits";

    pub const TRIAL_INDEX: &str = "sigil.trial.index";
    pub const TRIAL_CANDIDATE: &str = "sigil.trial.candidate";
    pub const TRIAL_SCORE: &str = "sigil.trial.score";
    pub const TRIAL_KIND: &str = "sigil.trial.kind";
    pub const TRIAL_LABEL: &str = "sigil.trial.label";
    pub const TRIAL_INSTRUCTIONS: &str = "sigil.trial.instructions";
    pub const TRIAL_DEMOS: &str = "sigil.trial.demos";
    pub const TRIAL_EXAMPLES: &str = "sigil.trial.examples";
    pub const TRIAL_ERRORS: &str = "sigil.trial.errors";
    pub const TRIAL_INPUT_TOKENS: &str = "sigil.trial.input_tokens";
    pub const TRIAL_OUTPUT_TOKENS: &str = "sigil.trial.output_tokens";
    pub const TRIAL_CACHED_TOKENS: &str = "sigil.trial.cached_tokens";
    pub const TRIAL_COST_USD: &str = "sigil.trial.cost_usd";
    pub const TRIAL_LM_CALLS: &str = "sigil.trial.lm_calls";
    pub const TRIAL_BEST_SCORE: &str = "sigil.trial.best_score";
    pub const TRIAL_REPLAYED: &str = "sigil.trial.replayed";
}

//! The hook model: a start and an end event for every module call, LM call, adapter
//! format and parse, tool call, retrieval hop, evaluation, compile run and optimizer
//! trial. Each event carries its call id (the span id) and its parent's.
//!
//! Events borrow what the call already holds (the inputs, the prompt prefix, the
//! completion, the parsed fields): emitting one copies nothing, and a hook copies only
//! what it keeps ([`SpanStart::data`] and [`SpanEnd::data`] build owned copies on
//! demand). The built-in [`super::SpanCollector`] does not go through these events at
//! all: it takes a few pointers per call and builds spans on its own thread.

use std::borrow::Cow;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::collector::{Record, SpanQueue};
use super::ids::{SpanId, TraceId};
use super::program::ProgramInfo;
use super::span::{AttrValue, SpanEvent, SpanKind};
use crate::adapter::{Adapter, Fields, FormatError, ParseError};
use crate::data::{Example, Prediction};
use crate::lm::{Lm, LmError, LmParams, LmRequest, LmResponse, Message, OutputConstraint, Usage};
use crate::module::ModuleError;
use crate::signature::Signature;

/// Nanoseconds since the Unix epoch, now.
pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// Where a span sits: its trace and its parent span. Travels in the [`crate::module::Ctx`],
/// so it survives `tokio::spawn` (move a ctx clone into the task) and concurrent
/// tasks (each holds its own ctx).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SpanParent {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    /// False when the trace was not sampled: spans under it are not recorded.
    pub sampled: bool,
}

/// What a span started with.
#[derive(Clone, Debug)]
pub enum StartData {
    Module {
        inputs: Arc<Example>,
    },
    Lm {
        model_id: Arc<str>,
        input: Arc<LmInput>,
    },
    Format {
        adapter: &'static str,
        demos: usize,
        inputs: Arc<Example>,
    },
    Parse {
        adapter: &'static str,
        completion: Arc<str>,
        fallback: bool,
    },
    Tool {
        tool: Arc<str>,
        args: Arc<Value>,
    },
    Retrieval {
        query: Arc<str>,
        k: Option<usize>,
    },
    Evaluate {
        program: Arc<str>,
        metric: Arc<str>,
        examples: usize,
    },
    Compile {
        optimizer: Arc<str>,
        program: Arc<str>,
        trainset: usize,
        valset: usize,
        config: Arc<Value>,
    },
    Trial {
        index: u64,
        candidate: Arc<Value>,
    },
}

impl StartData {
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
        }
    }
}

/// What an LM call was asked: the messages (a shared, cached prefix and this call's
/// own turns, so recording them copies only the new turn), parameters and the kind of
/// output constraint.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LmInput {
    pub prefix: Arc<[Message]>,
    pub turns: Vec<Message>,
    pub params: LmParams,
    /// `choice`, `chat_fields` or `json_schema`.
    pub constraint: Option<&'static str>,
}

impl LmInput {
    /// From a whole request (copies its messages).
    pub fn from_request(request: &LmRequest) -> Self {
        LmInput {
            prefix: Arc::from(Vec::new()),
            turns: request.messages.clone(),
            params: request.params.clone(),
            constraint: request.constraint.as_ref().map(constraint_kind),
        }
    }
    /// Every message, in order.
    pub fn messages(&self) -> impl Iterator<Item = &Message> {
        self.prefix.iter().chain(self.turns.iter())
    }
}

/// The short name of a constraint's kind.
pub fn constraint_kind(c: &OutputConstraint) -> &'static str {
    match c {
        OutputConstraint::Choice { .. } => "choice",
        OutputConstraint::ChatFields { .. } => "chat_fields",
        OutputConstraint::JsonSchema { .. } => "json_schema",
    }
}

/// A failure, as spans record it: the error's type and its message.
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorInfo {
    pub kind: &'static str,
    pub message: String,
}

impl ErrorInfo {
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
    pub outputs: Arc<Fields>,
    pub usage: Usage,
    pub lm_calls: u32,
    pub fallbacks: u32,
}

/// What an evaluation found.
#[derive(Clone, Debug, Default)]
pub struct EvalSummary {
    pub mean: f64,
    pub errors: usize,
    pub usage: Usage,
    /// Each example's inputs and score, in example order (for per-example views).
    pub example_scores: Arc<Vec<(Example, f64)>>,
}

/// What a compile run produced.
#[derive(Clone, Debug, Default)]
pub struct CompileSummary {
    pub best_score: Option<f64>,
    pub artifact_hash: Option<String>,
    pub trials: u64,
}

/// What a span ended with. `Err` ends it with an error status.
#[derive(Clone, Debug)]
pub enum EndData {
    Module(Result<ModuleOutput, ErrorInfo>),
    Lm(Result<Arc<LmResponse>, ErrorInfo>),
    /// The number of messages formatted.
    Format(Result<usize, ErrorInfo>),
    Parse(Result<Arc<Fields>, ErrorInfo>),
    Tool(Result<Arc<Value>, ErrorInfo>),
    /// The passages found.
    Retrieval(Result<Arc<Vec<String>>, ErrorInfo>),
    Evaluate(Result<EvalSummary, ErrorInfo>),
    Compile(Result<CompileSummary, ErrorInfo>),
    /// The candidate's score.
    Trial(Result<Option<f64>, ErrorInfo>),
    /// The span's future was dropped before it finished.
    Cancelled,
}

impl EndData {
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
            | EndData::Trial(Err(e)) => Some(e),
            _ => None,
        }
    }
}

/// What the start event of a span borrows, per kind.
#[derive(Clone, Copy)]
pub(crate) enum StartSource<'a> {
    /// A span opened with [`crate::module::Ctx::start_span`]: its data as given.
    Data(&'a StartData),
    Module {
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
/// plus the user turn the adapter renders from the inputs.
#[derive(Clone, Copy)]
pub(crate) struct LmSource<'a> {
    pub lm: &'a dyn Lm,
    pub prefix: &'a Arc<[Message]>,
    pub adapter: &'a dyn Adapter,
    pub signature: &'a Signature,
    pub inputs: &'a Example,
    pub params: &'a LmParams,
    pub constraint: Option<&'static str>,
}

impl LmSource<'_> {
    pub(crate) fn input(&self) -> LmInput {
        LmInput {
            prefix: self.prefix.clone(),
            turns: self
                .adapter
                .format_user(self.signature, self.inputs)
                .ok()
                .flatten()
                .into_iter()
                .collect(),
            params: self.params.clone(),
            constraint: self.constraint,
        }
    }
}

/// A span's start event. Borrowed from the call: [`SpanStart::data`] makes an owned
/// copy for a hook that wants to keep it.
#[derive(Clone, Copy)]
pub struct SpanStart<'a> {
    pub trace_id: TraceId,
    /// The call id: pairs this start with its end; also the span id.
    pub call_id: SpanId,
    pub parent_id: Option<SpanId>,
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
    pub fn kind(&self) -> SpanKind {
        match self.source {
            StartSource::Data(d) => d.kind(),
            StartSource::Module { .. } => SpanKind::Module,
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
    pub fn parent(&self) -> SpanParent {
        SpanParent {
            trace_id: self.trace_id,
            span_id: self.call_id,
            sampled: true,
        }
    }
    /// The inputs of a module or format span, borrowed.
    pub fn inputs(&self) -> Option<&'a Example> {
        match self.source {
            StartSource::Module { inputs } | StartSource::Format { inputs, .. } => Some(inputs),
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
            StartSource::Module { inputs } => Cow::Owned(StartData::Module {
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
    Module(&'a Result<Prediction, ModuleError>),
    Format(Result<usize, &'a FormatError>),
    Lm(Result<&'a Arc<LmResponse>, &'a LmError>),
    Parse(&'a Result<Fields, ParseError>),
}

/// A span's end event. Borrowed like [`SpanStart`].
#[derive(Clone, Copy)]
pub struct SpanEnd<'a> {
    pub end_ns: u64,
    /// Events recorded while the span was open (fallbacks, retries, custom).
    pub events: &'a [SpanEvent],
    /// Extra attributes set by the emitter ([`SpanGuard::set_attribute`]).
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
            EndSource::Module(r) => Cow::Owned(super::module_end(r, None)),
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

/// Why a hook could not handle an event. Reported once per hook; the program goes on.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct HookError(pub String);

/// A receiver of start and end events. Register with [`crate::module::Ctx::with_hook`].
///
/// Hooks run inline on the calling task: keep them quick and hand heavy work to a
/// thread. Events borrow the call's data; copy what you keep ([`SpanStart::data`],
/// [`SpanEnd::data`]). A hook that returns an error or panics is reported once on
/// stderr and otherwise ignored: it never breaks the program.
///
/// ```
/// use sigil::trace::{Hook, HookError, SpanEnd, SpanStart};
/// struct PrintLm;
/// impl Hook for PrintLm {
///     fn on_end(&self, start: &SpanStart, end: &SpanEnd) -> Result<(), HookError> {
///         println!("{} {} took {} ns", start.kind().as_str(), start.name(), end.end_ns - start.start_ns);
///         Ok(())
///     }
/// }
/// ```
pub trait Hook: Send + Sync {
    fn on_start(&self, start: &SpanStart<'_>) -> Result<(), HookError> {
        let _ = start;
        Ok(())
    }
    fn on_end(&self, start: &SpanStart<'_>, end: &SpanEnd<'_>) -> Result<(), HookError> {
        let _ = (start, end);
        Ok(())
    }
    /// The span collector's own queue: a collector gets spans as owned records rather
    /// than through the borrowed events.
    #[doc(hidden)]
    fn span_queue(&self) -> Option<SpanQueue> {
        None
    }
}

struct Registered {
    hook: Arc<dyn Hook>,
    reported: AtomicBool,
}

/// The hooks of a ctx and the program they trace. Shared by every clone of the ctx.
pub struct Tracing {
    all: Vec<Arc<dyn Hook>>,
    /// Hooks that get the borrowed events (every hook but the collectors).
    hooks: Vec<Registered>,
    /// Collectors' queues: they get one owned record per span (per `Predict` call).
    queues: Vec<SpanQueue>,
    pub(crate) program: Option<Arc<ProgramInfo>>,
    /// Share of traces recorded, decided at each root span from its trace id.
    pub(crate) sample_ratio: f64,
}

impl std::fmt::Debug for Tracing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracing")
            .field("hooks", &self.all.len())
            .field("program", &self.program)
            .finish()
    }
}

impl Tracing {
    pub(crate) fn new(
        hooks: Vec<Arc<dyn Hook>>,
        program: Option<Arc<ProgramInfo>>,
        sample_ratio: f64,
    ) -> Self {
        let mut queues = Vec::new();
        let mut plain = Vec::new();
        for hook in &hooks {
            match hook.span_queue() {
                Some(q) => queues.push(q),
                None => plain.push(Registered {
                    hook: hook.clone(),
                    reported: AtomicBool::new(false),
                }),
            }
        }
        Tracing {
            all: hooks,
            hooks: plain,
            queues,
            program,
            sample_ratio: if sample_ratio.is_nan() {
                1.0
            } else {
                sample_ratio.clamp(0.0, 1.0)
            },
        }
    }
    /// Whether the trace with this id is recorded (deterministic in the id, like
    /// OpenTelemetry's trace-id-ratio sampler, so every process agrees).
    pub(crate) fn samples(&self, trace_id: TraceId) -> bool {
        self.sample_ratio >= 1.0
            || ((trace_id.0 as u64) as f64) < self.sample_ratio * (u64::MAX as f64)
    }
    pub(crate) fn hooks(&self) -> Vec<Arc<dyn Hook>> {
        self.all.clone()
    }
    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }
    /// Whether some hook takes the borrowed events.
    pub(crate) fn has_event_hooks(&self) -> bool {
        !self.hooks.is_empty()
    }
    /// Whether some collector takes records.
    pub(crate) fn has_collectors(&self) -> bool {
        !self.queues.is_empty()
    }

    /// Opens a span's ids: a new trace for a root. `None` when the trace is not sampled.
    pub(crate) fn open(&self, parent: Option<SpanParent>) -> Result<Ids, Option<SpanParent>> {
        match parent {
            Some(p) if !p.sampled => Err(Some(p)),
            Some(p) => Ok(Ids {
                trace_id: p.trace_id,
                span_id: SpanId::new(),
                parent_id: Some(p.span_id),
            }),
            None => {
                let trace_id = TraceId::new();
                if !self.samples(trace_id) {
                    return Err(Some(SpanParent {
                        trace_id,
                        span_id: SpanId(1),
                        sampled: false,
                    }));
                }
                Ok(Ids {
                    trace_id,
                    span_id: SpanId::new(),
                    parent_id: None,
                })
            }
        }
    }

    pub(crate) fn dispatch_start(&self, start: &SpanStart<'_>) {
        for r in &self.hooks {
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| r.hook.on_start(start)));
            report(r, "start", outcome);
        }
    }
    pub(crate) fn dispatch_end(&self, start: &SpanStart<'_>, end: &SpanEnd<'_>) {
        for r in &self.hooks {
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| r.hook.on_end(start, end)));
            report(r, "end", outcome);
        }
    }
    /// Hands a finished record to every collector.
    #[inline]
    pub(crate) fn submit(&self, record: Record) {
        if let Some((last, others)) = self.queues.split_last() {
            for q in others {
                q.push(record.clone());
            }
            last.push(record);
        }
    }
}

/// A span's place: its trace, its id and its parent's.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ids {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    pub parent_id: Option<SpanId>,
}

fn report(r: &Registered, which: &str, outcome: std::thread::Result<Result<(), HookError>>) {
    let problem = match outcome {
        Ok(Ok(())) => return,
        Ok(Err(e)) => format!("failed: {e}"),
        Err(p) => match (p.downcast_ref::<&str>(), p.downcast_ref::<String>()) {
            (Some(s), _) => format!("panicked: {s}"),
            (_, Some(s)) => format!("panicked: {s}"),
            _ => "panicked".to_string(),
        },
    };
    if !r.reported.swap(true, Ordering::Relaxed) {
        eprintln!(
            "sigil: a trace hook {problem} (on a {which} event); the program continues and further problems of this hook are not reported"
        );
    }
}

/// An open span. End it with [`SpanGuard::end`]; dropping it unended (a cancelled
/// future) ends it with [`EndData::Cancelled`], so every start has an end.
/// A guard made without hooks is inert and costs nothing.
#[must_use = "a span ends when its guard is ended or dropped"]
pub struct SpanGuard {
    inner: Option<Open>,
    /// Set when the trace is not sampled: children inherit the decision.
    unsampled: Option<SpanParent>,
}

struct Open {
    tracing: Arc<Tracing>,
    ids: Ids,
    name: Arc<str>,
    start_ns: u64,
    data: StartData,
    events: Vec<SpanEvent>,
    attributes: Vec<(String, AttrValue)>,
}

impl Open {
    fn start(&self) -> SpanStart<'_> {
        SpanStart {
            trace_id: self.ids.trace_id,
            call_id: self.ids.span_id,
            parent_id: self.ids.parent_id,
            start_ns: self.start_ns,
            program: self.tracing.program.as_deref(),
            name: &self.name,
            source: StartSource::Data(&self.data),
        }
    }
}

impl SpanGuard {
    /// An inert guard (tracing off).
    pub fn none() -> Self {
        SpanGuard {
            inner: None,
            unsampled: None,
        }
    }

    pub(crate) fn begin(
        tracing: &Arc<Tracing>,
        parent: Option<SpanParent>,
        name: Arc<str>,
        data: StartData,
    ) -> SpanGuard {
        let ids = match tracing.open(parent) {
            Ok(ids) => ids,
            Err(unsampled) => {
                return SpanGuard {
                    inner: None,
                    unsampled,
                };
            }
        };
        let open = Open {
            tracing: tracing.clone(),
            ids,
            name,
            start_ns: now_ns(),
            data,
            events: Vec::new(),
            attributes: Vec::new(),
        };
        if tracing.has_event_hooks() {
            tracing.dispatch_start(&open.start());
        }
        SpanGuard {
            inner: Some(open),
            unsampled: None,
        }
    }

    pub fn is_recording(&self) -> bool {
        self.inner.is_some()
    }

    /// This span as the parent of the spans its work opens (`None` when inert).
    pub fn parent(&self) -> Option<SpanParent> {
        self.inner
            .as_ref()
            .map(|o| SpanParent {
                trace_id: o.ids.trace_id,
                span_id: o.ids.span_id,
                sampled: true,
            })
            .or(self.unsampled)
    }

    /// The start event, as hooks saw it (`None` when inert).
    pub fn start(&self) -> Option<SpanStart<'_>> {
        self.inner.as_ref().map(|o| o.start())
    }

    /// Records an event at this moment.
    pub fn event(&mut self, name: &str, attributes: impl IntoIterator<Item = (String, AttrValue)>) {
        if let Some(o) = self.inner.as_mut() {
            o.events.push(SpanEvent {
                name: name.to_string(),
                time_ns: now_ns(),
                attributes: attributes.into_iter().collect(),
            });
        }
    }

    /// Sets an extra attribute on the span.
    pub fn set_attribute(&mut self, key: impl Into<String>, value: impl Into<AttrValue>) {
        if let Some(o) = self.inner.as_mut() {
            o.attributes.push((key.into(), value.into()));
        }
    }

    /// Ends the span. `data` is built only when the span is recording.
    pub fn end_with(mut self, data: impl FnOnce() -> EndData) {
        if let Some(o) = self.inner.take() {
            finish(o, data());
        }
    }

    /// Ends the span.
    pub fn end(self, data: EndData) {
        self.end_with(|| data)
    }
}

fn finish(o: Open, data: EndData) {
    let end_ns = now_ns().max(o.start_ns);
    if o.tracing.has_event_hooks() {
        let end = SpanEnd {
            end_ns,
            events: &o.events,
            attributes: &o.attributes,
            source: EndSource::Data(&data),
        };
        o.tracing.dispatch_end(&o.start(), &end);
    }
    if o.tracing.has_collectors() {
        let tracing = o.tracing;
        tracing.submit(Record::Span(Box::new(SpanRecord {
            start: OwnedStart {
                trace_id: o.ids.trace_id,
                call_id: o.ids.span_id,
                parent_id: o.ids.parent_id,
                name: o.name,
                start_ns: o.start_ns,
                data: o.data,
                program: tracing.program.clone(),
            },
            end: OwnedEnd {
                end_ns,
                data,
                events: o.events,
                attributes: o.attributes,
            },
        })));
    }
}

impl Drop for SpanGuard {
    fn drop(&mut self) {
        if let Some(o) = self.inner.take() {
            finish(o, EndData::Cancelled);
        }
    }
}

/// A span's start, owned: what the collector's thread turns into a [`super::Span`].
#[derive(Clone, Debug)]
pub(crate) struct OwnedStart {
    pub trace_id: TraceId,
    pub call_id: SpanId,
    pub parent_id: Option<SpanId>,
    pub name: Arc<str>,
    pub start_ns: u64,
    pub data: StartData,
    pub program: Option<Arc<ProgramInfo>>,
}

impl OwnedStart {
    pub fn kind(&self) -> SpanKind {
        self.data.kind()
    }
}

/// A span's end, owned.
#[derive(Clone, Debug)]
pub(crate) struct OwnedEnd {
    pub end_ns: u64,
    pub data: EndData,
    pub events: Vec<SpanEvent>,
    pub attributes: Vec<(String, AttrValue)>,
}

/// One generic span, as the collector receives it.
#[derive(Clone, Debug)]
pub(crate) struct SpanRecord {
    pub start: OwnedStart,
    pub end: OwnedEnd,
}

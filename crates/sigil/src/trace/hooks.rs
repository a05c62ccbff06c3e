//! The hook model: a start and an end event for every module call, LM call, adapter
//! format and parse, tool call, retrieval hop, evaluation, compile run and optimizer
//! trial. Each event carries its call id (the span id) and its parent's.
//!
//! Payloads hold `Arc`s of data the caller already had, so emitting an event copies
//! pointers, not prompts; hooks that keep data clone the `Arc`s.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::ids::{SpanId, TraceId};
use super::program::ProgramInfo;
use super::span::{AttrValue, SpanEvent, SpanKind};
use crate::adapter::Fields;
use crate::data::Example;
use crate::lm::{LmParams, LmRequest, LmResponse, Message, OutputConstraint, Usage};

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

/// A span's start event.
#[derive(Clone, Debug)]
pub struct SpanStart {
    pub trace_id: TraceId,
    /// The call id: pairs this start with its end; also the span id.
    pub call_id: SpanId,
    pub parent_id: Option<SpanId>,
    pub name: Arc<str>,
    pub start_ns: u64,
    pub data: StartData,
    /// What program is running and whether it was compiled (from the ctx).
    pub program: Option<Arc<ProgramInfo>>,
}

impl SpanStart {
    pub fn kind(&self) -> SpanKind {
        self.data.kind()
    }
    pub fn parent(&self) -> SpanParent {
        SpanParent {
            trace_id: self.trace_id,
            span_id: self.call_id,
            sampled: true,
        }
    }
}

/// A span's end event.
#[derive(Clone, Debug)]
pub struct SpanEnd {
    pub end_ns: u64,
    pub data: EndData,
    /// Events recorded while the span was open (fallbacks, retries, custom).
    pub events: Vec<SpanEvent>,
    /// Extra attributes set by the emitter ([`SpanGuard::set_attribute`]).
    pub attributes: Vec<(String, AttrValue)>,
}

/// Why a hook could not handle an event. Reported once per hook; the program goes on.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct HookError(pub String);

/// A receiver of start and end events. Register with [`crate::module::Ctx::with_hook`].
///
/// Hooks run inline on the calling task: keep them quick and hand heavy work to a
/// thread (as [`super::SpanCollector`] does). A hook that returns an error or panics is
/// reported once on stderr and otherwise ignored: it never breaks the program.
///
/// ```
/// use sigil::trace::{Hook, HookError, SpanEnd, SpanStart};
/// struct PrintLm;
/// impl Hook for PrintLm {
///     fn on_end(&self, start: &SpanStart, end: &SpanEnd) -> Result<(), HookError> {
///         println!("{} {} took {} ns", start.kind().as_str(), start.name, end.end_ns - start.start_ns);
///         Ok(())
///     }
/// }
/// ```
pub trait Hook: Send + Sync {
    fn on_start(&self, start: &SpanStart) -> Result<(), HookError> {
        let _ = start;
        Ok(())
    }
    fn on_end(&self, start: &SpanStart, end: &SpanEnd) -> Result<(), HookError> {
        let _ = (start, end);
        Ok(())
    }
    /// [`Hook::on_end`] with the events by value: the last hook of a ctx gets them
    /// this way, so a hook that keeps them (a queue to a thread) need not clone them.
    fn on_end_owned(&self, start: SpanStart, end: SpanEnd) -> Result<(), HookError> {
        self.on_end(&start, &end)
    }
}

struct Registered {
    hook: Arc<dyn Hook>,
    reported: AtomicBool,
}

/// The hooks of a ctx and the program they trace. Shared by every clone of the ctx.
pub struct Tracing {
    hooks: Vec<Registered>,
    pub(crate) program: Option<Arc<ProgramInfo>>,
    /// Share of traces recorded, decided at each root span from its trace id.
    pub(crate) sample_ratio: f64,
}

impl std::fmt::Debug for Tracing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tracing")
            .field("hooks", &self.hooks.len())
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
        Tracing {
            hooks: hooks
                .into_iter()
                .map(|hook| Registered {
                    hook,
                    reported: AtomicBool::new(false),
                })
                .collect(),
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
        self.hooks.iter().map(|r| r.hook.clone()).collect()
    }
    pub fn is_empty(&self) -> bool {
        self.hooks.is_empty()
    }

    pub(crate) fn dispatch_start(&self, start: &SpanStart) {
        for r in &self.hooks {
            let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| r.hook.on_start(start)));
            report(r, "start", outcome);
        }
    }
    /// Every hook but the last sees the events by reference; the last takes them.
    pub(crate) fn dispatch_end(&self, start: SpanStart, end: SpanEnd) {
        let Some((last, others)) = self.hooks.split_last() else {
            return;
        };
        for r in others {
            let outcome =
                std::panic::catch_unwind(AssertUnwindSafe(|| r.hook.on_end(&start, &end)));
            report(r, "end", outcome);
        }
        let outcome =
            std::panic::catch_unwind(AssertUnwindSafe(move || last.hook.on_end_owned(start, end)));
        report(last, "end", outcome);
    }
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
    start: SpanStart,
    events: Vec<SpanEvent>,
    attributes: Vec<(String, AttrValue)>,
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
        let (trace_id, parent_id) = match parent {
            Some(p) if !p.sampled => {
                return SpanGuard {
                    inner: None,
                    unsampled: Some(p),
                };
            }
            Some(p) => (p.trace_id, Some(p.span_id)),
            None => {
                let trace_id = TraceId::new();
                if !tracing.samples(trace_id) {
                    let p = SpanParent {
                        trace_id,
                        span_id: SpanId(1),
                        sampled: false,
                    };
                    return SpanGuard {
                        inner: None,
                        unsampled: Some(p),
                    };
                }
                (trace_id, None)
            }
        };
        let start = SpanStart {
            trace_id,
            call_id: SpanId::new(),
            parent_id,
            name,
            start_ns: now_ns(),
            data,
            program: tracing.program.clone(),
        };
        tracing.dispatch_start(&start);
        SpanGuard {
            inner: Some(Open {
                tracing: tracing.clone(),
                start,
                events: Vec::new(),
                attributes: Vec::new(),
            }),
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
            .map(|o| o.start.parent())
            .or(self.unsampled)
    }

    pub fn start(&self) -> Option<&SpanStart> {
        self.inner.as_ref().map(|o| &o.start)
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
    let end = SpanEnd {
        end_ns: now_ns().max(o.start.start_ns),
        data,
        events: o.events,
        attributes: o.attributes,
    };
    o.tracing.dispatch_end(o.start, end);
}

impl Drop for SpanGuard {
    fn drop(&mut self) {
        if let Some(o) = self.inner.take() {
            finish(o, EndData::Cancelled);
        }
    }
}

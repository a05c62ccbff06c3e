//! The hook model: a start and an end event for every module call, LM call, adapter
//! format and parse, tool call, retrieval hop, evaluation, compile run and optimizer
//! trial. Each event carries its call id (the span id) and its parent's.
//!
//! Events borrow what the call already holds (the inputs, the prompt prefix, the
//! completion, the parsed fields): emitting one copies nothing, and a hook copies only
//! what it keeps ([`SpanStart::data`] and [`SpanEnd::data`] build owned copies on
//! demand). The built-in [`super::SpanCollector`] does not go through these events at
//! all: it takes a few pointers per call and builds spans on its own thread.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use super::collector::{Record, SpanQueue};
pub(crate) use super::events::constraint_kind;
pub use super::events::{
    CompileSummary, EndData, EpochSummary, ErrorInfo, EvalSummary, FinetuneSummary, LmInput,
    ModuleOutput, SpanEnd, SpanStart, StartData,
};
pub(crate) use super::events::{EndSource, LmSource, StartSource};
use super::ids::{SpanId, TraceId};
use super::predict::PredictRecord;
use super::program::ProgramInfo;
use super::span::{AttrValue, SpanEvent, SpanKind};
use crate::adapter::Fields;

pub use super::clock::now_ns;

/// Where a span sits: its trace and its parent span. Travels in the `Ctx`,
/// so it survives `tokio::spawn` (move a ctx clone into the task) and concurrent
/// tasks (each holds its own ctx).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SpanParent {
    /// The trace.
    pub trace_id: TraceId,
    /// The parent span.
    pub span_id: SpanId,
    /// False when the trace was not sampled: spans under it are not recorded.
    pub sampled: bool,
}

/// Why a hook could not handle an event. Reported once per hook; the program goes on.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct HookError(pub String);

/// A receiver of start and end events. Register with `Ctx::with_hook`.
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
    /// Called when a span starts.
    fn on_start(&self, start: &SpanStart<'_>) -> Result<(), HookError> {
        let _ = start;
        Ok(())
    }
    /// Called when a span ends, with its start event again.
    fn on_end(&self, start: &SpanStart<'_>, end: &SpanEnd<'_>) -> Result<(), HookError> {
        let _ = (start, end);
        Ok(())
    }
    /// Whether this hook must see every `Predict` call, sampled or not (the
    /// optimizers' demo capture: sampling thins traffic traces, never a compile's
    /// demos). Such a hook gets a `Predict` call's events even in an unsampled trace.
    fn sees_unsampled_calls(&self) -> bool {
        false
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
    unsampled: bool,
    reported: AtomicBool,
}

/// The hooks of a ctx and the program they trace. Shared by every clone of the ctx.
pub(crate) struct Tracing {
    all: Vec<Arc<dyn Hook>>,
    /// Hooks that get the borrowed events (every hook but the collectors).
    hooks: Vec<Registered>,
    /// Whether some hook sees unsampled `Predict` calls.
    unsampled_hooks: bool,
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
                    unsampled: hook.sees_unsampled_calls(),
                    reported: AtomicBool::new(false),
                }),
            }
        }
        Tracing {
            all: hooks,
            unsampled_hooks: plain.iter().any(|r| r.unsampled),
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
    pub(crate) fn is_empty(&self) -> bool {
        self.all.is_empty()
    }
    /// Whether some hook takes the borrowed events of a span in a sampled trace (or,
    /// `sampled` false, of a `Predict` call in an unsampled one).
    pub(crate) fn has_event_hooks(&self, sampled: bool) -> bool {
        if sampled {
            !self.hooks.is_empty()
        } else {
            self.unsampled_hooks
        }
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

    /// The ids of a `Predict` call's spans and whether its trace is sampled: in an
    /// unsampled trace, ids for the hooks that see unsampled calls, else `None`.
    pub(crate) fn open_predict(&self, parent: Option<SpanParent>) -> Option<(Ids, bool)> {
        match self.open(parent) {
            Ok(ids) => Some((ids, true)),
            Err(Some(p)) if self.unsampled_hooks => Some((
                Ids {
                    trace_id: p.trace_id,
                    span_id: SpanId::new(),
                    parent_id: Some(p.span_id),
                },
                false,
            )),
            Err(_) => None,
        }
    }

    pub(crate) fn dispatch_start(&self, start: &SpanStart<'_>, sampled: bool) {
        for r in &self.hooks {
            if sampled || r.unsampled {
                let outcome = std::panic::catch_unwind(AssertUnwindSafe(|| r.hook.on_start(start)));
                report(r, "start", outcome);
            }
        }
    }
    pub(crate) fn dispatch_end(&self, start: &SpanStart<'_>, end: &SpanEnd<'_>, sampled: bool) {
        for r in &self.hooks {
            if sampled || r.unsampled {
                let outcome =
                    std::panic::catch_unwind(AssertUnwindSafe(|| r.hook.on_end(start, end)));
                report(r, "end", outcome);
            }
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
    /// Hands a finished `Predict` record and its outputs to every collector, and
    /// leaves it blank.
    #[inline]
    pub(crate) fn submit_predict(&self, record: &mut PredictRecord, outputs: Option<&Fields>) {
        if let Some((last, others)) = self.queues.split_last() {
            for q in others {
                let mut copy = record.clone();
                copy.set_outputs(outputs);
                q.push(Record::Predict(copy));
            }
            last.push_predict(record, outputs);
        } else {
            record.reset();
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
        if tracing.has_event_hooks(true) {
            tracing.dispatch_start(&open.start(), true);
        }
        SpanGuard {
            inner: Some(open),
            unsampled: None,
        }
    }

    /// Whether the span is recorded (some hook is registered and the trace is sampled).
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
    if o.tracing.has_event_hooks(true) {
        let end = SpanEnd {
            end_ns,
            events: &o.events,
            attributes: &o.attributes,
            source: EndSource::Data(&data),
        };
        o.tracing.dispatch_end(&o.start(), &end, true);
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
    pub(crate) fn kind(&self) -> SpanKind {
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

//! The spans of one `Predict` call (module, then format, LM and parse per attempt),
//! emitted with as little work on the calling task as possible.
//!
//! Hooks get borrowed events (nothing is copied for them). A collector gets one
//! [`PredictRecord`] per call when the call ends: ids, one clock read per boundary
//! (format start = module start, LM start = format end, parse start = LM end, module
//! end = the last parse end), and pointers the call already held (the inputs, the
//! cached prompt prefix, the response), moved rather than cloned where the call is done
//! with them. The collector's thread re-renders the user turn and re-parses the
//! completion (adapters are pure functions of signature, inputs and completion), so
//! neither is copied on the hot path.

use std::sync::{Arc, OnceLock};

use super::hooks::{
    EndData, EndSource, ErrorInfo, Ids, LmInput, LmSource, ModuleOutput, OwnedEnd, OwnedStart,
    SpanEnd, SpanStart, StartData, StartSource, Tracing, now_ns,
};
use super::ids::SpanId;
use super::program::ProgramInfo;
use super::span::{AttrValue, SpanEvent, SpanKind};
use crate::adapter::{Adapter, Fields, FormatError, JsonAdapter, ParseError};
use crate::data::{Example, Prediction};
use crate::lm::{Lm, LmError, LmParams, LmResponse, Message, Usage};
use crate::module::{Ctx, ModuleError};
use crate::signature::Signature;

/// The JSON adapter as a shared handle (the fallback's adapter).
pub(crate) fn json_adapter() -> &'static Arc<dyn Adapter> {
    static JSON: OnceLock<Arc<dyn Adapter>> = OnceLock::new();
    JSON.get_or_init(|| Arc::new(JsonAdapter))
}

/// A `Predict` call's name and inputs, which its trace borrows while the call runs
/// and takes at its end.
pub(crate) struct CallData {
    pub name: Arc<str>,
    pub inputs: Arc<Example>,
}

/// How far an attempt got.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Format,
    Lm,
    Parse,
    Done,
}

/// One format → LM → parse attempt, as a collector keeps it.
#[derive(Clone)]
struct Attempt {
    format_id: SpanId,
    lm_id: SpanId,
    parse_id: SpanId,
    /// Format start, format end = LM start, LM end = parse start, parse end.
    t: [u64; 4],
    adapter: Arc<dyn Adapter>,
    demos: usize,
    fallback: bool,
    /// Where the attempt stopped; `error` says why when it failed there.
    stage: Stage,
    error: Option<Box<ErrorInfo>>,
    messages: usize,
    prefix: Option<Arc<[Message]>>,
    lm: Option<Arc<dyn Lm>>,
    params: LmParams,
    constraint: Option<&'static str>,
    response: Option<Arc<LmResponse>>,
    parsed_ok: bool,
}

#[derive(Clone)]
enum Outcome {
    Ok {
        usage: Usage,
        lm_calls: u32,
        fallbacks: u32,
    },
    Err(ErrorInfo),
    Cancelled,
}

/// A whole `Predict` call for a collector.
#[derive(Clone)]
pub(crate) struct PredictRecord {
    ids: Ids,
    /// Moved in when the call ends (`None` only while pending).
    name: Option<Arc<str>>,
    start_ns: u64,
    end_ns: u64,
    program: Option<Arc<ProgramInfo>>,
    inputs: Option<Arc<Example>>,
    signature: Option<Arc<Signature>>,
    first: Option<Attempt>,
    more: Vec<Attempt>,
    outcome: Outcome,
    events: Vec<SpanEvent>,
}

impl std::fmt::Debug for PredictRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PredictRecord")
            .field("ids", &self.ids)
            .field("name", &self.name)
            .finish()
    }
}

fn attempt_spans(a: &Attempt) -> usize {
    match a.stage {
        Stage::Format => 1,
        Stage::Lm => 2,
        Stage::Parse | Stage::Done => 3,
    }
}

impl PredictRecord {
    /// An empty record (nothing allocated).
    fn blank() -> Self {
        PredictRecord {
            ids: Ids {
                trace_id: super::ids::TraceId(0),
                span_id: SpanId(0),
                parent_id: None,
            },
            name: None,
            start_ns: 0,
            end_ns: 0,
            program: None,
            inputs: None,
            signature: None,
            first: None,
            more: Vec::new(),
            outcome: Outcome::Cancelled,
            events: Vec::new(),
        }
    }

    pub(crate) fn span_count(&self) -> usize {
        1 + self.attempts().map(attempt_spans).sum::<usize>()
    }

    fn attempts(&self) -> impl Iterator<Item = &Attempt> {
        self.first.iter().chain(self.more.iter())
    }

    /// The call's spans as start/end pairs, children first.
    pub(crate) fn expand(&self, out: &mut Vec<(OwnedStart, OwnedEnd)>) {
        let inputs = self.inputs.clone().unwrap_or_default();
        let start = |id: SpanId, name: Arc<str>, t: u64, data: StartData| OwnedStart {
            trace_id: self.ids.trace_id,
            call_id: id,
            parent_id: Some(self.ids.span_id),
            name,
            start_ns: t,
            data,
            program: self.program.clone(),
        };
        let end = |t: u64, data: EndData| OwnedEnd {
            end_ns: t,
            data,
            events: Vec::new(),
            attributes: Vec::new(),
        };
        let cancelled = matches!(self.outcome, Outcome::Cancelled);
        // A failed or open step ends with its error, or as cancelled.
        let failed = |a: &Attempt, ok: EndData, at: Stage| -> EndData {
            if a.stage != at {
                return ok;
            }
            match &a.error {
                Some(e) => match at {
                    Stage::Format => EndData::Format(Err((**e).clone())),
                    _ => EndData::Lm(Err((**e).clone())),
                },
                None if cancelled => EndData::Cancelled,
                None => ok,
            }
        };
        let mut outputs: Option<Arc<Fields>> = None;
        let signature = self.signature.as_deref();
        for a in self.attempts() {
            let name = |step| super::adapter_step_name(a.adapter.name(), step);
            out.push((
                start(
                    a.format_id,
                    name("format"),
                    a.t[0],
                    StartData::Format {
                        adapter: a.adapter.name(),
                        demos: a.demos,
                        inputs: inputs.clone(),
                    },
                ),
                end(
                    a.t[1],
                    failed(a, EndData::Format(Ok(a.messages)), Stage::Format),
                ),
            ));
            if a.stage == Stage::Format {
                continue;
            }
            let (model_id, lm_name) = match &a.lm {
                Some(lm) => super::lm_span_names(&lm.model_id()),
                None => (Arc::from(""), Arc::from("chat")),
            };
            let turns = match signature {
                Some(sig) => a
                    .adapter
                    .format_user(sig, &inputs)
                    .ok()
                    .flatten()
                    .into_iter()
                    .collect(),
                None => Vec::new(),
            };
            let lm_end = match &a.response {
                Some(r) => EndData::Lm(Ok(r.clone())),
                None => EndData::Cancelled,
            };
            out.push((
                start(
                    a.lm_id,
                    lm_name,
                    a.t[1],
                    StartData::Lm {
                        model_id,
                        input: Arc::new(LmInput {
                            prefix: a.prefix.clone().unwrap_or_else(|| Arc::from(Vec::new())),
                            turns,
                            params: a.params.clone(),
                            constraint: a.constraint,
                        }),
                    },
                ),
                end(a.t[2], failed(a, lm_end, Stage::Lm)),
            ));
            if a.stage == Stage::Lm {
                continue;
            }
            let completion: Arc<str> = a
                .response
                .as_ref()
                .map(|r| Arc::from(r.text.as_str()))
                .unwrap_or_else(|| Arc::from(""));
            let parse_end = if a.stage == Stage::Parse {
                EndData::Cancelled
            } else {
                match (signature, &a.response) {
                    (Some(sig), Some(r)) => match a.adapter.parse(sig, &r.text) {
                        Ok(f) => {
                            let f = Arc::new(f);
                            if a.parsed_ok {
                                outputs = Some(f.clone());
                            }
                            EndData::Parse(Ok(f))
                        }
                        Err(e) => EndData::Parse(Err(ErrorInfo::new("parse", e.to_string()))),
                    },
                    _ => EndData::Parse(Ok(Arc::new(Fields::new()))),
                }
            };
            out.push((
                start(
                    a.parse_id,
                    name("parse"),
                    a.t[2],
                    StartData::Parse {
                        adapter: a.adapter.name(),
                        completion,
                        fallback: a.fallback,
                    },
                ),
                end(a.t[3], parse_end),
            ));
        }
        let module_end = match &self.outcome {
            Outcome::Ok {
                usage,
                lm_calls,
                fallbacks,
            } => EndData::Module(Ok(ModuleOutput {
                outputs: outputs.unwrap_or_default(),
                usage: *usage,
                lm_calls: *lm_calls,
                fallbacks: *fallbacks,
            })),
            Outcome::Err(e) => EndData::Module(Err(e.clone())),
            Outcome::Cancelled => EndData::Cancelled,
        };
        out.push((
            OwnedStart {
                trace_id: self.ids.trace_id,
                call_id: self.ids.span_id,
                parent_id: self.ids.parent_id,
                name: match &self.name {
                    Some(n) if !n.is_empty() => n.clone(),
                    _ => Arc::from("Predict"),
                },
                start_ns: self.start_ns,
                data: StartData::Module {
                    inputs: inputs.clone(),
                },
                program: self.program.clone(),
            },
            OwnedEnd {
                end_ns: self.end_ns,
                data: module_end,
                events: self.events.clone(),
                attributes: Vec::new(),
            },
        ));
    }
}

impl PredictRecord {
    fn current(&mut self) -> Option<&mut Attempt> {
        match self.more.last_mut() {
            Some(a) => Some(a),
            None => self.first.as_mut(),
        }
    }
}

/// The LM call of an attempt, as its spans describe it.
pub(crate) struct LmCall<'a> {
    pub lm: &'a Arc<dyn Lm>,
    pub adapter: &'a Arc<dyn Adapter>,
    pub signature: &'a Signature,
    pub constraint: Option<&'static str>,
}

/// The trace of one `Predict` call. Made only when the ctx has hooks and the trace is
/// sampled; dropping it before [`PredictTrace::end`] (a cancelled call) ends the open
/// spans as cancelled.
pub(crate) struct PredictTrace<'t, 'd> {
    tracing: &'t Tracing,
    call: &'d CallData,
    ids: Ids,
    start_ns: u64,
    /// The latest boundary's time: the next span starts there.
    last_ns: u64,
    hooks: bool,
    /// The collectors' record, filled in as the call runs.
    capture: Option<Box<PredictRecord>>,
    /// The current attempt's span ids (format, LM, parse) and its open step.
    step_ids: [SpanId; 3],
    open: Option<Stage>,
    /// The current LM call's prompt prefix and parameters.
    prefix: Option<Arc<[Message]>>,
    params: Option<LmParams>,
    events: Vec<SpanEvent>,
    ended: bool,
}

impl<'t, 'd> PredictTrace<'t, 'd> {
    /// Opens the module span (`None` when not tracing or not sampled).
    pub(crate) fn begin(ctx: &'t Ctx, call: &'d CallData) -> Option<Self> {
        let tracing = ctx.tracing.as_deref().filter(|t| !t.is_empty())?;
        let ids = tracing.open(ctx.span_parent).ok()?;
        let t = now_ns();
        let trace = PredictTrace {
            tracing,
            call,
            ids,
            start_ns: t,
            last_ns: t,
            hooks: tracing.has_event_hooks(),
            capture: tracing.has_collectors().then(|| {
                let mut r = recycled_box();
                r.ids = ids;
                r.start_ns = t;
                r.end_ns = t;
                r.program = tracing.program.clone();
                r
            }),
            step_ids: [SpanId(0); 3],
            open: None,
            prefix: None,
            params: None,
            events: Vec::new(),
            ended: false,
        };
        if trace.hooks {
            tracing.dispatch_start(&trace.module_start());
        }
        Some(trace)
    }

    fn module_start(&self) -> SpanStart<'_> {
        SpanStart {
            trace_id: self.ids.trace_id,
            call_id: self.ids.span_id,
            parent_id: self.ids.parent_id,
            start_ns: self.start_ns,
            program: self.tracing.program.as_deref(),
            name: display_name(&self.call.name),
            source: StartSource::Module {
                inputs: &self.call.inputs,
            },
        }
    }

    fn child_start<'a>(
        &'a self,
        step: usize,
        name: &'a str,
        t: u64,
        source: StartSource<'a>,
    ) -> SpanStart<'a> {
        SpanStart {
            trace_id: self.ids.trace_id,
            call_id: self.step_ids[step],
            parent_id: Some(self.ids.span_id),
            start_ns: t,
            program: self.tracing.program.as_deref(),
            name,
            source,
        }
    }

    /// Whether a collector still needs the signature in effect.
    pub(crate) fn wants_signature(&self) -> bool {
        self.capture.as_ref().is_some_and(|c| c.signature.is_none())
    }
    pub(crate) fn set_signature(&mut self, signature: Arc<Signature>) {
        if let Some(c) = self.capture.as_mut() {
            c.signature = Some(signature);
        }
    }

    /// Records an event on the module span.
    pub(crate) fn event(&mut self, name: &str, attributes: Vec<(String, AttrValue)>) {
        self.events.push(SpanEvent {
            name: name.to_string(),
            time_ns: now_ns(),
            attributes: attributes.into_iter().collect(),
        });
    }

    fn tick(&mut self) -> u64 {
        let t = now_ns().max(self.last_ns);
        self.last_ns = t;
        t
    }

    fn attempt(&mut self) -> Option<&mut Attempt> {
        self.capture.as_deref_mut().and_then(PredictRecord::current)
    }

    /// Opens an attempt's format span (at the previous boundary).
    pub(crate) fn format_start(
        &mut self,
        adapter: &Arc<dyn Adapter>,
        demos: usize,
        fallback: bool,
    ) {
        self.step_ids = [SpanId::new(), SpanId::new(), SpanId::new()];
        let t = self.last_ns;
        self.open = Some(Stage::Format);
        if self.hooks {
            let s = self.child_start(
                0,
                step_name(adapter.name(), "format"),
                t,
                StartSource::Format {
                    adapter: adapter.name(),
                    demos,
                    inputs: &self.call.inputs,
                },
            );
            self.tracing.dispatch_start(&s);
        }
        let ids = self.step_ids;
        if let Some(c) = self.capture.as_mut() {
            let a = Attempt {
                format_id: ids[0],
                lm_id: ids[1],
                parse_id: ids[2],
                t: [t; 4],
                adapter: adapter.clone(),
                demos,
                fallback,
                stage: Stage::Format,
                error: None,
                messages: 0,
                prefix: None,
                lm: None,
                params: LmParams::default(),
                constraint: None,
                response: None,
                parsed_ok: false,
            };
            if c.first.is_none() {
                c.first = Some(a);
            } else {
                c.more.push(a);
            }
        }
    }

    /// Ends the format span with the number of messages or the error.
    pub(crate) fn format_end(
        &mut self,
        adapter: &Arc<dyn Adapter>,
        demos: usize,
        result: Result<usize, &FormatError>,
    ) {
        let start = self.last_ns;
        let t = self.tick();
        self.open = None;
        if self.hooks {
            let s = self.child_start(
                0,
                step_name(adapter.name(), "format"),
                start,
                StartSource::Format {
                    adapter: adapter.name(),
                    demos,
                    inputs: &self.call.inputs,
                },
            );
            let e = SpanEnd {
                end_ns: t,
                events: &[],
                attributes: &[],
                source: EndSource::Format(result),
            };
            self.tracing.dispatch_end(&s, &e);
        }
        if let Some(a) = self.attempt() {
            a.t[1] = t;
            match result {
                Ok(n) => {
                    a.messages = n;
                    a.stage = Stage::Lm;
                }
                Err(e) => a.error = Some(Box::new(ErrorInfo::new("format", e.to_string()))),
            }
        }
    }

    fn lm_source<'a>(&'a self, call: &'a LmCall<'a>) -> Option<LmSource<'a>> {
        Some(LmSource {
            lm: call.lm.as_ref(),
            prefix: self.prefix.as_ref()?,
            adapter: call.adapter.as_ref(),
            signature: call.signature,
            inputs: &self.call.inputs,
            params: self.params.as_ref()?,
            constraint: call.constraint,
        })
    }

    /// Opens the LM span (at the format span's end). Takes the prompt prefix the call
    /// is done with, and the request's parameters.
    pub(crate) fn lm_start(
        &mut self,
        call: &LmCall<'_>,
        prefix: Arc<[Message]>,
        params: &LmParams,
    ) {
        self.open = Some(Stage::Lm);
        self.prefix = Some(prefix);
        self.params = Some(params.clone());
        let lm = self.capture.is_some().then(|| call.lm.clone());
        if let Some(a) = self.attempt() {
            a.lm = lm;
        }
        if self.hooks
            && let Some(src) = self.lm_source(call)
        {
            let s = self.child_start(1, "", self.last_ns, StartSource::Lm(src));
            self.tracing.dispatch_start(&s);
        }
    }

    /// Ends the LM span with the response or the error.
    pub(crate) fn lm_end(&mut self, call: &LmCall<'_>, result: Result<&Arc<LmResponse>, &LmError>) {
        let start = self.last_ns;
        let t = self.tick();
        self.open = None;
        if self.hooks
            && let Some(src) = self.lm_source(call)
        {
            let s = self.child_start(1, "", start, StartSource::Lm(src));
            let e = SpanEnd {
                end_ns: t,
                events: &[],
                attributes: &[],
                source: EndSource::Lm(result),
            };
            self.tracing.dispatch_end(&s, &e);
        }
        let (prefix, params) = (self.prefix.take(), self.params.take());
        if let Some(a) = self.attempt() {
            a.t[2] = t;
            a.prefix = prefix;
            a.params = params.unwrap_or_default();
            a.constraint = call.constraint;
            match result {
                Ok(_) => a.stage = Stage::Parse,
                Err(e) => a.error = Some(Box::new(ErrorInfo::new("lm", e.to_string()))),
            }
        }
    }

    /// Opens the parse span (at the LM span's end).
    pub(crate) fn parse_start(
        &mut self,
        adapter: &Arc<dyn Adapter>,
        completion: &str,
        fallback: bool,
    ) {
        self.open = Some(Stage::Parse);
        if self.hooks {
            let s = self.child_start(
                2,
                step_name(adapter.name(), "parse"),
                self.last_ns,
                StartSource::Parse {
                    adapter: adapter.name(),
                    completion,
                    fallback,
                },
            );
            self.tracing.dispatch_start(&s);
        }
    }

    /// Ends the parse span; takes the response the call is done with.
    pub(crate) fn parse_end(
        &mut self,
        adapter: &Arc<dyn Adapter>,
        fallback: bool,
        response: Arc<LmResponse>,
        result: &Result<Fields, ParseError>,
    ) {
        let start = self.last_ns;
        let t = self.tick();
        self.open = None;
        if self.hooks {
            let s = self.child_start(
                2,
                step_name(adapter.name(), "parse"),
                start,
                StartSource::Parse {
                    adapter: adapter.name(),
                    completion: &response.text,
                    fallback,
                },
            );
            let e = SpanEnd {
                end_ns: t,
                events: &[],
                attributes: &[],
                source: EndSource::Parse(result),
            };
            self.tracing.dispatch_end(&s, &e);
        }
        if let Some(a) = self.attempt() {
            a.t[3] = t;
            a.stage = Stage::Done;
            a.parsed_ok = result.is_ok();
            a.response = Some(response);
        }
    }

    /// Ends the module span. A successful call ends when its last parse did; a failed
    /// one reads the clock. The collector's record is returned to be completed with
    /// the call's name and inputs ([`Pending::submit`]).
    pub(crate) fn end(mut self, result: &Result<Prediction, ModuleError>) -> Option<Pending<'t>> {
        self.ended = true;
        let t = if result.is_ok() {
            self.last_ns
        } else {
            self.tick()
        };
        if self.hooks {
            let e = SpanEnd {
                end_ns: t,
                events: &self.events,
                attributes: &[],
                source: EndSource::Module(result),
            };
            self.tracing.dispatch_end(&self.module_start(), &e);
        }
        let outcome = match result {
            Ok(p) => Outcome::Ok {
                usage: p.usage,
                lm_calls: p.lm_calls,
                fallbacks: p.fallbacks,
            },
            Err(e) => Outcome::Err(ErrorInfo::new(e.kind(), e.to_string())),
        };
        let record = self.record(t, outcome)?;
        Some(Pending {
            tracing: self.tracing,
            record,
        })
    }

    fn record(&mut self, end_ns: u64, outcome: Outcome) -> Option<Box<PredictRecord>> {
        let mut r = self.capture.take()?;
        r.end_ns = end_ns;
        r.outcome = outcome;
        r.events = std::mem::take(&mut self.events);
        Some(r)
    }
}

impl Drop for PredictTrace<'_, '_> {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        // A cancelled call: the open step and the module span end as cancelled.
        let t = self.tick();
        if self.hooks {
            if let Some(stage) = self.open {
                let (step, kind) = match stage {
                    Stage::Format => (0, SpanKind::Format),
                    Stage::Lm => (1, SpanKind::Lm),
                    _ => (2, SpanKind::Parse),
                };
                let s = self.child_start(step, "", t, StartSource::Gone(kind));
                let e = SpanEnd {
                    end_ns: t,
                    events: &[],
                    attributes: &[],
                    source: EndSource::Data(&EndData::Cancelled),
                };
                self.tracing.dispatch_end(&s, &e);
            }
            let e = SpanEnd {
                end_ns: t,
                events: &self.events,
                attributes: &[],
                source: EndSource::Data(&EndData::Cancelled),
            };
            self.tracing.dispatch_end(&self.module_start(), &e);
        }
        let stage = self.open;
        let (prefix, params) = (self.prefix.take(), self.params.take());
        if let Some(a) = self.attempt() {
            match stage {
                Some(Stage::Format) => a.t[1] = t,
                Some(Stage::Lm) => {
                    a.t[2] = t;
                    a.prefix = prefix;
                    a.params = params.unwrap_or_default();
                }
                Some(_) => {
                    a.t[3] = t;
                    a.stage = Stage::Parse;
                }
                None => {}
            }
        }
        if let Some(mut record) = self.record(t, Outcome::Cancelled) {
            record.name = Some(self.call.name.clone());
            record.inputs = Some(self.call.inputs.clone());
            self.tracing
                .submit(super::collector::Record::Predict(record));
        }
    }
}

/// A finished call's record, waiting for the call's name and inputs.
pub(crate) struct Pending<'t> {
    tracing: &'t Tracing,
    record: Box<PredictRecord>,
}

impl Pending<'_> {
    /// Moves the call's name and inputs in and hands the record to the collectors.
    #[inline]
    pub(crate) fn submit(mut self, call: CallData) {
        self.record.name = Some(call.name);
        self.record.inputs = Some(call.inputs);
        self.tracing
            .submit(super::collector::Record::Predict(self.record));
    }
}

thread_local! {
    /// Boxes of records the collector is done with, for this thread's next calls: in
    /// steady state a traced call allocates no record. (Boxes, because the queue
    /// takes the records boxed.)
    #[allow(clippy::vec_box)]
    static SPARE: std::cell::RefCell<Vec<Box<PredictRecord>>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn recycled_box() -> Box<PredictRecord> {
    SPARE
        .try_with(|s| s.borrow_mut().pop())
        .ok()
        .flatten()
        .unwrap_or_else(|| Box::new(PredictRecord::blank()))
}

/// Drops a used record's contents (on the calling thread, which allocated most of
/// them) and keeps its box for a later call.
pub(crate) fn recycle(mut record: Box<PredictRecord>) {
    *record = PredictRecord::blank();
    let _ = SPARE.try_with(|s| {
        let mut s = s.borrow_mut();
        if s.len() < 4 {
            s.push(record);
        }
    });
}

/// An unbound predictor's span is called `Predict`.
fn display_name(path: &str) -> &str {
    if path.is_empty() { "Predict" } else { path }
}

fn step_name(adapter: &'static str, step: &'static str) -> &'static str {
    match (adapter, step) {
        ("chat", "format") => "chat.format",
        ("chat", "parse") => "chat.parse",
        ("json", "format") => "json.format",
        ("json", "parse") => "json.parse",
        (_, "format") => "format",
        _ => "parse",
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::module::Module;
    use crate::trace::{Hook, HookError, MemorySink, SpanCollector};

    /// Keeps owned copies of what the LM and parse events carry.
    #[derive(Default)]
    struct Keeps(Mutex<Vec<String>>);
    impl Hook for Keeps {
        fn on_start(&self, s: &SpanStart<'_>) -> Result<(), HookError> {
            if let StartData::Lm { model_id, input } = &*s.data() {
                let roles: Vec<_> = input.messages().map(|m| format!("{:?}", m.role)).collect();
                self.0.lock().unwrap().push(format!(
                    "lm {model_id} {}: {}",
                    s.name(),
                    roles.join(",")
                ));
            }
            Ok(())
        }
        fn on_end(&self, s: &SpanStart<'_>, e: &SpanEnd<'_>) -> Result<(), HookError> {
            if s.kind() == SpanKind::Parse {
                let fields = e.fields().map(|f| serde_json::to_string(f).unwrap());
                self.0.lock().unwrap().push(format!(
                    "parse {} -> {}",
                    s.completion().unwrap_or_default().len(),
                    fields.unwrap_or_default()
                ));
            }
            Ok(())
        }
    }

    #[tokio::test]
    async fn hooks_build_owned_data_on_demand_and_the_collector_gets_the_same_spans() {
        let keeps = Arc::new(Keeps::default());
        let sink = Arc::new(MemorySink::default());
        let collector = SpanCollector::builder().sink(sink.clone()).build();
        let lm =
            crate::testing::ScriptedLm::new(["[[ ## answer ## ]]\n4\n\n[[ ## completed ## ]]"]);
        let ctx = Ctx::new(lm)
            .with_hook(keeps.clone())
            .with_hook(collector.clone());
        let qa = crate::module::Predict::parse("question -> answer").unwrap();
        qa.call(&ctx, Example::new().input("question", "2+2?"))
            .await
            .unwrap();
        collector.flush();
        let kept = keeps.0.lock().unwrap().clone();
        assert_eq!(kept.len(), 2, "{kept:?}");
        assert!(kept[0].ends_with(": System,User"), "{kept:?}");
        assert_eq!(kept[1], r#"parse 43 -> {"answer":"4"}"#);
        let spans = sink.spans();
        assert_eq!(spans.len(), 4);
        let lm_span = spans.iter().find(|s| s.kind == SpanKind::Lm).unwrap();
        let messages = lm_span
            .attr_str(crate::trace::keys::GEN_AI_INPUT_MESSAGES)
            .unwrap();
        assert!(
            messages.contains("2+2?"),
            "the user turn is re-rendered: {messages}"
        );
        let parse = spans.iter().find(|s| s.kind == SpanKind::Parse).unwrap();
        assert_eq!(
            parse.attr_str(crate::trace::keys::PARSE_FIELDS),
            Some(r#"{"answer":"4"}"#)
        );
    }
}

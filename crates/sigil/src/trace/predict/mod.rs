//! The spans of one `Predict` call (module, then format, LM and parse per attempt),
//! emitted with as little work on the calling task as possible.
//!
//! `Predict` reports each step once, with what the step produced: the messages it
//! formatted, the LM's response, the parsed fields or the error. Hooks get borrowed
//! events (nothing is copied for them). A collector gets one [`PredictRecord`] per
//! call when the call ends: ids, one clock read per boundary (format start = module
//! start, LM start = format end, parse start = LM end, module end = the last parse
//! end), and what the steps produced, moved rather than cloned where the call is done
//! with it. When the record is queued, the inputs, the user turn, the response and the
//! parsed fields are copied into the queue's buffer and the call's own freed on the
//! calling thread (`arena.rs` says why). The collector's thread builds the spans from
//! the record alone: it never formats or parses again.

use std::sync::Arc;

mod arena;
mod record;

pub(crate) use arena::Arena;
pub(crate) use record::PredictRecord;
use record::{Attempt, Held, Outcome, Stage, Turns, recycled_box, reuse};

use super::clock::now_ns;
use super::hooks::{
    EndData, EndSource, ErrorInfo, Ids, LmSource, SpanEnd, SpanParent, SpanStart, StartSource,
    Tracing,
};
use super::ids::SpanId;
use super::span::{AttrValue, SpanEvent, SpanKind};
use crate::adapter::{Fields, FormatError, ParseError};
use crate::data::{Example, Prediction};
use crate::lm::{Lm, LmError, LmParams, LmResponse, Message, ToolSpec};

/// A `Predict` call's path and inputs, which its trace borrows while the call runs
/// and takes at its end.
pub(crate) struct CallData {
    pub path: Arc<str>,
    pub inputs: Arc<Example>,
}

/// The LM call of an attempt, as its spans describe it.
pub(crate) struct LmCall<'a> {
    pub lm: &'a Arc<dyn Lm>,
    pub constraint: Option<&'static str>,
    /// The tools offered for native tool calling (empty: none).
    pub tools: &'a [ToolSpec],
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
    /// The current LM call's prompt prefix, the turns formatted after it, and its
    /// parameters.
    prefix: Option<Arc<[Message]>>,
    turns: Vec<Message>,
    params: Option<LmParams>,
    /// False for a call in an unsampled trace that only hooks wanting every call see.
    sampled: bool,
    events: Vec<SpanEvent>,
    ended: bool,
}

impl<'t, 'd> PredictTrace<'t, 'd> {
    /// Opens the module span (`None` when not tracing, or not sampled and no hook
    /// wants unsampled calls).
    pub(crate) fn begin(
        tracing: &'t Tracing,
        parent: Option<SpanParent>,
        call: &'d CallData,
    ) -> Option<Self> {
        if tracing.is_empty() {
            return None;
        }
        let (ids, sampled) = tracing.open_predict(parent)?;
        let t = now_ns();
        let trace = PredictTrace {
            tracing,
            call,
            ids,
            start_ns: t,
            last_ns: t,
            hooks: tracing.has_event_hooks(sampled),
            capture: (sampled && tracing.has_collectors()).then(|| {
                let mut r = recycled_box();
                r.ids = ids;
                r.scratch.clear();
                r.start_ns = t;
                r.end_ns = t;
                r.program = tracing.program.clone();
                r
            }),
            step_ids: [SpanId(0); 3],
            open: None,
            prefix: None,
            turns: Vec::new(),
            params: None,
            sampled,
            events: Vec::new(),
            ended: false,
        };
        if trace.hooks {
            tracing.dispatch_start(&trace.module_start(), sampled);
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
            name: display_name(&self.call.path),
            source: StartSource::Predict {
                path: &self.call.path,
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
    pub(crate) fn format_start(&mut self, adapter: &'static str, demos: usize, fallback: bool) {
        self.step_ids = [SpanId::new(), SpanId::new(), SpanId::new()];
        let t = self.last_ns;
        self.open = Some(Stage::Format);
        if self.hooks {
            let s = self.child_start(
                0,
                step_name(adapter, "format"),
                t,
                StartSource::Format {
                    adapter,
                    demos,
                    inputs: &self.call.inputs,
                },
            );
            self.tracing.dispatch_start(&s, self.sampled);
        }
        let ids = self.step_ids;
        if let Some(c) = self.capture.as_mut() {
            let a = Attempt {
                format_id: ids[0],
                lm_id: ids[1],
                parse_id: ids[2],
                t: [t; 4],
                adapter,
                demos,
                fallback,
                stage: Stage::Format,
                error: None,
                messages: 0,
                prefix: None,
                turns: Turns::None,
                lm: None,
                params: LmParams::default(),
                tools: Vec::new(),
                constraint: None,
                response: Held::None,
                parsed_ok: false,
            };
            if c.first.is_none() {
                c.first = Some(a);
            } else {
                c.more.push(a);
            }
        }
    }

    /// Ends the format span with what it formatted (all the messages, and how many of
    /// them are the cached prefix) or the error.
    pub(crate) fn format_end(
        &mut self,
        adapter: &'static str,
        demos: usize,
        result: Result<(&[Message], usize), &FormatError>,
    ) {
        let start = self.last_ns;
        let t = self.tick();
        self.open = None;
        if let Ok((messages, prefix)) = result {
            // The user turn is the one part of the prompt the call owns alone: kept
            // for the LM span (the prefix is shared and cached). Hooks borrow it as
            // messages; a collector's record copies it into its scratch buffer.
            let turns = messages.get(prefix..).unwrap_or_default();
            if self.hooks {
                self.turns.clear();
                self.turns.extend_from_slice(turns);
            }
            if let Some(c) = self.capture.as_deref_mut() {
                let at = c.scratch.put_messages(turns);
                if let Some(a) = c.current() {
                    a.turns = Turns::Scratch(at);
                }
            }
        }
        let result = result.map(|(m, _)| m.len());
        if self.hooks {
            let s = self.child_start(
                0,
                step_name(adapter, "format"),
                start,
                StartSource::Format {
                    adapter,
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
            self.tracing.dispatch_end(&s, &e, self.sampled);
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
            turns: &self.turns,
            inputs: &self.call.inputs,
            params: self.params.as_ref()?,
            constraint: call.constraint,
            tools: call.tools,
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
            a.tools = call.tools.to_vec();
        }
        if self.hooks
            && let Some(src) = self.lm_source(call)
        {
            let s = self.child_start(1, "", self.last_ns, StartSource::Lm(src));
            self.tracing.dispatch_start(&s, self.sampled);
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
            self.tracing.dispatch_end(&s, &e, self.sampled);
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
    pub(crate) fn parse_start(&mut self, adapter: &'static str, completion: &str, fallback: bool) {
        self.open = Some(Stage::Parse);
        if self.hooks {
            let s = self.child_start(
                2,
                step_name(adapter, "parse"),
                self.last_ns,
                StartSource::Parse {
                    adapter,
                    completion,
                    fallback,
                },
            );
            self.tracing.dispatch_start(&s, self.sampled);
        }
    }

    /// Ends the parse span with the fields or the error; takes the response the call
    /// is done with. (A collector copies the fields from the prediction when the call
    /// ends, which saves holding them here.)
    pub(crate) fn parse_end(
        &mut self,
        adapter: &'static str,
        fallback: bool,
        response: Arc<LmResponse>,
        result: Result<&Fields, &ParseError>,
    ) {
        let start = self.last_ns;
        let t = self.tick();
        self.open = None;
        if self.hooks {
            let s = self.child_start(
                2,
                step_name(adapter, "parse"),
                start,
                StartSource::Parse {
                    adapter,
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
            self.tracing.dispatch_end(&s, &e, self.sampled);
        }
        if let Some(a) = self.attempt() {
            a.t[3] = t;
            a.stage = Stage::Done;
            a.parsed_ok = result.is_ok();
            if let Err(e) = result {
                a.error = Some(Box::new(ErrorInfo::new("parse", e.to_string())));
            }
            a.response = Held::Call(response);
        }
    }

    /// Ends the module span. A successful call ends when its last parse did; a failed
    /// one reads the clock. The collector's record is returned to be completed with
    /// the call's path, inputs and outputs ([`Pending::submit`]).
    pub(crate) fn end(mut self, result: Result<&Prediction, &ErrorInfo>) -> Option<Pending<'t>> {
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
            self.tracing
                .dispatch_end(&self.module_start(), &e, self.sampled);
        }
        let outcome = match result {
            Ok(p) => Outcome::Ok {
                usage: p.usage,
                lm_calls: p.lm_calls,
                fallbacks: p.fallbacks,
            },
            Err(e) => Outcome::Err(e.clone()),
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
                self.tracing.dispatch_end(&s, &e, self.sampled);
            }
            let e = SpanEnd {
                end_ns: t,
                events: &self.events,
                attributes: &[],
                source: EndSource::Data(&EndData::Cancelled),
            };
            self.tracing
                .dispatch_end(&self.module_start(), &e, self.sampled);
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
            record.name = Some(self.call.path.clone());
            record.inputs = Held::Call(self.call.inputs.clone());
            self.tracing.submit_predict(&mut record, None);
            reuse(record);
        }
    }
}

/// A finished call's record, waiting for the call's path, inputs and outputs.
pub(crate) struct Pending<'t> {
    tracing: &'t Tracing,
    record: Box<PredictRecord>,
}

impl Pending<'_> {
    /// Moves the call's path and inputs in and hands the record to the collectors,
    /// which copy `outputs` (the prediction's fields, as parsed) into their queues.
    #[inline]
    pub(crate) fn submit(mut self, call: CallData, outputs: Option<&Fields>) {
        self.record.name = Some(call.path);
        self.record.inputs = Held::Call(call.inputs);
        self.tracing.submit_predict(&mut self.record, outputs);
        reuse(self.record);
    }
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

//! The spans of one `Predict` call (module, then format, LM and parse per attempt),
//! emitted with as little work on the calling task as possible.
//!
//! Hooks get borrowed events (nothing is copied for them). A collector gets one
//! [`PredictRecord`] per call when the call ends: ids, one clock read per boundary
//! (format start = module start, LM start = format end, parse start = LM end, module
//! end = the last parse end), and pointers the call already held (the inputs, the
//! cached prompt prefix, the response), moved rather than cloned where the call is done
//! with them. When the record is queued, the inputs and the response are copied into
//! the queue's buffer and freed on the calling thread (`arena.rs` says why). The
//! collector's thread re-renders the user turn and re-parses the completion (adapters
//! are pure functions of signature, inputs and completion), so neither is copied on
//! the hot path.

use std::sync::{Arc, OnceLock};

mod arena;
mod record;

pub(crate) use arena::Arena;
pub(crate) use record::PredictRecord;
use record::{Attempt, Held, Outcome, Stage, recycled_box, reuse};

use super::hooks::{
    EndData, EndSource, ErrorInfo, Ids, LmSource, SpanEnd, SpanStart, StartSource, Tracing, now_ns,
};
use super::ids::SpanId;
use super::span::{AttrValue, SpanEvent, SpanKind};
use crate::adapter::{Adapter, Fields, FormatError, JsonAdapter, ParseError};
use crate::data::{Example, Prediction};
use crate::lm::{Lm, LmError, LmParams, LmResponse, Message};
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
            a.response = Held::Call(response);
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
            record.inputs = Held::Call(self.call.inputs.clone());
            self.tracing.submit_predict(&mut record);
            reuse(record);
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
        self.record.inputs = Held::Call(call.inputs);
        self.tracing.submit_predict(&mut self.record);
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

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::module::Module;
    use crate::trace::StartData;
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
    async fn a_call_dropped_by_a_full_queue_leaves_nothing_in_the_next_calls_record() {
        let sink = Arc::new(MemorySink::default());
        // Room for one call's 4 spans until the collector delivers (at a flush).
        let collector = SpanCollector::builder()
            .sink(sink.clone())
            .max_queue(4)
            .interval(std::time::Duration::from_secs(3600))
            .build();
        let answer = |a: &str| format!("[[ ## answer ## ]]\n{a}\n\n[[ ## completed ## ]]");
        let lm = crate::testing::ScriptedLm::new([answer("1"), answer("2"), answer("3")]);
        let ctx = Ctx::new(lm).with_hook(collector.clone());
        let qa = crate::module::Predict::parse("question -> answer").unwrap();
        for q in ["one?", "two?"] {
            qa.call(&ctx, Example::new().input("question", q))
                .await
                .unwrap();
        }
        collector.flush();
        qa.call(&ctx, Example::new().input("question", "three?"))
            .await
            .unwrap();
        collector.flush();
        assert_eq!(collector.stats().dropped, 4);
        let spans = sink.spans();
        assert_eq!(spans.len(), 8);
        let seen: Vec<String> = spans
            .iter()
            .filter_map(|s| match s.kind {
                SpanKind::Module => s.attr_str(crate::trace::keys::INPUTS).map(String::from),
                SpanKind::Parse => s
                    .attr_str(crate::trace::keys::PARSE_FIELDS)
                    .map(String::from),
                _ => None,
            })
            .collect();
        assert_eq!(seen.len(), 4, "{seen:?}");
        assert!(
            seen[0].contains("1") && seen[1].contains("one?"),
            "{seen:?}"
        );
        assert!(
            seen[2].contains("3") && seen[3].contains("three?"),
            "{seen:?}"
        );
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

//! Shared by the trace_* tests: a collector into memory, span-tree checks, programs.
#![allow(dead_code)]

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use async_trait::async_trait;
use sigil::prelude::*;
use sigil::trace::{MemorySink, Span, SpanCollector, SpanKind, TraceId};

pub use sigil_testkit::chat;

/// A collector writing into memory, and the sink to read spans back.
pub fn memory_collector() -> (Arc<SpanCollector>, Arc<MemorySink>) {
    let sink = Arc::new(MemorySink::default());
    let collector = SpanCollector::builder().sink(sink.clone()).build();
    (collector, sink)
}

/// Asserts every span's parent is in the same trace and each trace has one root;
/// returns the spans grouped by trace.
pub fn assert_well_formed(spans: &[Span]) -> HashMap<TraceId, Vec<Span>> {
    let ids: HashMap<_, _> = spans.iter().map(|s| (s.span_id, s)).collect();
    assert_eq!(ids.len(), spans.len(), "span ids are unique");
    let mut by_trace: HashMap<TraceId, Vec<Span>> = HashMap::new();
    for s in spans {
        if let Some(p) = s.parent_id {
            let parent = ids.get(&p).unwrap_or_else(|| {
                panic!("orphan span {} ({:?}): parent {p} missing", s.name, s.kind)
            });
            assert_eq!(
                parent.trace_id, s.trace_id,
                "span {} is in another trace than its parent",
                s.name
            );
            assert!(
                parent.start_ns <= s.start_ns && s.end_ns <= parent.end_ns,
                "span {} lies inside its parent",
                s.name
            );
        }
        by_trace.entry(s.trace_id).or_default().push(s.clone());
    }
    for (t, spans) in &by_trace {
        assert_eq!(
            spans.iter().filter(|s| s.parent_id.is_none()).count(),
            1,
            "trace {t} has exactly one root"
        );
    }
    by_trace
}

pub fn children<'a>(spans: &'a [Span], parent: &Span) -> Vec<&'a Span> {
    let mut c: Vec<&Span> = spans
        .iter()
        .filter(|s| s.parent_id == Some(parent.span_id))
        .collect();
    c.sort_by_key(|s| s.start_ns);
    c
}

pub fn kinds(spans: &[&Span]) -> Vec<SpanKind> {
    spans.iter().map(|s| s.kind).collect()
}

pub fn root(spans: &[Span]) -> &Span {
    spans
        .iter()
        .find(|s| s.parent_id.is_none())
        .expect("a root span")
}

pub fn unique_names(spans: &[Span]) -> HashSet<String> {
    spans.iter().map(|s| s.name.clone()).collect()
}

/// Two predictors in a row: writes a search query, then answers from it.
pub struct TwoStep {
    pub query: Predict,
    pub answer: Predict,
}

impl TwoStep {
    pub fn new() -> Self {
        TwoStep {
            query: Predict::parse("question -> query").unwrap(),
            answer: Predict::parse("question, query -> answer").unwrap(),
        }
    }
}

#[async_trait]
impl Module for TwoStep {
    sigil::submodules!(query, answer);
    fn name(&self) -> &str {
        "TwoStep"
    }
    async fn forward(&self, ctx: &CallCtx<'_>, inputs: Example) -> Result<Prediction, ModuleError> {
        let question = inputs.get_str("question").unwrap_or_default();
        let q = self
            .query
            .call(ctx, Example::new().input("question", question.clone()))
            .await?;
        let query = q.get_str("query").unwrap_or_default();
        let mut out = self
            .answer
            .call(
                ctx,
                Example::new()
                    .input("question", question)
                    .input("query", query),
            )
            .await?;
        out.absorb_stats(&q);
        Ok(out)
    }
}

/// An LM that answers both steps of [`TwoStep`] by looking at the signature.
pub fn two_step_lm() -> sigil_testkit::ScriptedLm {
    sigil_testkit::ScriptedLm::from_fn(|req| {
        let system = &req.messages[0].content;
        if system.contains("`answer`") {
            Ok(chat(&[("answer", "Paris")]))
        } else {
            Ok(chat(&[("query", "capital of France")]))
        }
    })
}

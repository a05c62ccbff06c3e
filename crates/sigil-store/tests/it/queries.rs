//! A traced program writes into the store; the store answers by program, status,
//! time and compiled/uncompiled, gives a trace's tree, compile runs with trials and
//! hourly aggregates.

use std::sync::Arc;

use serde_json::json;
use sigil::prelude::*;
use sigil::trace::{
    CompileSummary, EndData, ProgramInfo, Span, SpanCollector, SpanId, SpanKind, SpanStatus,
    StartData, TraceId, keys,
};
use sigil_store::{Retention, Store, StoreSink, TraceFilter};
use sigil_testkit::ScriptedLm;
use sigil_testkit::chat;

use crate::program_support::TwoStep;

fn lm() -> ScriptedLm {
    ScriptedLm::from_fn(|req| {
        let last = &req.messages.last().unwrap().content;
        if last.contains("fail") {
            return Ok("garbage".into());
        }
        if req.messages[0].content.contains("`answer`") {
            Ok(chat(&[("answer", "Paris")]))
        } else {
            Ok(chat(&[("query", "q")]))
        }
    })
}

#[tokio::test]
async fn traced_program_lands_in_the_store_and_is_queryable() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(StoreSink::open(dir.path().join("t.db")).unwrap());
    let collector = SpanCollector::builder().sink(sink.clone()).build();
    let program = TwoStep::new();
    let base = Ctx::new(lm())
        .with_hook(collector.clone())
        .with_fallback(sigil::adapter::FallbackPolicy::Off);
    let plain = base.with_program(ProgramInfo::uncompiled("qa"));
    let compiled = base.with_program(ProgramInfo::compiled("qa", "abc123", "bootstrap"));
    for i in 0..3 {
        program
            .call(&plain, Example::new().input("question", format!("q{i}")))
            .await
            .unwrap();
    }
    program
        .call(&compiled, Example::new().input("question", "q"))
        .await
        .unwrap();
    assert!(
        program
            .call(&plain, Example::new().input("question", "please fail"))
            .await
            .is_err()
    );

    // A compile run with two trials, as the optimizer emits it.
    let compile = base.start_span("bootstrap", || StartData::Compile {
        optimizer: "bootstrap".into(),
        program: "qa".into(),
        trainset: 10,
        valset: 5,
        config: Arc::new(json!({"max_demos": 4})),
    });
    let cctx = base.child(&compile);
    for t in 0..2u64 {
        let trial = cctx.start_span(format!("trial {t}"), || StartData::Trial {
            index: t,
            candidate: Arc::new(json!({})),
        });
        let tctx = cctx.child(&trial);
        program
            .call(&tctx, Example::new().input("question", "x"))
            .await
            .unwrap();
        trial.end(EndData::Trial(Ok(Some(0.5 + t as f64 / 10.0))));
    }
    compile.end(EndData::Compile(Ok(CompileSummary {
        best_score: Some(0.6),
        artifact_hash: Some("abc123".into()),
        trials: 2,
    })));
    collector.flush();

    let store = sink.store();
    assert_eq!(
        store
            .traces(&TraceFilter::default().program("qa"))
            .unwrap()
            .len(),
        6,
        "5 calls and the compile run"
    );
    let all = store
        .traces(
            &TraceFilter::default()
                .program("qa")
                .root_kind(SpanKind::Module),
        )
        .unwrap();
    assert_eq!(all.len(), 5);
    let errors = store
        .traces(&TraceFilter::default().program("qa").errors_only())
        .unwrap();
    assert_eq!(errors.len(), 1);
    assert!(errors[0].error.as_deref().unwrap().contains("parse"));
    let comp = store
        .traces(&TraceFilter::default().program("qa").compiled(true))
        .unwrap();
    assert_eq!(comp.len(), 1);
    assert_eq!(comp[0].artifact_hash.as_deref(), Some("abc123"));
    assert_eq!(comp[0].optimizer.as_deref(), Some("bootstrap"));
    assert_eq!(
        store
            .traces(
                &TraceFilter::default()
                    .compiled(false)
                    .root_kind(SpanKind::Module)
            )
            .unwrap()
            .len(),
        4
    );
    let t = &all[all.len() - 1];
    assert_eq!(t.lm_calls, 2);
    assert!(t.input_tokens > 0);
    assert!(t.inputs.as_deref().unwrap().contains("q0"));
    let future = sigil::trace::now_ns() + 1_000_000_000;
    assert!(
        store
            .traces(&TraceFilter::default().since_ns(future))
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        store
            .traces(&TraceFilter::default().program("qa").limit(2))
            .unwrap()
            .len(),
        2
    );
    assert_eq!(all[0].root_kind, "module");

    let tree = store.trace_tree(&t.trace_id).unwrap().unwrap();
    assert_eq!(tree.span.name, "TwoStep");
    assert_eq!(
        tree.children
            .iter()
            .map(|c| c.span.name.as_str())
            .collect::<Vec<_>>(),
        ["query", "answer"]
    );
    assert_eq!(
        tree.children[0]
            .children
            .iter()
            .map(|c| c.span.kind)
            .collect::<Vec<_>>(),
        [SpanKind::Format, SpanKind::Lm, SpanKind::Parse]
    );
    assert_eq!(tree.flatten().len(), 9);
    let lm_span = &tree.children[0].children[1].span;
    assert!(
        lm_span.attr_str(keys::GEN_AI_INPUT_MESSAGES).is_some(),
        "attributes survive the round trip"
    );

    let runs = store.compile_runs(Some("qa"), 10).unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(
        runs[0].compile.attr_f64(keys::COMPILE_BEST_SCORE),
        Some(0.6)
    );
    assert_eq!(runs[0].trials.len(), 2);
    assert_eq!(runs[0].trials[1].attr_f64(keys::TRIAL_SCORE), Some(0.6));
    assert_eq!(
        runs[0].compile.attr_i64(keys::USAGE_LM_CALLS),
        Some(4),
        "compile rolls up its trials' calls"
    );

    let hours = store
        .hourly_stats(
            &TraceFilter::default()
                .program("qa")
                .root_kind(SpanKind::Module),
        )
        .unwrap();
    assert_eq!(hours.len(), 1);
    assert_eq!(hours[0].traces, 5);
    assert_eq!(hours[0].errors, 1);
    assert!((hours[0].error_rate - 0.2).abs() < 1e-9);
    assert!(hours[0].p95_ms >= hours[0].p50_ms);
    assert!(hours[0].input_tokens > 0);
    store.integrity_check().unwrap();
}

fn span(trace: TraceId, start_ns: u64) -> Span {
    Span {
        trace_id: trace,
        span_id: SpanId::new(),
        parent_id: None,
        kind: SpanKind::Module,
        name: "p".into(),
        start_ns,
        end_ns: start_ns + 1000,
        status: SpanStatus::Ok,
        attributes: Default::default(),
        events: Vec::new(),
    }
}

#[test]
fn retention_deletes_the_oldest_spans_and_traces() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join("r.db"))
        .unwrap()
        .with_retention(Retention {
            max_age: Some(std::time::Duration::from_secs(3600)),
            max_spans: Some(10),
        });
    let now = sigil::trace::now_ns();
    let old: Vec<Span> = (0..5)
        .map(|i| span(TraceId::new(), now - 7_200_000_000_000 + i))
        .collect();
    let new: Vec<Span> = (0..15)
        .map(|i| span(TraceId::new(), now - 1000 + i))
        .collect();
    store.write_spans(&old).unwrap();
    store.write_spans(&new).unwrap();
    assert_eq!(store.apply_retention().unwrap(), 10);
    assert_eq!(store.span_count().unwrap(), 10);
    let left = store.traces(&TraceFilter::default().limit(0)).unwrap();
    assert_eq!(left.len(), 10);
    assert!(left.iter().all(|t| t.start_ns >= now - 1000 + 5));
}

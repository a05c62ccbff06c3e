//! A failed parse is a parse span with the raw completion and the error; the JSON
//! fallback is a second format/lm/parse with `fallback = true` and an event on the
//! predictor span. LM failures end the LM span and the module span with errors.

use std::sync::Arc;

use sigil::lm::LmError;
use sigil::prelude::*;
use sigil::trace::{SpanKind, SpanStatus, keys};
use sigil_testkit::{ScriptedLm, expect};
use trace_support::*;

use crate::trace_support;

#[tokio::test]
async fn fallback_is_visible_in_the_trace() {
    let (collector, sink) = memory_collector();
    let lm = ScriptedLm::new([
        "I think it's four".to_string(),
        r#"{"answer": 4}"#.to_string(),
    ]);
    let ctx = Ctx::new(lm).with_hook(collector.clone());
    let p = Predict::parse("question -> answer: int").unwrap();
    let out = p
        .call(&ctx, Example::new().input("question", "2+2?"))
        .await
        .unwrap();
    assert_eq!(out.fallbacks, 1);
    collector.flush();
    let spans = sink.spans();
    assert_well_formed(&spans);
    use SpanKind::*;
    expect::span("Predict")
        .ok()
        // No program info: uncompiled.
        .with_attr(keys::PROGRAM_COMPILED, false)
        .with_attr(keys::MODULE_FALLBACKS, 1i64)
        .with_events(["fallback"])
        .with_attr(keys::USAGE_LM_CALLS, 2i64)
        .child(expect::kind(Format))
        .child(expect::kind(Lm))
        .child(
            expect::kind(Parse)
                .error_containing("could not parse")
                .with_attr(keys::PARSE_COMPLETION, "I think it's four")
                .with_attr_present(keys::PARSE_ERROR)
                .with_attr(keys::PARSE_FALLBACK, false),
        )
        .child(expect::kind(Format))
        .child(expect::kind(Lm))
        .child(
            expect::kind(Parse)
                .ok()
                .with_attr(keys::ADAPTER, "json")
                .with_attr(keys::PARSE_FALLBACK, true)
                .with_attr(keys::PARSE_FIELDS, r#"{"answer":4}"#),
        )
        .assert_tree(&spans);
}

#[tokio::test]
async fn lm_errors_end_spans_with_error_status() {
    let (collector, sink) = memory_collector();
    let lm = Arc::new(ScriptedLm::new(Vec::<String>::new()));
    lm.push_error(LmError::Connection {
        provider: "fake".into(),
        message: "refused".into(),
    });
    let ctx = Ctx::from_arc(lm).with_hook(collector.clone());
    let p = Predict::parse("question -> answer").unwrap();
    assert!(
        p.call(&ctx, Example::new().input("question", "q"))
            .await
            .is_err()
    );
    collector.flush();
    let spans = sink.spans();
    let root = root(&spans);
    assert!(matches!(&root.status, SpanStatus::Error(m) if m.contains("refused")));
    assert_eq!(root.attr_str(keys::ERROR_TYPE), Some("lm"));
    let lm_span = spans.iter().find(|s| s.kind == SpanKind::Lm).unwrap();
    assert!(matches!(&lm_span.status, SpanStatus::Error(_)));
}

#[tokio::test]
async fn a_dropped_call_ends_its_spans_as_cancelled() {
    let (collector, sink) = memory_collector();
    let lm = ScriptedLm::from_fn(|_| Ok(chat(&[("answer", "x")])));
    let ctx = Ctx::new(lm).with_hook(collector.clone());
    let p = Predict::parse("question -> answer").unwrap();
    let never = async {
        let span = ctx.start_span("slow-tool", || sigil::trace::StartData::Tool {
            tool: "search".into(),
            args: Arc::new(serde_json::json!({})),
        });
        let inner = ctx.child(&span);
        p.call(&inner, Example::new().input("question", "q"))
            .await
            .unwrap();
        std::future::pending::<()>().await;
        drop(span);
    };
    let _ = tokio::time::timeout(std::time::Duration::from_millis(20), never).await;
    collector.flush();
    let spans = sink.spans();
    assert_well_formed(&spans);
    let root = root(&spans);
    assert_eq!(root.kind, SpanKind::Tool);
    assert_eq!(root.status, SpanStatus::Cancelled);
    assert_eq!(
        root.attr_i64(keys::USAGE_LM_CALLS),
        Some(1),
        "the tool span rolls up the call made inside it"
    );
}

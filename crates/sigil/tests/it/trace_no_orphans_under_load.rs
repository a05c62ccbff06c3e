//! 64 concurrent calls through `tokio::spawn` and through a concurrent Evaluate, on a
//! multi-threaded runtime: every span's parent is in its trace, no span is lost.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sigil::evaluate::{Evaluate, ExactMatch};
use sigil::lm::{Lm, LmError, LmRequest, LmResponse, Usage};
use sigil::prelude::*;
use sigil::trace::{SpanKind, keys};
use trace_support::*;

use crate::trace_support;

/// Answers after a short random-ish delay so calls interleave across threads.
struct SlowLm;

#[async_trait]
impl Lm for SlowLm {
    fn model_id(&self) -> String {
        "fake/slow".into()
    }
    async fn call(&self, request: LmRequest) -> Result<LmResponse, LmError> {
        let n = request
            .messages
            .last()
            .map(|m| m.content.len())
            .unwrap_or(0);
        tokio::time::sleep(Duration::from_millis((n % 7) as u64)).await;
        tokio::task::yield_now().await;
        let text = if request.messages[0].content.contains("`answer`") {
            chat(&[("answer", "Paris")])
        } else {
            chat(&[("query", "capital of France")])
        };
        Ok(LmResponse {
            text,
            usage: Usage {
                input_tokens: 10,
                output_tokens: 2,
                cached_tokens: 1,
                cost_usd: 0.001,
            },
            ..Default::default()
        })
    }
}

/// A module that runs a nested program in a spawned task (ctx moved into the task).
struct SpawnsNested {
    inner: Arc<TwoStep>,
}

#[async_trait]
impl Module for SpawnsNested {
    fn named_predictors(&self) -> Vec<(String, &Predict)> {
        self.inner.named_predictors()
    }
    async fn forward(&self, ctx: &CallCtx<'_>, inputs: Example) -> Result<Prediction, ModuleError> {
        let (inner, ctx) = (self.inner.clone(), ctx.to_ctx());
        tokio::spawn(async move { inner.call(&ctx, inputs).await })
            .await
            .map_err(|e| ModuleError::Other(e.to_string()))?
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn spawned_concurrent_calls_leave_no_orphans() {
    let (collector, sink) = memory_collector();
    let program = Arc::new(SpawnsNested {
        inner: Arc::new(TwoStep::new()),
    });
    let ctx = Ctx::from_arc(Arc::new(SlowLm)).with_hook(collector.clone());
    let mut tasks = Vec::new();
    for i in 0..64 {
        let (program, ctx) = (program.clone(), ctx.clone());
        tasks.push(tokio::spawn(async move {
            program
                .call(
                    &ctx,
                    Example::new().input("question", format!("question {i} {}", "x".repeat(i))),
                )
                .await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    collector.flush();
    let spans = sink.spans();
    // Per call: SpawnsNested, TwoStep, 2 x (predict, format, lm, parse).
    assert_eq!(spans.len(), 64 * 10);
    let traces = assert_well_formed(&spans);
    assert_eq!(traces.len(), 64, "each call is its own trace");
    for spans in traces.values() {
        assert_eq!(spans.len(), 10);
        let root = root(spans);
        assert_eq!(root.name, "SpawnsNested");
        assert_eq!(root.attr_i64(keys::USAGE_INPUT_TOKENS), Some(20));
        assert_eq!(root.attr_i64(keys::USAGE_CACHED_TOKENS), Some(2));
    }
    assert_eq!(collector.stats().dropped, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_evaluate_nests_every_example_under_the_evaluate_span() {
    let (collector, sink) = memory_collector();
    let program = TwoStep::new();
    let ctx = Ctx::from_arc(Arc::new(SlowLm)).with_hook(collector.clone());
    let devset: Vec<Example> = (0..64)
        .map(|i| {
            Example::new()
                .input("question", format!("q{i} {}", "y".repeat(i)))
                .set("answer", "Paris")
        })
        .collect();
    let report = Evaluate::new(&devset)
        .metric(ExactMatch::new("answer"))
        .concurrency(64)
        .progress(false)
        .run(&program, &ctx)
        .await
        .unwrap();
    assert_eq!(report.mean, 1.0);
    collector.flush();
    let spans = sink.spans();
    assert_eq!(spans.len(), 1 + 64 * 9);
    let traces = assert_well_formed(&spans);
    assert_eq!(traces.len(), 1, "an evaluation is one trace");
    let eval = root(&spans);
    assert_eq!(eval.kind, SpanKind::Evaluate);
    assert_eq!(eval.attr_f64(keys::EVAL_SCORE), Some(1.0));
    assert_eq!(eval.attr_i64(keys::EVAL_EXAMPLES), Some(64));
    assert_eq!(eval.attr_str(keys::PROGRAM_NAME), Some("TwoStep"));
    let examples = children(&spans, eval);
    assert_eq!(examples.len(), 64);
    assert!(
        examples
            .iter()
            .all(|s| s.name == "TwoStep" && children(&spans, s).len() == 2)
    );
    assert_eq!(eval.attr_i64(keys::USAGE_LM_CALLS), Some(128));
    assert_eq!(eval.attr_i64(keys::USAGE_INPUT_TOKENS), Some(1280));
    assert!((eval.attr_f64(keys::USAGE_COST_USD).unwrap() - 0.128).abs() < 1e-9);
}

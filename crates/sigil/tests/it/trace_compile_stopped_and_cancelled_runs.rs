//! Compile runs that do not end normally still close their spans: a run stopped by
//! its budget ends OK and says why (the refused trial is an error span); a run whose
//! future is dropped ends its compile span as an error.

use std::time::Duration;

use async_trait::async_trait;
use optimize_common::*;
use sigil::lm::{Lm, LmError, LmRequest, LmResponse};
use sigil::optimize::{BootstrapFewShotWithRandomSearch, Budget, EngineConfig, Optimizer};
use sigil::prelude::*;
use sigil::trace::{SpanKind, SpanStatus, keys};

use crate::optimize_common;
use crate::trace_support;

#[tokio::test]
async fn a_budget_stop_ends_the_compile_span_with_the_reason() {
    let lm = task_lm(|req, _| n_demos(req) >= 1);
    let (collector, sink) = trace_support::memory_collector();
    let ctx = Ctx::from_arc(lm.clone()).with_hook(collector.clone());
    let c = BootstrapFewShotWithRandomSearch::new(metric())
        .num_candidates(2)
        .config(
            EngineConfig::new()
                .progress(false)
                .budget(Budget::unlimited().max_calls(25)),
        )
        .compile(&program(), &dataset(0..10), &dataset(100..110), &ctx)
        .await
        .unwrap();
    collector.flush();
    let spans = sink.spans();
    trace_support::assert_well_formed(&spans);
    let compile = spans.iter().find(|s| s.kind == SpanKind::Compile).unwrap();
    assert_eq!(compile.status, SpanStatus::Ok);
    assert_eq!(
        compile.attr_str(keys::COMPILE_STOPPED),
        Some("budget_exhausted")
    );
    assert_eq!(
        compile.attr_i64(keys::COMPILE_SPEND_LM_CALLS),
        Some(c.spend.lm_calls as i64)
    );
    assert!(c.spend.lm_calls <= 25);
    let trials: Vec<_> = spans.iter().filter(|s| s.kind == SpanKind::Trial).collect();
    assert_eq!(
        trials.len(),
        3,
        "zero-shot and labeled scored, the third refused"
    );
    assert!(trials[..2].iter().all(|t| t.status == SpanStatus::Ok));
    assert!(matches!(trials[2].status, SpanStatus::Error(_)));
    assert_eq!(
        trials[2].attr_str(keys::ERROR_TYPE),
        Some("budget_exhausted")
    );
    assert_eq!(trials[2].attr_f64(keys::TRIAL_SCORE), None);
    assert_eq!(compile.attr_i64(keys::COMPILE_TRIALS), Some(2));
}

/// An LM that never answers.
struct Silent;

#[async_trait]
impl Lm for Silent {
    fn model_id(&self) -> String {
        "test/silent".into()
    }
    async fn call(&self, _: LmRequest) -> Result<LmResponse, LmError> {
        std::future::pending().await
    }
}

#[tokio::test]
async fn a_dropped_run_ends_its_compile_and_trial_spans() {
    let (collector, sink) = trace_support::memory_collector();
    let ctx = Ctx::new(Silent).with_hook(collector.clone());
    let (train, val) = (dataset(0..4), dataset(100..104));
    let p = program();
    let search = BootstrapFewShotWithRandomSearch::new(metric())
        .num_candidates(1)
        .config(EngineConfig::new().progress(false));
    let run = search.compile(&p, &train, &val, &ctx);
    assert!(
        tokio::time::timeout(Duration::from_millis(100), run)
            .await
            .is_err(),
        "the silent LM never lets the run finish"
    );
    collector.flush();
    let spans = sink.spans();
    trace_support::assert_well_formed(&spans);
    let compile = spans.iter().find(|s| s.kind == SpanKind::Compile).unwrap();
    assert!(
        matches!(compile.status, SpanStatus::Error(_)),
        "{:?}",
        compile.status
    );
    assert_eq!(compile.attr_str(keys::ERROR_TYPE), Some("cancelled"));
    let trial = spans.iter().find(|s| s.kind == SpanKind::Trial).unwrap();
    assert_eq!(trial.status, SpanStatus::Cancelled);
}

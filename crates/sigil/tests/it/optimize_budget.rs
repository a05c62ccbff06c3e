//! The budget is never exceeded, is checked against a dry-run estimate before any
//! call, and a run that hits it returns the best candidate so far.

use optimize_common::*;
use sigil::optimize::{
    BootstrapFewShotWithRandomSearch, Budget, EngineConfig, OptimizeError, Optimizer, StopReason,
};
use sigil::prelude::*;

use crate::optimize_common;

fn search(budget: Budget) -> BootstrapFewShotWithRandomSearch {
    BootstrapFewShotWithRandomSearch::new(metric())
        .num_candidates(4)
        .max_bootstrapped_demos(2)
        .max_labeled_demos(2)
        .config(
            EngineConfig::new()
                .progress(false)
                .concurrency(4)
                .budget(budget),
        )
}

#[tokio::test]
async fn a_call_budget_is_never_exceeded_and_the_best_so_far_is_returned() {
    let lm = task_lm(|req, _| n_demos(req) >= 1);
    let ctx = Ctx::from_arc(lm.clone());
    let (train, val) = (dataset(0..10), dataset(100..110));
    let p = program();
    let c = search(Budget::unlimited().max_calls(25))
        .compile(&p, &train, &val, &ctx)
        .await
        .unwrap();
    assert_eq!(c.stopped, Some(StopReason::BudgetExhausted));
    assert!(lm.calls() <= 25, "{} calls", lm.calls());
    assert!(c.spend.lm_calls <= 25);
    assert_eq!(
        c.trials.len(),
        2,
        "zero-shot and labeled fit; the bootstrap does not finish"
    );
    assert_eq!(c.score, Some(1.0));
}

#[tokio::test]
async fn a_token_budget_is_never_exceeded() {
    let lm = task_lm(|req, _| n_demos(req) >= 1);
    let ctx = Ctx::from_arc(lm.clone());
    let p = program();
    let c = search(Budget::unlimited().max_tokens(4_000).output_reserve(16))
        .compile(&p, &dataset(0..10), &dataset(100..110), &ctx)
        .await
        .unwrap();
    let used: u64 = lm
        .requests()
        .iter()
        .map(|r| {
            r.messages
                .iter()
                .map(|m| m.content.split_whitespace().count() as u64)
                .sum::<u64>()
                + 1
        })
        .sum();
    assert!(
        c.spend.total_tokens() <= 4_000 && used <= 4_000,
        "{:?}",
        c.spend
    );
    assert_eq!(c.stopped, Some(StopReason::BudgetExhausted));
}

#[tokio::test]
async fn a_budget_too_small_for_the_baseline_fails_before_any_call() {
    let lm = task_lm(|_, _| true);
    let ctx = Ctx::from_arc(lm.clone());
    let p = program();
    let opt = search(Budget::unlimited().max_calls(5));
    let estimate = opt.estimate(&p, &dataset(0..10), &dataset(100..110), &ctx);
    assert_eq!(estimate.baseline.lm_calls, 10);
    assert!(
        estimate.total.lm_calls > 50 && estimate.total.input_tokens > 0,
        "{estimate}"
    );
    let e = opt
        .compile(&p, &dataset(0..10), &dataset(100..110), &ctx)
        .await
        .unwrap_err();
    assert!(matches!(e, OptimizeError::BudgetTooSmall { .. }), "{e}");
    assert_eq!(lm.calls(), 0);
}

#[tokio::test]
async fn with_the_engine_cache_repeated_requests_are_free_and_never_refused() {
    use std::sync::Arc;
    let lm = task_lm(|req, _| n_demos(req) >= 1);
    let ctx = Ctx::from_arc(lm.clone());
    let p = program();
    let cache = Arc::new(
        sigil::lm::ResponseCache::new(sigil::lm::CacheConfig::memory_only(10_000)).unwrap(),
    );
    let (train, val) = (dataset(0..10), dataset(100..110));
    let run = |budget: Budget| {
        BootstrapFewShotWithRandomSearch::new(metric())
            .num_candidates(2)
            .config(
                EngineConfig::new()
                    .progress(false)
                    .budget(budget)
                    .request_cache(cache.clone()),
            )
    };
    let first = run(Budget::unlimited())
        .compile(&p, &train, &val, &ctx)
        .await
        .unwrap();
    let calls = lm.calls();
    assert!(first.spend.lm_calls > 0);
    // A budget that only covers the baseline's estimate replays the whole run from the cache.
    assert!(first.spend.lm_calls > 20);
    let again = run(Budget::unlimited().max_calls(10))
        .compile(&p, &train, &val, &ctx)
        .await
        .unwrap();
    assert_eq!(lm.calls(), calls);
    assert_eq!(again.spend.lm_calls, 0);
    assert!(again.stopped.is_none());
    assert_eq!(again.overlay, first.overlay);
}

//! A run interrupted part-way and resumed from its checkpoint ends with the same
//! result as an uninterrupted run, replaying finished steps without LM calls.

use std::sync::Arc;

use optimize_common::*;
use sigil::optimize::{
    BootstrapFewShotWithRandomSearch, Budget, EngineConfig, Optimizer, RecordingObserver,
    StopReason,
};
use sigil::prelude::*;

use crate::optimize_common;

fn search(config: EngineConfig) -> BootstrapFewShotWithRandomSearch {
    BootstrapFewShotWithRandomSearch::new(metric())
        .num_candidates(4)
        .max_bootstrapped_demos(3)
        .max_labeled_demos(3)
        .config(config.progress(false).seed(5))
}

#[tokio::test]
async fn resumed_run_matches_uninterrupted_run() {
    // Right with demos, but only on multiples of 3 without them: candidates differ.
    let knows = |req: &sigil::lm::LmRequest, n: u64| {
        n_demos(req) >= 2 || (n_demos(req) == 1 && n.is_multiple_of(2)) || n.is_multiple_of(3)
    };
    let (train, val) = (dataset(0..12), dataset(100..115));
    let p = program();
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("rs.ckpt");

    let full_lm = task_lm(knows);
    let full = search(EngineConfig::new())
        .compile(&p, &train, &val, &Ctx::from_arc(full_lm.clone()))
        .await
        .unwrap();
    assert!(full.stopped.is_none());

    // Interrupted: the budget runs out part-way.
    let lm1 = task_lm(knows);
    let cut = search(
        EngineConfig::new()
            .checkpoint(&ckpt)
            .budget(Budget::unlimited().max_calls(40)),
    )
    .compile(&p, &train, &val, &Ctx::from_arc(lm1.clone()))
    .await
    .unwrap();
    assert_eq!(cut.stopped, Some(StopReason::BudgetExhausted));
    assert!(cut.trials.len() < full.trials.len());

    // Resumed.
    let lm2 = task_lm(knows);
    let obs = Arc::new(RecordingObserver::new());
    let resumed = search(
        EngineConfig::new()
            .checkpoint(&ckpt)
            .resume(true)
            .observer(obs.clone()),
    )
    .compile(&p, &train, &val, &Ctx::from_arc(lm2.clone()))
    .await
    .unwrap();
    assert_eq!(resumed.overlay, full.overlay);
    assert_eq!(resumed.score, full.score);
    let scores = |c: &sigil::optimize::Compiled| {
        c.trials
            .iter()
            .map(|t| (t.trial, t.score, t.candidate.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(scores(&resumed), scores(&full));
    assert!(obs.starts()[0].resumed_steps > 0);
    let replayed = obs.trials().iter().filter(|t| t.replayed).count();
    assert_eq!(replayed, cut.trials.len());
    // Finished steps are not run again: only the step cut short is redone.
    assert!(
        lm2.calls() < full_lm.calls(),
        "{} vs {}",
        lm2.calls(),
        full_lm.calls()
    );
    assert!(lm1.calls() + lm2.calls() - full_lm.calls() <= 40);
}

#[tokio::test]
async fn a_checkpoint_from_another_run_is_refused() {
    let (train, val) = (dataset(0..6), dataset(100..104));
    let p = program();
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("rs.ckpt");
    let lm = task_lm(|_, _| true);
    search(EngineConfig::new().checkpoint(&ckpt))
        .compile(&p, &train, &val, &Ctx::from_arc(lm.clone()))
        .await
        .unwrap();
    let other = BootstrapFewShotWithRandomSearch::new(metric())
        .num_candidates(1)
        .config(
            EngineConfig::new()
                .checkpoint(&ckpt)
                .resume(true)
                .progress(false),
        );
    let e = other
        .compile(&p, &train, &val, &Ctx::from_arc(lm))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("different run"), "{e}");
}

#[tokio::test]
async fn a_resumed_run_counts_what_the_interrupted_one_spent() {
    let (train, val) = (dataset(0..12), dataset(100..115));
    let p = program();
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("rs.ckpt");
    let budget = Budget::unlimited().max_calls(40);
    let lm1 = task_lm(|req, _| n_demos(req) >= 1);
    let cut = search(EngineConfig::new().checkpoint(&ckpt).budget(budget.clone()))
        .compile(&p, &train, &val, &Ctx::from_arc(lm1.clone()))
        .await
        .unwrap();
    assert_eq!(cut.stopped, Some(StopReason::BudgetExhausted));
    assert_eq!(cut.spend.lm_calls as usize, lm1.calls());
    // The same budget again: nothing is left, so no call is made.
    let lm2 = task_lm(|req, _| n_demos(req) >= 1);
    let again = search(
        EngineConfig::new()
            .checkpoint(&ckpt)
            .resume(true)
            .budget(budget),
    )
    .compile(&p, &train, &val, &Ctx::from_arc(lm2.clone()))
    .await
    .unwrap();
    assert_eq!(again.stopped, Some(StopReason::BudgetExhausted));
    assert_eq!(lm2.calls(), 0);
    assert_eq!(again.spend.lm_calls, cut.spend.lm_calls);
    assert_eq!(again.trials.len(), cut.trials.len());
}

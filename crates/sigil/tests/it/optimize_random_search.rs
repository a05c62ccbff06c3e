//! Random search scores DSPy's candidate families on the valset, keeps the best, and
//! stops early at a target score; every trial is observed.

use std::sync::Arc;

use optimize_common::*;
use sigil::optimize::{
    BootstrapFewShotWithRandomSearch, EngineConfig, Optimizer, RecordingObserver, StopReason,
    TrialKind,
};
use sigil::prelude::*;

use crate::optimize_common;

#[tokio::test]
async fn best_candidate_wins_and_every_trial_is_observed() {
    // Right only with at least 2 demos in the prompt.
    let lm = task_lm(|req, _| n_demos(req) >= 2);
    let ctx = Ctx::from_arc(lm.clone());
    let (train, val) = (dataset(0..12), dataset(100..110));
    let p = program();
    let obs = Arc::new(RecordingObserver::new());
    let rs = BootstrapFewShotWithRandomSearch::new(metric())
        .num_candidates(3)
        .max_bootstrapped_demos(2)
        .max_labeled_demos(2)
        .config(
            EngineConfig::new()
                .progress(false)
                .seed(1)
                .observer(obs.clone()),
        );
    let c = rs.compile(&p, &train, &val, &ctx).await.unwrap();
    assert_eq!(c.baseline_score, Some(0.0), "zero-shot scores 0");
    assert_eq!(c.score, Some(1.0));
    assert_eq!(c.overlay.get("").unwrap().demos.as_ref().unwrap().len(), 2);
    let trials = obs.trials();
    assert_eq!(
        trials.len(),
        6,
        "zero-shot, labeled, unshuffled and 3 shuffled"
    );
    assert_eq!(trials[0].candidate.label, "zero-shot");
    assert_eq!(trials[1].candidate.label, "labeled");
    assert!(
        trials
            .iter()
            .all(|t| t.kind == TrialKind::Full && t.n_examples == 10)
    );
    assert!(
        trials
            .iter()
            .enumerate()
            .all(|(i, t)| t.trial == i + 1 && !t.replayed)
    );
    assert!(trials[1].candidate.predictors[""].demo_ids.len() == 2);
    assert!(
        trials
            .iter()
            .all(|t| t.usage.input_tokens > 0 && t.lm_calls == 10)
    );
    assert_eq!(trials.last().unwrap().best_score, Some(1.0));
    assert_eq!(obs.ends().len(), 1);
    assert_eq!(obs.starts()[0].estimate.baseline.lm_calls, 10);
}

#[tokio::test]
async fn stops_at_the_target_score() {
    let lm = task_lm(|req, _| n_demos(req) >= 1);
    let ctx = Ctx::from_arc(lm.clone());
    let p = program();
    let rs = BootstrapFewShotWithRandomSearch::new(metric())
        .num_candidates(5)
        .stop_at_score(1.0)
        .config(EngineConfig::new().progress(false));
    let c = rs
        .compile(&p, &dataset(0..8), &dataset(50..55), &ctx)
        .await
        .unwrap();
    assert_eq!(c.trials.len(), 2, "stops after the labeled candidate");
    assert_eq!(c.stopped, Some(StopReason::TargetReached));
    assert_eq!(c.score, Some(1.0));
}

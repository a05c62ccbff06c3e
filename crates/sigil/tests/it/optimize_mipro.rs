//! MIPROv2 finds the (instruction, demo set) pair the task needs, grounding its
//! proposals in a dataset summary, a program description, demos and tips; it is
//! deterministic for a seed and resumes to the same result.

use std::sync::Arc;

use optimize_common::*;
use sigil::optimize::{
    Auto, Budget, EngineConfig, MiproV2, OptimizeError, Optimizer, RecordingObserver, StopReason,
    TrialKind,
};
use sigil::prelude::*;

use crate::optimize_common;

/// Right only with at least one demo and, beyond the trainset's numbers, the magic
/// word in the instructions (so bootstrapping works but the valset needs the word).
fn knows(req: &sigil::lm::LmRequest, n: u64) -> bool {
    n_demos(req) >= 1 && (n < 30 || system(req).contains("MAGIC"))
}

fn mipro(config: EngineConfig) -> MiproV2 {
    MiproV2::new(metric())
        .auto(None)
        .num_candidates(6)
        .num_trials(20)
        .minibatch_size(10)
        .config(config.progress(false).seed(3))
}

#[tokio::test]
async fn finds_the_magic_instruction_with_demos() {
    let lm = task_and_prompt_lm(knows);
    let ctx = Ctx::from_arc(lm.clone());
    let (train, val) = (dataset(0..30), dataset(100..130));
    let p = program();
    let obs = Arc::new(RecordingObserver::new());
    let c = mipro(EngineConfig::new().observer(obs.clone()))
        .compile(&p, &train, &val, &ctx)
        .await
        .unwrap();
    assert_eq!(c.baseline_score, Some(0.0));
    assert_eq!(
        c.score,
        Some(1.0),
        "{:#?}",
        c.trials
            .iter()
            .map(|t| (&t.candidate.label, t.score))
            .collect::<Vec<_>>()
    );
    let state = c.overlay.get("").unwrap();
    assert!(state.instructions.as_ref().unwrap().contains("MAGIC"));
    assert!(!state.demos.as_ref().unwrap().is_empty());

    // Minibatches of 10, a full evaluation after every 5 minibatch trials.
    let trials = obs.trials();
    assert_eq!(trials[0].kind, TrialKind::Full, "the default program first");
    let mb = trials
        .iter()
        .filter(|t| t.kind == TrialKind::Minibatch)
        .count();
    assert_eq!(mb, 20);
    assert!(
        trials
            .iter()
            .filter(|t| t.kind == TrialKind::Minibatch)
            .all(|t| t.n_examples == 10)
    );
    let full = trials.iter().filter(|t| t.kind == TrialKind::Full).count();
    assert!((2..=5).contains(&full), "{full} full evaluations");
    let chosen = &trials[1].candidate.predictors[""];
    assert!(chosen.instruction_index.is_some() && chosen.demo_set.is_some());

    // The proposer was grounded: a dataset summary, a program description, demos and tips.
    let requests = lm.requests();
    let asked = |field: &str| {
        requests
            .iter()
            .filter(|r| outputs_of(r).first().map(String::as_str) == Some(field))
            .count()
    };
    assert!(asked("observations") >= 1 && asked("summary") == 1);
    assert_eq!(asked("program_description"), 1);
    assert_eq!(asked("module_description"), 1);
    assert_eq!(
        asked("proposed_instruction"),
        5,
        "6 candidates, the first being the original"
    );
    let proposals: Vec<_> = requests
        .iter()
        .filter(|r| outputs_of(r).first().map(String::as_str) == Some("proposed_instruction"))
        .collect();
    assert!(
        proposals
            .iter()
            .all(|r| field_of(r, "dataset_description").contains("Some notes"))
    );
    assert!(
        proposals
            .iter()
            .any(|r| field_of(r, "task_demos").contains("Question:"))
    );
    assert!(
        proposals
            .iter()
            .all(|r| r.params.temperature == Some(1.0) && r.rollout_id.is_some())
    );
}

#[tokio::test]
async fn same_seed_gives_a_byte_identical_result_and_resume_matches() {
    let (train, val) = (dataset(0..30), dataset(100..130));
    let p = program();
    let run = |config: EngineConfig| {
        let (train, val, p) = (train.clone(), val.clone(), p.clone());
        async move {
            let lm = task_and_prompt_lm(knows);
            let c = mipro(config)
                .compile(&p, &train, &val, &Ctx::from_arc(lm.clone()))
                .await;
            (c, lm.calls())
        }
    };
    let (a, calls) = run(EngineConfig::new()).await;
    let (b, _) = run(EngineConfig::new()).await;
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );

    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("mipro.ckpt");
    let (cut, _) = run(EngineConfig::new()
        .checkpoint(&ckpt)
        .budget(Budget::unlimited().max_calls(calls as u64 * 2 / 3)))
    .await;
    let cut = cut.unwrap();
    assert_eq!(cut.stopped, Some(StopReason::BudgetExhausted));
    let (resumed, resumed_calls) = run(EngineConfig::new().checkpoint(&ckpt).resume(true)).await;
    let resumed = resumed.unwrap();
    assert!(resumed_calls < calls);
    assert_eq!(resumed.overlay, a.overlay);
    assert_eq!(resumed.score, a.score);
    let scores = |c: &sigil::optimize::Compiled| {
        c.trials
            .iter()
            .map(|t| (t.score, t.candidate.clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(scores(&resumed), scores(&a));
}

#[tokio::test]
async fn auto_settings_follow_dspy() {
    let lm = task_and_prompt_lm(knows);
    let ctx = Ctx::from_arc(lm.clone());
    let p = program();
    let (train, val) = (dataset(0..20), dataset(100..160));
    let light = MiproV2::new(metric()).config(EngineConfig::new().progress(false));
    let est = light.estimate(&p, &train, &val, &ctx);
    // light: 6 candidates -> 10 trials for one predictor with demos; valset 60 > 50 -> minibatches.
    assert!(est.breakdown[0].starts_with("10 trials, 3 instruction and 6 demo-set candidates per predictor, valset 60, minibatch true"), "{est}");
    let heavy = MiproV2::new(metric())
        .auto(Some(Auto::Heavy))
        .config(EngineConfig::new().progress(false));
    let est = heavy.estimate(&p, &train, &val, &ctx);
    assert!(
        est.breakdown[0].starts_with("27 trials, 9 instruction and 18 demo-set candidates"),
        "{est}"
    );
    let e = MiproV2::new(metric())
        .num_trials(5)
        .compile(&p, &train, &val, &ctx)
        .await
        .unwrap_err();
    assert!(matches!(e, OptimizeError::Config(_)), "{e}");
    let e = MiproV2::new(metric())
        .auto(None)
        .num_candidates(4)
        .compile(&p, &train, &val, &ctx)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("set num_trials too"), "{e}");
    assert_eq!(lm.calls(), 0);
}

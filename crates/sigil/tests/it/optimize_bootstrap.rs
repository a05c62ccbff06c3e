//! BootstrapFewShot keeps only traces that pass the metric, respects its demo limits,
//! samples afresh in later rounds, and can use another LM as the teacher.

use std::sync::Arc;

use optimize_common::*;
use sigil::lm::Lm;
use sigil::optimize::{BootstrapFewShot, EngineConfig, Optimizer};
use sigil::prelude::*;

use crate::optimize_common;

fn config() -> EngineConfig {
    EngineConfig::new().progress(false).concurrency(4)
}

#[tokio::test]
async fn only_passing_traces_become_demos_then_labeled_ones_fill_up() {
    // The teacher (with labeled demos) is right only on even numbers.
    let lm = task_lm(|req, n| n_demos(req) > 0 && n.is_multiple_of(2));
    let ctx = Ctx::from_arc(lm.clone());
    let train = dataset(0..20);
    let p = program();
    let bfs = BootstrapFewShot::new(metric())
        .max_bootstrapped_demos(3)
        .max_labeled_demos(5)
        .config(config());
    let compiled = bfs.compile(&p, &train, &[], &ctx).await.unwrap();
    let demos = compiled.overlay.get("").unwrap().demos.clone().unwrap();
    assert_eq!(demos.len(), 5);
    // The first three are traces of even examples 0, 2, 4 (in trainset order).
    for (d, n) in demos[..3].iter().zip([0, 2, 4]) {
        assert_eq!(
            d.get_str("question").unwrap(),
            format!("what is the code for {n}?")
        );
        assert_eq!(d.get_str("answer").unwrap(), format!("c{n}"));
    }
    // The rest are labeled examples that were not bootstrapped.
    for d in &demos[3..] {
        assert!(train.contains(d));
        assert!(!demos[..3].contains(d));
    }
    // Bootstrapping stopped once 3 traces passed: examples 0..=4 at most ran (in batches of <= 3).
    assert!(lm.calls() <= 6, "{} calls", lm.calls());
    // The teacher never saw the example it was bootstrapping among its demos.
    for req in lm.requests() {
        let q = field_of(&req, "question");
        let demo_turns: Vec<_> = req.messages[1..req.messages.len() - 1]
            .iter()
            .map(|m| m.content.clone())
            .collect();
        assert!(
            !demo_turns
                .iter()
                .any(|t| t.contains(&format!("[[ ## question ## ]]\n{q}\n"))),
            "{q}"
        );
    }
}

#[tokio::test]
async fn metric_threshold_filters_traces() {
    let lm = task_lm(|_, _| true);
    let ctx = Ctx::from_arc(lm.clone());
    let train = dataset(0..6);
    let p = program();
    let strict = BootstrapFewShot::new(metric())
        .metric_threshold(1.5)
        .max_labeled_demos(0)
        .config(config());
    let compiled = strict.compile(&p, &train, &[], &ctx).await.unwrap();
    assert_eq!(
        compiled
            .overlay
            .get("")
            .unwrap()
            .demos
            .as_ref()
            .unwrap()
            .len(),
        0,
        "no score reaches 1.5"
    );
    let lenient = BootstrapFewShot::new(metric())
        .metric_threshold(1.0)
        .max_labeled_demos(0)
        .config(config());
    let compiled = lenient.compile(&p, &train, &[], &ctx).await.unwrap();
    assert_eq!(
        compiled
            .overlay
            .get("")
            .unwrap()
            .demos
            .as_ref()
            .unwrap()
            .len(),
        4
    );
}

#[tokio::test]
async fn later_rounds_use_a_fresh_rollout_at_higher_temperature() {
    // Right only when sampled afresh at temperature 1.0 (a later round).
    let lm = task_lm(|req, _| req.rollout_id.is_some() && req.params.temperature == Some(1.0));
    let ctx = Ctx::from_arc(lm.clone());
    let train = dataset(0..4);
    let p = program();
    let one_round = BootstrapFewShot::new(metric())
        .max_labeled_demos(0)
        .config(config());
    let c = one_round.compile(&p, &train, &[], &ctx).await.unwrap();
    assert!(
        c.overlay
            .get("")
            .unwrap()
            .demos
            .as_ref()
            .unwrap()
            .is_empty()
    );
    let two_rounds = BootstrapFewShot::new(metric())
        .max_labeled_demos(0)
        .max_rounds(2)
        .config(config());
    let c = two_rounds.compile(&p, &train, &[], &ctx).await.unwrap();
    assert_eq!(c.overlay.get("").unwrap().demos.as_ref().unwrap().len(), 4);
    assert!(lm.requests().iter().any(|r| r.rollout_id == Some(1)));
}

#[tokio::test]
async fn another_lm_can_teach() {
    let student = task_lm(|_, _| false);
    let teacher = task_lm(|_, _| true);
    let ctx = Ctx::from_arc(student.clone());
    let train = dataset(0..6);
    let p = program();
    let bfs = BootstrapFewShot::new(metric())
        .max_labeled_demos(0)
        .teacher_lm(teacher.clone() as Arc<dyn Lm>)
        .config(config());
    let c = bfs.compile(&p, &train, &[], &ctx).await.unwrap();
    assert_eq!(c.overlay.get("").unwrap().demos.as_ref().unwrap().len(), 4);
    assert_eq!(student.calls(), 0);
    assert_eq!(teacher.calls(), 4);
    assert_eq!(
        c.spend.lm_calls, 4,
        "teacher calls count against the budget"
    );
}

#[tokio::test]
async fn a_teacher_lm_can_be_set_per_predictor_path() {
    let student = task_lm(|_, _| false);
    let teacher = task_lm(|_, _| true);
    let ctx = Ctx::from_arc(student.clone());
    let p = program();
    let bfs = BootstrapFewShot::new(metric())
        .max_labeled_demos(0)
        .max_bootstrapped_demos(2)
        .teacher_lm_for("", teacher.clone() as Arc<dyn Lm>)
        .config(config());
    let c = bfs.compile(&p, &dataset(0..6), &[], &ctx).await.unwrap();
    assert_eq!(c.overlay.get("").unwrap().demos.as_ref().unwrap().len(), 2);
    assert_eq!((student.calls(), teacher.calls()), (0, 2));
}

//! LabeledFewShot gives every predictor k training examples, seeded, without LM calls.

use optimize_common::*;
use sigil::optimize::{LabeledFewShot, OptimizeError, Optimizer};
use sigil::prelude::*;

use crate::optimize_common;

#[tokio::test]
async fn k_seeded_training_demos_and_no_lm_call() {
    let lm = task_lm(|_, _| true);
    let ctx = Ctx::from_arc(lm.clone());
    let train = dataset(0..20);
    let p = program();
    let a = LabeledFewShot::new(5)
        .seed(3)
        .compile(&p, &train, &[], &ctx)
        .await
        .unwrap();
    let b = LabeledFewShot::new(5)
        .seed(3)
        .compile(&p, &train, &[], &ctx)
        .await
        .unwrap();
    assert_eq!(a, b, "same seed, same demos");
    let demos = a.overlay.get("").unwrap().demos.clone().unwrap();
    assert_eq!(demos.len(), 5);
    assert!(demos.iter().all(|d| train.contains(d)));
    let firsts = LabeledFewShot::new(3)
        .sample(false)
        .compile(&p, &train, &[], &ctx)
        .await
        .unwrap();
    assert_eq!(
        firsts.overlay.get("").unwrap().demos.as_deref(),
        Some(&train[..3])
    );
    let all = LabeledFewShot::new(50)
        .compile(&p, &train, &[], &ctx)
        .await
        .unwrap();
    assert_eq!(
        all.overlay.get("").unwrap().demos.as_ref().unwrap().len(),
        20
    );
    assert_eq!(lm.calls(), 0);
}

#[tokio::test]
async fn empty_trainset_and_overlap_are_errors() {
    let ctx = Ctx::from_arc(task_lm(|_, _| true));
    let p = program();
    let e = LabeledFewShot::new(2)
        .compile(&p, &[], &[], &ctx)
        .await
        .unwrap_err();
    assert!(matches!(e, OptimizeError::EmptyTrainset));
    let e = LabeledFewShot::new(2)
        .compile(&p, &dataset(0..5), &dataset(4..8), &ctx)
        .await
        .unwrap_err();
    assert!(matches!(e, OptimizeError::Overlap { count: 1, .. }), "{e}");
}

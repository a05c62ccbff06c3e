//! The final report scores baseline and compiled program on a held-out test set with
//! 95% CIs and a paired bootstrap CI of the difference; the test set may not overlap.

use optimize_common::*;
use sigil::optimize::{
    BootstrapFewShotWithRandomSearch, EngineConfig, OptimizeError, Optimizer, held_out_report,
};
use sigil::prelude::*;

use crate::optimize_common;

#[tokio::test]
async fn baseline_and_compiled_with_paired_ci() {
    let lm = task_lm(|req, n| n_demos(req) > 0 || n.is_multiple_of(4));
    let ctx = Ctx::from_arc(lm.clone());
    let p = program();
    let (train, val, test) = (dataset(0..8), dataset(100..110), dataset(200..240));
    let c = BootstrapFewShotWithRandomSearch::new(metric())
        .num_candidates(2)
        .config(EngineConfig::new().progress(false))
        .compile(&p, &train, &val, &ctx)
        .await
        .unwrap();
    let r = held_out_report(&p, &ctx, &c, &test, metric())
        .await
        .unwrap();
    assert!((r.baseline.mean - 0.25).abs() < 1e-9);
    assert!((r.compiled.mean - 1.0).abs() < 1e-9);
    assert!(r.baseline.ci95.0 < 0.25 && r.baseline.ci95.1 > 0.25);
    assert!((r.difference.diff - 0.75).abs() < 1e-9);
    assert!(r.difference.ci95.0 > 0.5 && r.significant_gain());
    assert!(r.to_string().contains("+75.00 points"), "{r}");

    let e = held_out_report(&p, &ctx, &c, &dataset(105..120), metric())
        .await
        .unwrap_err();
    assert!(matches!(e, OptimizeError::Overlap { count: 5, .. }), "{e}");
}

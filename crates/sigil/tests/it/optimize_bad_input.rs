//! Bad input is a clear error before any LM spend; a failing or NaN metric is a
//! recorded failure that does not abort the run.

use optimize_common::*;
use sigil::evaluate::metric_fn;
use sigil::optimize::{BootstrapFewShotWithRandomSearch, EngineConfig, OptimizeError, Optimizer};
use sigil::prelude::*;

use crate::optimize_common;

fn search() -> BootstrapFewShotWithRandomSearch {
    BootstrapFewShotWithRandomSearch::new(metric())
        .num_candidates(1)
        .config(EngineConfig::new().progress(false))
}

#[tokio::test]
async fn bad_data_fails_before_any_call() {
    let lm = task_lm(|_, _| true);
    let ctx = Ctx::from_arc(lm.clone());
    let p = program();
    let e = search()
        .compile(&p, &[], &dataset(0..3), &ctx)
        .await
        .unwrap_err();
    assert!(matches!(e, OptimizeError::EmptyTrainset), "{e}");
    let e = search()
        .compile(&p, &dataset(0..3), &[], &ctx)
        .await
        .unwrap_err();
    assert!(matches!(e, OptimizeError::EmptyValset), "{e}");
    let e = search()
        .compile(&p, &dataset(0..5), &dataset(3..8), &ctx)
        .await
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("2 example(s) are in both the trainset and the valset"),
        "{e}"
    );
    let mut val = dataset(10..13);
    val.push(
        Example::new()
            .input("question", "what is the code for 99?")
            .set("label", "c99"),
    );
    let e = search()
        .compile(&p, &dataset(0..3), &val, &ctx)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            OptimizeError::BadExample {
                set: "valset",
                index: 3,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("no label `answer`"), "{e}");
    assert_eq!(lm.calls(), 0);
}

#[tokio::test]
async fn a_nan_metric_is_recorded_not_fatal() {
    let lm = task_lm(|req, _| n_demos(req) > 0);
    let ctx = Ctx::from_arc(lm.clone());
    let p = program();
    // NaN on odd numbers, exact match otherwise.
    let m = metric_fn("em_or_nan", |ex: &Example, pred: &Prediction| {
        let q = ex.get_str("question").unwrap_or_default();
        let odd = q
            .trim_end_matches('?')
            .rsplit(' ')
            .next()
            .and_then(|n| n.parse::<u64>().ok())
            .is_some_and(|n| !n.is_multiple_of(2));
        if odd {
            f64::NAN
        } else {
            f64::from(u8::from(ex.get_str("answer") == pred.get_str("answer")))
        }
    });
    let rs = BootstrapFewShotWithRandomSearch::new(m)
        .num_candidates(1)
        .config(EngineConfig::new().progress(false));
    let c = rs
        .compile(&p, &dataset(0..6), &dataset(10..20), &ctx)
        .await
        .unwrap();
    assert_eq!(c.trials.len(), 4);
    assert!(c.trials.iter().all(|t| t.n_examples == 10));
    assert_eq!(
        c.trials[1].errors, 5,
        "the odd examples' NaN scores are failures"
    );
    assert_eq!(c.score, Some(0.5));
}

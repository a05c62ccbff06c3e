//! Evaluate's reports: comparing two programs, configuration errors, the JSON round
//! trip, and a Predict program end to end. (The runner's other tests are in
//! `runner_tests.rs`, whose helpers these share.)

use serde_json::json;

use super::runner_tests::{FnModule, answer, ctx, devset, failing_on, half_right, qnum};
use super::*;
use crate::data::Example;
use crate::module::{Ctx, Predict};
use crate::testing::{ScriptedLm, chat};

#[tokio::test]
async fn compare_two_programs() {
    let data = devset(200);
    let always =
        FnModule(|inputs: Example| async move { Ok(answer(format!("a{}", qnum(&inputs)))) });
    let eval = Evaluate::new(&data)
        .metric(ExactMatch::new("answer"))
        .progress(false);
    let cmp = eval.compare(&always, &half_right(), &ctx()).await.unwrap();
    assert_eq!((cmp.a.mean, cmp.b.mean), (1.0, 0.5));
    assert_eq!(cmp.paired.diff, 0.5);
    assert!(cmp.paired.ci95.0 > 0.3 && cmp.paired.ci95.1 < 0.7);
    assert_eq!(cmp.paired.prob_positive, 1.0);
    let rev = paired_bootstrap(&cmp.b, &cmp.a, 1000, 0).unwrap();
    assert_eq!((rev.diff, rev.prob_positive), (-0.5, 0.0));

    let other = devset(201);
    let c = Evaluate::new(&other)
        .metric(ExactMatch::new("answer"))
        .progress(false)
        .run(&always, &ctx())
        .await
        .unwrap();
    assert!(matches!(
        paired_bootstrap(&cmp.a, &c, 100, 0),
        Err(EvalError::ExampleMismatch { .. })
    ));
    let mut shifted = data.clone();
    shifted[7] = Example::new()
        .input("question", "q7")
        .set("answer", "other");
    let d = Evaluate::new(&shifted)
        .metric(ExactMatch::new("answer"))
        .progress(false)
        .run(&always, &ctx())
        .await
        .unwrap();
    let err = paired_bootstrap(&cmp.a, &d, 100, 0).unwrap_err();
    assert!(err.to_string().contains("example 7"), "{err}");
}

#[tokio::test]
async fn configuration_errors() {
    let data = devset(3);
    let err = Evaluate::new(&data)
        .progress(false)
        .run(&half_right(), &ctx())
        .await
        .unwrap_err();
    assert!(matches!(err, EvalError::NoMetric));
    let empty: Vec<Example> = Vec::new();
    let err = Evaluate::new(&empty)
        .metric(F1::new("answer"))
        .run(&half_right(), &ctx())
        .await
        .unwrap_err();
    assert!(matches!(err, EvalError::EmptyDataset));
    let err = Evaluate::new(&data)
        .metric(F1::new("answer"))
        .failure_score(f64::NAN)
        .run(&half_right(), &ctx())
        .await
        .unwrap_err();
    assert!(matches!(err, EvalError::Invalid(_)));
}

#[tokio::test]
async fn report_round_trips_through_json() {
    let data = vec![
        Example::new()
            .input("question", "q0")
            .set("answer", json!(["a0", "zero"])),
        Example::new().input("question", "q1").set("answer", "a1"),
    ];
    let report = Evaluate::new(&data)
        .metric(Contains::new("answer"))
        .progress(false)
        .run(&failing_on(&[1]), &ctx())
        .await
        .unwrap();
    assert_eq!(report.results[0].score, 1.0);
    let text = serde_json::to_string(&report).unwrap();
    let back: EvalReport = serde_json::from_str(&text).unwrap();
    assert_eq!(back, report);
}

#[test]
fn run_future_is_send() {
    fn assert_send<T: Send>(_: &T) {}
    let data = devset(1);
    let eval = Evaluate::new(&data).metric(ExactMatch::new("answer"));
    let program = half_right();
    let ctx = ctx();
    let fut = eval.run(&program, &ctx);
    assert_send(&fut);
}

#[tokio::test]
async fn predict_program_end_to_end() {
    // The real Predict + ChatAdapter path over a scripted LM: even questions are
    // answered in the ChatAdapter format, odd ones with text that no adapter parses.
    let lm = ScriptedLm::from_fn(|req| {
        let user = req
            .messages
            .last()
            .map(|m| m.content.clone())
            .unwrap_or_default();
        let i: usize = user
            .split(|c: char| !c.is_ascii_alphanumeric())
            .find_map(|w| w.strip_prefix('q').and_then(|n| n.parse().ok()))
            .unwrap_or(usize::MAX);
        Ok(if i & 1 == 0 {
            chat(&[("answer", &format!("A{i}"))])
        } else {
            format!("no idea about {i}")
        })
    });
    let ctx = Ctx::new(lm);
    let program = Predict::parse("question -> answer").unwrap();
    let data = devset(6);
    let report = Evaluate::new(&data)
        .metric(ExactMatch::new("answer"))
        .max_errors(None)
        .progress(false)
        .run(&program, &ctx)
        .await
        .unwrap();
    assert_eq!(report.scores(), vec![1.0, 0.0, 1.0, 0.0, 1.0, 0.0]);
    assert_eq!(report.errors, 3);
    let failed = report.results[1].error.as_ref().unwrap();
    assert_eq!(failed.stage, FailureStage::Program);
    assert!(
        failed
            .raw_completion
            .as_deref()
            .is_some_and(|r| r.contains("no idea about 1")),
        "{failed:?}"
    );
    assert_eq!(report.results[0].lm_calls, 1);
    assert!(report.results[0].usage.input_tokens > 0);
}

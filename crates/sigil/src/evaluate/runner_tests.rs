//! Tests of the evaluation runner, with closure-backed modules (no adapter involved).

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use super::*;
use crate::adapter::{ParseError, ParseFailure};
use crate::data::{Dataset, Example, Prediction};
use crate::lm::Usage;
use crate::module::{CallCtx, Ctx, Module, ModuleError, Predict};
use crate::testing::ScriptedLm;

/// A module whose forward is an async closure of the inputs.
pub(super) struct FnModule<F>(pub(super) F);

#[async_trait]
impl<F, Fut> Module for FnModule<F>
where
    F: Fn(Example) -> Fut + Send + Sync,
    Fut: Future<Output = Result<Prediction, ModuleError>> + Send,
{
    async fn forward(
        &self,
        _ctx: &CallCtx<'_>,
        inputs: Example,
    ) -> Result<Prediction, ModuleError> {
        (self.0)(inputs).await
    }
    fn named_predictors(&self) -> Vec<(String, &Predict)> {
        Vec::new()
    }
}

pub(super) fn ctx() -> Ctx {
    Ctx::new(ScriptedLm::from_fn(|_| Ok(String::new())))
}

pub(super) fn devset(n: usize) -> Vec<Example> {
    (0..n)
        .map(|i| {
            Example::new()
                .input("question", format!("q{i}"))
                .set("answer", format!("a{i}"))
        })
        .collect()
}

pub(super) fn qnum(inputs: &Example) -> usize {
    inputs
        .get_str("question")
        .and_then(|q| q.trim_start_matches('q').parse().ok())
        .unwrap_or(usize::MAX)
}

pub(super) fn answer(text: impl Into<String>) -> Prediction {
    let mut p = Prediction::default();
    p.insert("answer", text.into());
    p.lm_calls = 1;
    p.usage = Usage {
        input_tokens: 10,
        output_tokens: 2,
        cached_tokens: 0,
        cost_usd: 0.001,
    };
    p
}

/// Answers `a{i}` (upper-cased, to exercise normalisation) for even `i`, wrong otherwise.
pub(super) fn half_right() -> impl Module {
    FnModule(|inputs: Example| async move {
        let i = qnum(&inputs);
        if inputs.get("answer").is_some() {
            return Err(ModuleError::Other("labels leaked into inputs".into()));
        }
        Ok(answer(if i & 1 == 0 {
            format!("A{i}.")
        } else {
            "wrong".into()
        }))
    })
}

#[tokio::test]
async fn scores_in_order_with_totals() {
    let data = devset(10);
    let report = Evaluate::new(&data)
        .metric(ExactMatch::new("answer"))
        .concurrency(4)
        .progress(false)
        .run(&half_right(), &ctx())
        .await
        .unwrap();
    assert_eq!(report.len(), 10);
    assert_eq!(report.mean, 0.5);
    assert_eq!(report.errors, 0);
    assert_eq!(report.metric, "exact_match");
    for (i, r) in report.results.iter().enumerate() {
        assert_eq!(r.index, i);
        assert_eq!(r.example, data[i]);
        assert_eq!(r.score, if i & 1 == 0 { 1.0 } else { 0.0 });
        assert!(r.prediction.is_some());
    }
    assert_eq!(report.lm_calls, 10);
    assert_eq!(report.usage.input_tokens, 100);
    assert_eq!(report.usage.output_tokens, 20);
    assert!((report.usage.cost_usd - 0.01).abs() < 1e-12);
    let (lo, hi) = report.ci95;
    assert!(lo <= 0.5 && 0.5 <= hi && lo < hi);
    let text = report.to_string();
    assert!(text.starts_with("exact_match: 50.00%"), "{text}");
}

#[tokio::test]
async fn deterministic_ci_and_dataset_input() {
    let data = Dataset::from(devset(30));
    let eval = Evaluate::new(&data)
        .metric(ExactMatch::new("answer"))
        .progress(false)
        .seed(42);
    let a = eval.run(&half_right(), &ctx()).await.unwrap();
    let b = eval.run(&half_right(), &ctx()).await.unwrap();
    assert_eq!(a.ci95, b.ci95);
    assert_eq!(a.scores(), b.scores());
    assert_eq!(a.ci95.0.to_bits(), b.ci95.0.to_bits());
    assert_eq!(a.ci95.1.to_bits(), b.ci95.1.to_bits());
    assert_eq!((a.seed, a.resamples), (42, 1000));
    let c = eval
        .clone()
        .seed(43)
        .run(&half_right(), &ctx())
        .await
        .unwrap();
    assert_eq!(c.seed, 43);
    assert!(c.ci95.0 <= c.mean && c.mean <= c.ci95.1);
}

pub(super) fn failing_on(bad: &'static [usize]) -> impl Module {
    FnModule(move |inputs: Example| async move {
        let i = qnum(&inputs);
        if bad.contains(&i) {
            if i & 1 == 0 {
                return Err(ModuleError::Parse {
                    path: "generate".into(),
                    source: ParseError {
                        adapter: "chat".into(),
                        failure: ParseFailure::MissingField("answer".into()),
                        raw: format!("garbage {i}"),
                    },
                });
            }
            return Err(ModuleError::Other(format!("boom {i}")));
        }
        Ok(answer(format!("a{i}")))
    })
}

#[tokio::test]
async fn failures_below_budget_are_recorded() {
    let data = devset(10);
    let report = Evaluate::new(&data)
        .metric(ExactMatch::new("answer"))
        .max_errors(Some(3))
        .progress(false)
        .run(&failing_on(&[2, 5, 7]), &ctx())
        .await
        .unwrap();
    assert_eq!(report.errors, 3);
    assert_eq!(report.mean, 0.7);
    assert_eq!(
        report.failures().map(|r| r.index).collect::<Vec<_>>(),
        vec![2, 5, 7]
    );
    let r2 = &report.results[2];
    let e2 = r2.error.as_ref().unwrap();
    assert_eq!(e2.stage, FailureStage::Program);
    assert_eq!(e2.raw_completion.as_deref(), Some("garbage 2"));
    assert!(e2.message.contains("generate"), "{}", e2.message);
    assert!(matches!(e2.source, Some(ModuleError::Parse { .. })));
    assert_eq!(r2.score, 0.0);
    assert!(r2.prediction.is_none());
    let e5 = report.results[5].error.as_ref().unwrap();
    assert_eq!(e5.message, "boom 5");
    assert_eq!(e5.raw_completion, None);
    // Failed examples carry no usage; the others do.
    assert_eq!(report.lm_calls, 7);

    // A failure score other than 0.
    let report = Evaluate::new(&data)
        .metric(ExactMatch::new("answer"))
        .failure_score(0.5)
        .progress(false)
        .run(&failing_on(&[2]), &ctx())
        .await
        .unwrap();
    assert_eq!(report.results[2].score, 0.5);
    assert!((report.mean - 0.95).abs() < 1e-12);
}

#[tokio::test]
async fn error_budget_stops_early() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let program = FnModule(move |_inputs: Example| {
        let c = c.clone();
        async move {
            c.fetch_add(1, Ordering::SeqCst);
            Err::<Prediction, _>(ModuleError::Other("always fails".into()))
        }
    });
    let data = devset(20);
    let err = Evaluate::new(&data)
        .metric(ExactMatch::new("answer"))
        .concurrency(1)
        .max_errors(Some(2))
        .progress(false)
        .run(&program, &ctx())
        .await
        .unwrap_err();
    match &err {
        EvalError::TooManyErrors {
            max_errors,
            errors,
            completed,
            total,
            index,
            message,
            results,
        } => {
            assert_eq!(
                (*max_errors, *errors, *completed, *total, *index),
                (2, 3, 3, 20, 2)
            );
            assert_eq!(message, "always fails");
            assert_eq!(results.len(), 3);
            assert!(results.iter().all(|r| r.is_error()));
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    assert!(err.to_string().contains("max_errors = 2"), "{err}");

    // max_errors = 0: the first failure stops the run.
    let err = Evaluate::new(&data)
        .metric(ExactMatch::new("answer"))
        .max_errors(Some(0))
        .progress(false)
        .run(&failing_on(&[4]), &ctx())
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        EvalError::TooManyErrors {
            errors: 1,
            index: 4,
            ..
        }
    ));

    // No budget: every failure is recorded and the run completes.
    let report = Evaluate::new(&data)
        .metric(ExactMatch::new("answer"))
        .max_errors(None)
        .progress(false)
        .run(&program, &ctx())
        .await
        .unwrap();
    assert_eq!((report.errors, report.mean), (20, 0.0));
}

#[tokio::test(start_paused = true)]
async fn error_budget_cancels_in_flight_calls() {
    let started = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let (s, f) = (started.clone(), finished.clone());
    let program = FnModule(move |inputs: Example| {
        let (s, f) = (s.clone(), f.clone());
        async move {
            s.fetch_add(1, Ordering::SeqCst);
            let i = qnum(&inputs);
            // Example 0 fails at once; the others are slow.
            if i == 0 {
                return Err(ModuleError::Other("fast failure".into()));
            }
            tokio::time::sleep(Duration::from_secs(10)).await;
            f.fetch_add(1, Ordering::SeqCst);
            Ok(answer(format!("a{i}")))
        }
    });
    let data = devset(100);
    let err = Evaluate::new(&data)
        .metric(ExactMatch::new("answer"))
        .concurrency(8)
        .max_errors(Some(0))
        .progress(false)
        .run(&program, &ctx())
        .await
        .unwrap_err();
    assert!(matches!(err, EvalError::TooManyErrors { completed: 1, .. }));
    assert!(started.load(Ordering::SeqCst) <= 9);
    assert_eq!(finished.load(Ordering::SeqCst), 0);
}

/// A module that sleeps `delay(i)` and tracks how many calls are in flight.
fn sleeper(
    delay: impl Fn(usize) -> Duration + Send + Sync + 'static,
    in_flight: Arc<AtomicUsize>,
    max_in_flight: Arc<AtomicUsize>,
) -> impl Module {
    let delay = Arc::new(delay);
    FnModule(move |inputs: Example| {
        let (delay, in_flight, max_in_flight) =
            (delay.clone(), in_flight.clone(), max_in_flight.clone());
        async move {
            let now = in_flight.fetch_add(1, Ordering::SeqCst) + 1;
            max_in_flight.fetch_max(now, Ordering::SeqCst);
            let i = qnum(&inputs);
            tokio::time::sleep(delay(i)).await;
            in_flight.fetch_sub(1, Ordering::SeqCst);
            Ok(answer(format!("a{i}")))
        }
    })
}

async fn max_in_flight(n: usize, concurrency: usize) -> (usize, EvalReport) {
    let (cur, max) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let program = sleeper(|_| Duration::from_millis(50), cur.clone(), max.clone());
    let data = devset(n);
    let report = Evaluate::new(&data)
        .metric(ExactMatch::new("answer"))
        .concurrency(concurrency)
        .progress(false)
        .run(&program, &ctx())
        .await
        .unwrap();
    assert_eq!(cur.load(Ordering::SeqCst), 0);
    (max.load(Ordering::SeqCst), report)
}

#[tokio::test(start_paused = true)]
async fn concurrency_is_bounded_and_reached() {
    assert_eq!(max_in_flight(16, 8).await.0, 8);
    assert_eq!(max_in_flight(16, 1).await.0, 1);
    assert_eq!(max_in_flight(5, 8).await.0, 5);
    let (max, report) = max_in_flight(200, 64).await;
    assert_eq!(max, 64);
    assert_eq!(report.mean, 1.0);
    assert!(report.results.iter().enumerate().all(|(i, r)| r.index == i));
}

#[tokio::test]
async fn concurrent_calls_overlap_in_real_time() {
    let start = std::time::Instant::now();
    let (max, report) = max_in_flight(16, 8).await;
    let took = start.elapsed();
    assert_eq!(max, 8);
    assert_eq!(report.mean, 1.0);
    // Sequential would take 16 * 50 ms = 800 ms; two waves of 8 take about 100 ms.
    assert!(took < Duration::from_millis(500), "took {took:?}");
    assert!(report.wall_time <= took);
}

#[tokio::test(start_paused = true)]
async fn results_keep_dataset_order() {
    // Later examples finish first.
    let (cur, max) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let program = sleeper(|i| Duration::from_millis(1000 - 10 * i as u64), cur, max);
    let data = devset(50);
    let report = Evaluate::new(&data)
        .metric(ExactMatch::new("answer"))
        .concurrency(16)
        .progress(false)
        .run(&program, &ctx())
        .await
        .unwrap();
    for (i, r) in report.results.iter().enumerate() {
        assert_eq!(r.index, i);
        assert_eq!(r.example, data[i]);
        assert_eq!(
            r.prediction.as_ref().and_then(|p| p.get_str("answer")),
            Some(format!("a{i}"))
        );
    }
}

#[tokio::test]
async fn metric_problems_are_recorded_failures() {
    let data = devset(4);
    let program = FnModule(|inputs: Example| async move {
        let i = qnum(&inputs);
        let mut p = Prediction::default();
        if i != 1 {
            p.insert("answer", format!("a{i}"));
        }
        Ok(p)
    });
    let report = Evaluate::new(&data)
        .metric(ExactMatch::new("answer"))
        .progress(false)
        .run(&program, &ctx())
        .await
        .unwrap();
    assert_eq!(report.errors, 1);
    let r = &report.results[1];
    let e = r.error.as_ref().unwrap();
    assert_eq!(e.stage, FailureStage::Metric);
    assert!(e.message.contains("no field `answer`"), "{}", e.message);
    assert!(r.prediction.is_some());

    // A closure metric returning NaN, and one that panics.
    let report = Evaluate::new(&data)
        .metric(|_: &Example, p: &Prediction| {
            if p.get("answer").is_some() {
                1.0
            } else {
                f64::NAN
            }
        })
        .progress(false)
        .run(&program, &ctx())
        .await
        .unwrap();
    assert_eq!((report.errors, report.mean), (1, 0.75));
    assert!(
        report.results[1]
            .error
            .as_ref()
            .unwrap()
            .message
            .contains("non-finite")
    );

    let report = Evaluate::new(&data)
        .metric(metric_fn("picky", |_, p| {
            assert!(p.get("answer").is_some(), "no answer");
            1.0
        }))
        .progress(false)
        .run(&program, &ctx())
        .await
        .unwrap();
    assert_eq!(report.metric, "picky");
    assert_eq!(report.errors, 1);
    assert!(
        report.results[1]
            .error
            .as_ref()
            .unwrap()
            .message
            .contains("panicked: no answer")
    );
}

#[tokio::test]
async fn program_panics_are_recorded_failures() {
    let data = devset(3);
    let program = FnModule(|inputs: Example| async move {
        let i = qnum(&inputs);
        assert!(i != 1, "bad example {i}");
        Ok(answer(format!("a{i}")))
    });
    let report = Evaluate::new(&data)
        .metric(ExactMatch::new("answer"))
        .progress(false)
        .run(&program, &ctx())
        .await
        .unwrap();
    assert_eq!(report.errors, 1);
    let e = report.results[1].error.as_ref().unwrap();
    assert_eq!(e.stage, FailureStage::Program);
    assert!(
        e.message.contains("panicked: bad example 1"),
        "{}",
        e.message
    );
}

//! A compile run is one trace: a `compile` span, one `trial` span per scored candidate
//! with that trial's evaluate span and program calls beneath it, and the compile span
//! rolling up every LM call of the run and ending with the best score and the spend.

use optimize_common::*;
use sigil::optimize::{BootstrapFewShotWithRandomSearch, EngineConfig, Optimizer};
use sigil::prelude::*;
use sigil::trace::{Span, SpanKind, SpanStatus, keys};

use crate::optimize_common;
use crate::trace_support;

fn children<'a>(spans: &'a [Span], parent: &Span) -> Vec<&'a Span> {
    spans
        .iter()
        .filter(|s| s.parent_id == Some(parent.span_id))
        .collect()
}

#[tokio::test]
async fn random_search_emits_a_compile_span_with_one_trial_per_candidate() {
    // Right only with at least 2 demos in the prompt.
    let lm = task_lm(|req, _| n_demos(req) >= 2);
    let (collector, sink) = trace_support::memory_collector();
    let ctx = Ctx::from_arc(lm.clone()).with_hook(collector.clone());
    let (train, val) = (dataset(0..12), dataset(100..110));
    let p = program();
    let rs = BootstrapFewShotWithRandomSearch::new(metric())
        .num_candidates(3)
        .max_bootstrapped_demos(2)
        .max_labeled_demos(2)
        .config(EngineConfig::new().progress(false).seed(1));
    let compiled = rs.compile(&p, &train, &val, &ctx).await.unwrap();
    collector.flush();
    let spans = sink.spans();
    let by_trace = trace_support::assert_well_formed(&spans);
    assert_eq!(by_trace.len(), 1, "the whole run is one trace");

    let compile = spans
        .iter()
        .find(|s| s.parent_id.is_none())
        .expect("a root span");
    assert_eq!(compile.kind, SpanKind::Compile);
    assert_eq!(compile.name, "compile BootstrapFewShotWithRandomSearch");
    assert_eq!(compile.status, SpanStatus::Ok);
    assert_eq!(
        compile.attr_str(keys::COMPILE_OPTIMIZER),
        Some("BootstrapFewShotWithRandomSearch")
    );
    assert_eq!(compile.attr_i64(keys::COMPILE_TRAINSET), Some(12));
    assert_eq!(compile.attr_i64(keys::COMPILE_VALSET), Some(10));
    assert_eq!(compile.attr_i64(keys::COMPILE_SEED), Some(1));
    assert_eq!(compile.attr_f64(keys::COMPILE_BEST_SCORE), Some(1.0));
    assert_eq!(compile.attr_f64(keys::COMPILE_BASELINE_SCORE), Some(0.0));
    assert_eq!(compile.attr_i64(keys::COMPILE_TRIALS), Some(6));
    // Spend: the budget wrapper counted every provider call; the roll-up counted
    // every LM span beneath the compile span. They agree, and match the LM's count.
    let calls = lm.calls() as i64;
    assert_eq!(compile.attr_i64(keys::COMPILE_SPEND_LM_CALLS), Some(calls));
    assert_eq!(compile.attr_i64(keys::USAGE_LM_CALLS), Some(calls));
    assert_eq!(compiled.spend.lm_calls as i64, calls);
    assert_eq!(
        compile.attr_i64(keys::USAGE_INPUT_TOKENS),
        Some(compiled.spend.input_tokens as i64)
    );
    assert_eq!(
        compile.attr_i64(keys::COMPILE_SPEND_INPUT_TOKENS),
        Some(compiled.spend.input_tokens as i64)
    );

    let trials: Vec<&Span> = children(&spans, compile)
        .into_iter()
        .filter(|s| s.kind == SpanKind::Trial)
        .collect();
    assert_eq!(
        trials.len(),
        6,
        "zero-shot, labeled, unshuffled, 3 shuffled"
    );
    let mut trial_calls = 0;
    for (i, (t, record)) in trials.iter().zip(&compiled.trials).enumerate() {
        assert_eq!(t.name, format!("trial {}", i + 1));
        assert_eq!(t.attr_i64(keys::TRIAL_INDEX), Some(i as i64 + 1));
        assert_eq!(t.attr_str(keys::TRIAL_KIND), Some("full"));
        assert_eq!(
            t.attr_str(keys::TRIAL_LABEL),
            Some(record.candidate.label.as_str())
        );
        assert_eq!(t.attr_f64(keys::TRIAL_SCORE), Some(record.score));
        assert_eq!(t.attr_i64(keys::TRIAL_EXAMPLES), Some(10));
        assert_eq!(t.attr_i64(keys::TRIAL_ERRORS), Some(0));
        assert_eq!(t.attr_i64(keys::TRIAL_LM_CALLS), Some(10));
        assert_eq!(
            t.attr_i64(keys::TRIAL_INPUT_TOKENS),
            Some(record.usage.input_tokens as i64)
        );
        assert_eq!(t.attr_i64(keys::USAGE_LM_CALLS), Some(10), "roll-up agrees");
        assert_eq!(
            t.attr_i64(keys::USAGE_INPUT_TOKENS),
            Some(record.usage.input_tokens as i64)
        );
        assert_eq!(
            t.attr(keys::TRIAL_REPLAYED).and_then(|v| v.as_bool()),
            Some(false)
        );
        let demos: serde_json::Value =
            serde_json::from_str(t.attr_str(keys::TRIAL_DEMOS).unwrap()).unwrap();
        let want = record
            .candidate
            .predictors
            .get("")
            .map_or(0, |c| c.demo_ids.len());
        assert_eq!(demos, serde_json::json!({"": want}));
        let instructions: serde_json::Value =
            serde_json::from_str(t.attr_str(keys::TRIAL_INSTRUCTIONS).unwrap()).unwrap();
        assert!(instructions.is_object());
        let candidate: serde_json::Value =
            serde_json::from_str(t.attr_str(keys::TRIAL_CANDIDATE).unwrap()).unwrap();
        assert_eq!(candidate["label"], record.candidate.label.as_str());

        // The trial's evaluation and its 10 program calls sit beneath it.
        let under = children(&spans, t);
        assert_eq!(under.len(), 1);
        assert_eq!(under[0].kind, SpanKind::Evaluate);
        assert_eq!(under[0].attr_f64(keys::EVAL_SCORE), Some(record.score));
        let calls = children(&spans, under[0]);
        assert_eq!(calls.len(), 10);
        assert!(calls.iter().all(|c| c.kind == SpanKind::Module));
        trial_calls += 10;
    }
    assert_eq!(trials[0].attr_str(keys::TRIAL_LABEL), Some("zero-shot"));
    assert_eq!(
        trials[0].attr_str(keys::TRIAL_DEMOS),
        Some(r#"{"":0}"#),
        "zero-shot has no demos"
    );
    assert_eq!(trials[5].attr_f64(keys::TRIAL_BEST_SCORE), Some(1.0));
    // Bootstrap rounds (teacher runs) are the rest of the run's calls, also under compile.
    let other_lm: i64 = children(&spans, compile)
        .iter()
        .filter(|s| s.kind != SpanKind::Trial)
        .map(|s| s.attr_i64(keys::USAGE_LM_CALLS).unwrap_or(0))
        .sum();
    assert_eq!(other_lm + trial_calls, calls);
}

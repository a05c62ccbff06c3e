//! A real optimizer run traced into the store comes back from `Store::compile_runs`
//! with its trials, scores and spend.

use sigil::evaluate::ExactMatch;
use sigil::optimize::{BootstrapFewShotWithRandomSearch, EngineConfig, Optimizer};
use sigil::prelude::*;
use sigil::trace::keys;
use sigil_store::Store;
use sigil_testkit::{ScriptedLm, chat};

fn example(n: u64) -> Example {
    Example::new()
        .input("question", format!("what is the code for {n}?"))
        .set("answer", format!("c{n}"))
}

#[tokio::test]
async fn compile_runs_returns_the_run_with_its_trials() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("traces.db");
    let (collector, problems) = sigil_store::standard_collector(Some(&db));
    assert!(problems.is_empty(), "{problems:?}");
    // Knows the code only when the prompt carries demos.
    let lm = ScriptedLm::from_fn(|req| {
        let demos = req
            .messages
            .iter()
            .filter(|m| m.role == sigil::lm::Role::Assistant)
            .count();
        let last = &req.messages.last().unwrap().content;
        let n = last
            .split("code for ")
            .nth(1)
            .and_then(|r| r.split('?').next())
            .unwrap_or("0");
        let answer = if demos > 0 {
            format!("c{n}")
        } else {
            "unknown".into()
        };
        Ok(chat(&[("answer", &answer)]))
    });
    let ctx = Ctx::new(lm).with_hook(collector.clone());
    let program = Predict::parse("question -> answer").unwrap();
    let train: Vec<Example> = (0..8).map(example).collect();
    let val: Vec<Example> = (100..106).map(example).collect();
    let compiled = BootstrapFewShotWithRandomSearch::new(ExactMatch::new("answer"))
        .num_candidates(1)
        .config(EngineConfig::new().progress(false).seed(3))
        .compile(&program, &train, &val, &ctx)
        .await
        .unwrap();
    collector.flush();

    let store = Store::open(&db).unwrap();
    let runs = store.compile_runs(None, 10).unwrap();
    assert_eq!(runs.len(), 1);
    let run = &runs[0];
    let name = run
        .compile
        .attr_str(keys::PROGRAM_NAME)
        .unwrap()
        .to_string();
    assert_eq!(store.compile_runs(Some(&name), 10).unwrap().len(), 1);
    assert!(store.compile_runs(Some("another"), 10).unwrap().is_empty());
    assert_eq!(
        run.compile.attr_str(keys::COMPILE_OPTIMIZER),
        Some("BootstrapFewShotWithRandomSearch")
    );
    assert_eq!(
        run.compile.attr_f64(keys::COMPILE_BEST_SCORE),
        compiled.score
    );
    assert_eq!(run.compile.attr_f64(keys::COMPILE_BEST_SCORE), Some(1.0));
    assert_eq!(
        run.compile.attr_i64(keys::COMPILE_SPEND_LM_CALLS),
        Some(compiled.spend.lm_calls as i64)
    );
    assert_eq!(
        run.compile.attr_i64(keys::USAGE_LM_CALLS),
        Some(compiled.spend.lm_calls as i64)
    );
    assert_eq!(run.trials.len(), compiled.trials.len());
    assert_eq!(
        run.trials.len(),
        4,
        "zero-shot, labeled, unshuffled, 1 shuffled"
    );
    for (span, record) in run.trials.iter().zip(&compiled.trials) {
        assert_eq!(span.attr_i64(keys::TRIAL_INDEX), Some(record.trial as i64));
        assert_eq!(span.attr_f64(keys::TRIAL_SCORE), Some(record.score));
        assert_eq!(
            span.attr_str(keys::TRIAL_LABEL),
            Some(record.candidate.label.as_str())
        );
        assert_eq!(span.attr_i64(keys::TRIAL_EXAMPLES), Some(6));
        assert_eq!(span.attr_i64(keys::USAGE_LM_CALLS), Some(6));
    }
    assert_eq!(run.trials[0].attr_f64(keys::TRIAL_SCORE), Some(0.0));
    // The trial's evaluation and calls are in the store under it.
    let tree = store
        .trace_tree(&run.compile.trace_id.to_hex())
        .unwrap()
        .unwrap();
    let first_trial = tree
        .children
        .iter()
        .find(|c| c.span.span_id == run.trials[0].span_id)
        .unwrap();
    assert_eq!(first_trial.children.len(), 1);
    assert_eq!(first_trial.children[0].children.len(), 6);
}

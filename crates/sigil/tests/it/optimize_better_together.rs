//! BetterTogether: prompt and weight stages in the order the strategy names, each on
//! the program the one before produced; every stage's program scored on the valset and
//! the best returned; a failing stage ends the run with the best so far and says why.

use std::sync::Arc;
use std::time::Duration;

use sigil::lm::{Lm, LmRequest, OpenAiFinetuner};
use sigil::module::{Ctx, Predict};
use sigil::optimize::{
    BetterTogether, BootstrapFinetune, FinetunedModel, LabeledFewShot, OptimizeError, Stage,
};
use sigil::prelude::*;
use sigil_testkit::{FinetuneApiServer, ScriptedLm, chat};

fn ex(q: &str, a: &str) -> Example {
    Example::new().input("question", q).set("answer", a)
}

fn exact(example: &Example, prediction: &Prediction) -> f64 {
    f64::from(u8::from(
        example.get_str("answer") == prediction.get_str("answer"),
    ))
}

/// Answers sums right when `all` is set, else only those with a 2 in them.
fn sums_lm(all: bool) -> Arc<ScriptedLm> {
    Arc::new(ScriptedLm::from_fn(move |r: &LmRequest| {
        let q = r
            .messages
            .last()
            .map(|m| m.content.clone())
            .unwrap_or_default();
        let q = q.split("[[ ## question ## ]]\n").nth(1).unwrap_or_default();
        let q = q.split('\n').next().unwrap_or_default();
        let sum: i64 = q
            .trim_end_matches('?')
            .split('+')
            .filter_map(|t| t.trim().parse::<i64>().ok())
            .sum();
        let right = all || q.contains('2');
        Ok(chat(&[(
            "answer",
            &(if right { sum } else { sum + 1 }).to_string(),
        )]))
    }))
}

fn together(server: &FinetuneApiServer, tuned: Arc<ScriptedLm>) -> BetterTogether {
    let finetuner = OpenAiFinetuner::new(server.url())
        .poll_interval(Duration::from_millis(2), Duration::from_millis(5));
    let lm_of = Arc::new(move |_m: &FinetunedModel| tuned.clone() as Arc<dyn Lm>);
    BetterTogether::new(exact, lm_of)
        .stage("p", Stage::Prompt(Box::new(LabeledFewShot::new(2))))
        .stage(
            "w",
            Stage::Weights(BootstrapFinetune::new(
                exact,
                Arc::new(finetuner),
                "gpt-4o-mini",
            )),
        )
}

fn data() -> (Vec<Example>, Vec<Example>) {
    let train = vec![
        ex("2+1?", "3"),
        ex("2+5?", "7"),
        ex("3+3?", "6"),
        ex("1+4?", "5"),
    ];
    let val = vec![
        ex("2+2?", "4"),
        ex("3+4?", "7"),
        ex("2+6?", "8"),
        ex("1+1?", "2"),
    ];
    (train, val)
}

#[tokio::test]
async fn stages_run_in_order_and_the_best_scoring_program_is_returned() {
    let server = FinetuneApiServer::start(None).await;
    let tuned = sums_lm(true);
    let (train, val) = data();
    let program = Predict::parse("question -> answer").unwrap();
    let ctx = Ctx::new(sums_lm(false));
    let outcome = together(&server, tuned.clone())
        .compile(&program, &train, &val, &ctx, "p -> w -> p")
        .await
        .unwrap();
    assert_eq!(outcome.error, None);
    let strategies: Vec<&str> = outcome
        .candidates
        .iter()
        .map(|c| c.strategy.as_str())
        .collect();
    assert_eq!(strategies, ["", "p", "p -> w", "p -> w -> p"]);
    let scores: Vec<f64> = outcome
        .candidates
        .iter()
        .map(|c| c.score.unwrap())
        .collect();
    // The base LM gets the two sums with a 2 right; the fine-tuned one gets all four.
    assert_eq!(scores, [0.5, 0.5, 1.0, 1.0]);
    // p: two labeled demos; w: the model for the predictor; the last p keeps the model.
    assert_eq!(
        outcome.candidates[1].state.overlay.predictors[""]
            .demos
            .as_ref()
            .unwrap()
            .len(),
        2
    );
    assert!(outcome.candidates[1].state.models.is_empty());
    assert_eq!(outcome.candidates[3].state.models.len(), 1);
    // The best is the first program that scored 1.0.
    assert_eq!(outcome.best, outcome.candidates[2].state);
    // The w stage trained on the train runs the p program got right, prompted as the
    // p program prompts (with its demos).
    let file = &server.files()[0];
    assert_eq!(file.lines().count(), 2, "{file}");
    assert!(file.contains("2+1?") && file.contains("2+5?"));
    let first: serde_json::Value = serde_json::from_str(file.lines().next().unwrap()).unwrap();
    assert_eq!(
        first["messages"].as_array().unwrap().len(),
        7,
        "system, 2 demos, user, answer"
    );
    assert!(tuned.calls() > 0);
}

#[tokio::test]
async fn a_bad_strategy_is_refused_and_a_failing_stage_keeps_the_best_so_far() {
    let server = FinetuneApiServer::failing_jobs("quota exceeded").await;
    let (train, val) = data();
    let program = Predict::parse("question -> answer").unwrap();
    let ctx = Ctx::new(sums_lm(false));
    let t = together(&server, sums_lm(true));
    for bad in ["p -> x", "p ->", ""] {
        let err = t
            .compile(&program, &train, &val, &ctx, bad)
            .await
            .unwrap_err();
        assert!(matches!(err, OptimizeError::Config(_)), "{bad:?}: {err:?}");
    }
    let outcome = t
        .compile(&program, &train, &val, &ctx, "p -> w -> p")
        .await
        .unwrap();
    let error = outcome.error.unwrap();
    assert!(
        error.contains("\"w\"") && error.contains("quota exceeded"),
        "{error}"
    );
    assert_eq!(outcome.candidates.len(), 2, "the program as given, then p");
    assert_eq!(
        outcome.best, outcome.candidates[0].state,
        "p scored no better"
    );
    let overlap = t
        .compile(&program, &train, &[ex("2+1?", "3")], &ctx, "p")
        .await
        .unwrap_err();
    assert!(matches!(overlap, OptimizeError::Overlap { .. }));
}

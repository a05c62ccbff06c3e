//! COPRO proposes instructions from the scored history of earlier attempts and
//! improves predictors one at a time, each scored against the others' best.

use std::sync::Arc;

use async_trait::async_trait;
use optimize_common::*;
use sigil::lm::LmRequest;
use sigil::optimize::{Copro, EngineConfig, OptimizeError, Optimizer, RecordingObserver};
use sigil::prelude::*;
use sigil_testkit::ScriptedLm;

use crate::optimize_common;

/// First-round proposals are plain; proposals that see scored attempts carry `word`
/// for the predictor whose instruction mentions `target`.
fn propose(req: &LmRequest) -> String {
    let history = field_of(req, "attempted_instructions");
    let basic = field_of(req, "basic_instruction");
    let k = req.rollout_id.unwrap_or(0) % 5;
    if history.is_empty() {
        format!("{basic} Variant {k}.")
    } else if history.contains("Write a hint") {
        format!("Write the hint HINTWORD. Variant {k}.")
    } else {
        format!("Answer with the MAGIC code. Variant {k}.")
    }
}

fn lm(task: impl Fn(&LmRequest) -> String + Send + Sync + 'static) -> Arc<ScriptedLm> {
    Arc::new(ScriptedLm::from_fn(move |req| {
        let outs = outputs_of(req);
        let first = outs.first().map(String::as_str).unwrap_or("");
        let text = if first == "proposed_instruction" {
            propose(req)
        } else {
            task(req)
        };
        Ok(chat(&[(first, &text)]))
    }))
}

fn answer(req: &LmRequest, ok: bool) -> String {
    match number_of(req) {
        Some(n) if ok => format!("c{n}"),
        _ => "unknown".into(),
    }
}

#[tokio::test]
async fn history_guided_proposals_find_the_instruction() {
    let lm = lm(|req| answer(req, system(req).contains("MAGIC")));
    let ctx = Ctx::from_arc(lm.clone());
    let p = program();
    let val = dataset(100..110);
    let obs = Arc::new(RecordingObserver::new());
    let one = Copro::new(metric())
        .breadth(3)
        .depth(1)
        .config(EngineConfig::new().progress(false));
    let c = one.compile(&p, &[], &val, &ctx).await.unwrap();
    assert_eq!(c.score, Some(0.0), "first-round proposals do not have it");
    assert_eq!(c.baseline_score, Some(0.0));
    let two = Copro::new(metric())
        .breadth(3)
        .depth(2)
        .config(EngineConfig::new().progress(false).observer(obs.clone()));
    let c = two.compile(&p, &[], &val, &ctx).await.unwrap();
    assert_eq!(c.score, Some(1.0));
    assert!(
        c.overlay
            .get("")
            .unwrap()
            .instructions
            .as_ref()
            .unwrap()
            .contains("MAGIC")
    );
    // 2 proposals + the original, then 3 from the history: 6 trials on the valset.
    assert_eq!(obs.trials().len(), 6);
    let history = lm
        .requests()
        .into_iter()
        .map(|r| field_of(&r, "attempted_instructions"))
        .find(|h| !h.is_empty())
        .unwrap();
    assert!(history.starts_with("Instruction #1:"), "{history}");
    assert!(
        lm.requests()
            .iter()
            .filter(|r| outputs_of(r)[0] == "proposed_instruction")
            .all(|r| r.params.temperature == Some(1.4))
    );
}

/// `hint` writes a hint; `answer` answers from the question and the hint.
struct TwoStep {
    hint: Predict,
    answer: Predict,
}

#[async_trait]
impl Module for TwoStep {
    sigil::submodules!(hint, answer);
    async fn forward(&self, ctx: &CallCtx<'_>, inputs: Example) -> Result<Prediction, ModuleError> {
        let h = self.hint.call(ctx, inputs.clone()).await?;
        let q = inputs.get_str("question").unwrap_or_default();
        let mut out = self
            .answer
            .call(
                ctx,
                Example::new()
                    .input("question", q)
                    .input("hint", h.get_str("hint").unwrap_or_default()),
            )
            .await?;
        out.absorb_stats(&h);
        Ok(out)
    }
}

#[tokio::test]
async fn coordinate_ascent_over_two_predictors() {
    // The hint step is good with HINTWORD; a good hint gets the even numbers right,
    // and with MAGIC in the answer step all of them.
    let lm = lm(|req| {
        if outputs_of(req)[0] == "hint" {
            if system(req).contains("HINTWORD") {
                "good".into()
            } else {
                "bad".into()
            }
        } else {
            let even = number_of(req).is_some_and(|n| n.is_multiple_of(2));
            answer(
                req,
                field_of(req, "hint") == "good" && (even || system(req).contains("MAGIC")),
            )
        }
    });
    let ctx = Ctx::from_arc(lm.clone());
    let program = TwoStep {
        hint: Predict::parse("question -> hint")
            .unwrap()
            .with_instructions("Write a hint."),
        answer: Predict::parse("question, hint -> answer").unwrap(),
    };
    let val = dataset(100..106);
    let c = Copro::new(metric())
        .breadth(2)
        .depth(3)
        .config(EngineConfig::new().progress(false))
        .compile(&program, &[], &val, &ctx)
        .await
        .unwrap();
    assert_eq!(
        c.score,
        Some(1.0),
        "{:#?}",
        c.trials
            .iter()
            .map(|t| (&t.candidate.label, t.score))
            .collect::<Vec<_>>()
    );
    assert!(
        c.overlay
            .get("hint")
            .unwrap()
            .instructions
            .as_ref()
            .unwrap()
            .contains("HINTWORD")
    );
    assert!(
        c.overlay
            .get("answer")
            .unwrap()
            .instructions
            .as_ref()
            .unwrap()
            .contains("MAGIC")
    );
}

#[tokio::test]
async fn bad_settings_are_errors_before_any_call() {
    let lm = lm(|req| answer(req, true));
    let ctx = Ctx::from_arc(lm.clone());
    let p = program();
    let e = Copro::new(metric())
        .breadth(1)
        .compile(&p, &[], &dataset(0..3), &ctx)
        .await
        .unwrap_err();
    assert!(matches!(e, OptimizeError::Config(_)));
    let e = Copro::new(metric())
        .compile(&p, &[], &[], &ctx)
        .await
        .unwrap_err();
    assert!(matches!(e, OptimizeError::EmptyValset));
    assert_eq!(lm.calls(), 0);
}

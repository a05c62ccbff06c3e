//! The `judge` metric: an LM decides whether a prediction is correct.
//!
//! Metrics are synchronous in Sigil (they are called inside Evaluate's tasks), so the
//! judge runs its LM call on the current multi-threaded runtime with `block_in_place`.
//! A prediction equal to the label (after DSPy's normalisation) scores 1 with no LM
//! call, so checking the metric against the gold labels costs nothing.

use serde_json::Value;
use sigil::data::{Example, Prediction, value_to_string};
use sigil::evaluate::{Metric, MetricError, normalize_text};
use sigil::module::{Ctx, Module, Predict};

pub struct JudgeMetric {
    field: String,
    criteria: String,
    judge: Predict,
    ctx: Ctx,
}

const JUDGE_SIGNATURE: &str =
    "inputs: str, expected: str, predicted: str, criteria: str -> correct: bool";

impl JudgeMetric {
    /// A judge of output `field`, calling the LM in `ctx`.
    pub fn new(
        field: &str,
        criteria: Option<&str>,
        ctx: Ctx,
    ) -> Result<Self, sigil::signature::SignatureError> {
        let judge = Predict::parse(JUDGE_SIGNATURE)?.with_instructions(
            "Judge whether the predicted answer is correct for the given inputs, compared with the expected answer and the criteria.",
        );
        Ok(JudgeMetric {
            field: field.to_string(),
            criteria: criteria
                .unwrap_or("The predicted answer means the same as the expected answer.")
                .to_string(),
            judge,
            ctx,
        })
    }
}

impl Metric for JudgeMetric {
    fn score(&self, example: &Example, prediction: &Prediction) -> f64 {
        self.try_score(example, prediction).unwrap_or(0.0)
    }

    fn try_score(&self, example: &Example, prediction: &Prediction) -> Result<f64, MetricError> {
        let m = self;
        let name = self.name();
        let expected = example
            .get(&m.field)
            .ok_or_else(|| MetricError::MissingLabel {
                metric: name.clone(),
                field: m.field.clone(),
            })?;
        let predicted = prediction
            .get(&m.field)
            .ok_or_else(|| MetricError::MissingPrediction {
                metric: name.clone(),
                field: m.field.clone(),
            })?;
        let (e, p) = (value_to_string(expected), value_to_string(predicted));
        if normalize_text(&e) == normalize_text(&p) {
            return Ok(1.0);
        }
        let inputs: String = example
            .inputs()
            .values()
            .iter()
            .map(|(k, v)| format!("{k}: {}", value_to_string(v)))
            .collect::<Vec<_>>()
            .join("\n");
        let call = Example::new()
            .input("inputs", inputs)
            .input("expected", e)
            .input("predicted", p)
            .input("criteria", self.criteria.clone());
        let handle = tokio::runtime::Handle::try_current().map_err(|_| MetricError::Other {
            metric: name.clone(),
            message: "the judge needs a tokio runtime".into(),
        })?;
        // ModuleError's size is the core's choice; boxing it here would gain nothing.
        #[allow(clippy::result_large_err)]
        let out = tokio::task::block_in_place(|| handle.block_on(m.judge.call(&m.ctx, call)))
            .map_err(|e| MetricError::Other {
                metric: name.clone(),
                message: e.to_string(),
            })?;
        Ok(match out.get("correct") {
            Some(Value::Bool(true)) => 1.0,
            _ => 0.0,
        })
    }

    fn name(&self) -> String {
        "judge".to_string()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use sigil_testkit::{ScriptedLm, chat};

    use super::*;

    fn example(answer: &str) -> Example {
        Example::new()
            .input("question", "Where does the Sallow River join the sea?")
            .set("answer", answer)
    }

    fn prediction(answer: &str) -> Prediction {
        let mut p = Prediction::new(Default::default());
        p.insert("answer", answer);
        p
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn an_answer_equal_to_the_label_needs_no_lm_call() {
        let lm = Arc::new(ScriptedLm::new(Vec::<String>::new()));
        let judge = JudgeMetric::new("answer", None, Ctx::from_arc(lm.clone())).unwrap();
        let s = judge
            .try_score(&example("Port Wren"), &prediction("port wren."))
            .unwrap();
        assert_eq!(s, 1.0);
        assert_eq!(lm.calls(), 0);
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn the_lm_decides_otherwise_and_sees_the_criteria() {
        let lm = Arc::new(ScriptedLm::new([
            chat(&[("correct", "True")]),
            chat(&[("correct", "False")]),
        ]));
        let judge = JudgeMetric::new(
            "answer",
            Some("Towns count by name."),
            Ctx::from_arc(lm.clone()),
        )
        .unwrap();
        let ex = example("Port Wren");
        assert_eq!(
            judge
                .try_score(&ex, &prediction("at the harbour of Port Wren"))
                .unwrap(),
            1.0
        );
        assert_eq!(judge.try_score(&ex, &prediction("Eldermoor")).unwrap(), 0.0);
        assert_eq!(lm.calls(), 2);
        let prompt = serde_json::to_string(&lm.requests()[0].messages).unwrap();
        assert!(prompt.contains("Towns count by name."), "{prompt}");
        assert!(
            prompt.contains("Where does the Sallow River join the sea?"),
            "{prompt}"
        );
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn a_missing_label_is_a_typed_error() {
        let lm = Arc::new(ScriptedLm::new(Vec::<String>::new()));
        let judge = JudgeMetric::new("answer", None, Ctx::from_arc(lm)).unwrap();
        let ex = Example::new().input("question", "q");
        assert!(matches!(
            judge.try_score(&ex, &prediction("x")),
            Err(MetricError::MissingLabel { .. })
        ));
    }
}

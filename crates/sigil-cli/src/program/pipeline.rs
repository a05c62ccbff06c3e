//! The module a program file describes: steps run in order over a shared record of
//! fields. A step reads its inputs from the program's inputs and earlier steps'
//! outputs, and adds its own outputs. Predictor paths are the step names.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use sigil::data::{Example, Prediction};
use sigil::module::{ChainOfThought, Ctx, Module, ModuleError, Predict};
use sigil::retrieve::Retriever;

/// What one step runs.
pub enum StepKind {
    Predict(Predict),
    ChainOfThought(ChainOfThought),
    Retrieve {
        retriever: Arc<dyn Retriever>,
        query: String,
        output: String,
        k: usize,
    },
}

/// One step: its name, where its inputs come from, and what it runs.
pub struct Step {
    pub name: String,
    /// Signature input name -> the record field it reads (identity when not renamed).
    pub inputs: Vec<(String, String)>,
    pub kind: StepKind,
}

/// A program built from a program file.
pub struct Pipeline {
    pub name: String,
    pub steps: Vec<Step>,
}

impl Step {
    async fn run(&self, ctx: &Ctx, record: &Example) -> Result<Prediction, ModuleError> {
        match &self.kind {
            StepKind::Predict(p) => p.call(ctx, self.step_inputs(record)?).await,
            StepKind::ChainOfThought(c) => c.call(ctx, self.step_inputs(record)?).await,
            StepKind::Retrieve {
                retriever,
                query,
                output,
                k,
            } => {
                let q = record.get_str(query).ok_or_else(|| {
                    ModuleError::Other(format!(
                        "step `{}`: the query field `{query}` has no value",
                        self.name
                    ))
                })?;
                let passages =
                    sigil::trace::retrieval(ctx, retriever.name(), &q, Some(*k), |_| async {
                        retriever
                            .retrieve(&q, *k)
                            .await
                            .map(|ps| ps.into_iter().map(|p| p.text).collect::<Vec<_>>())
                    })
                    .await
                    .map_err(|e| ModuleError::Other(format!("step `{}`: {e}", self.name)))?;
                let mut pred = Prediction::new(Default::default());
                pred.insert(output.clone(), Value::from(passages));
                Ok(pred)
            }
        }
    }

    #[allow(clippy::result_large_err)] // ModuleError is the core's error type
    fn step_inputs(&self, record: &Example) -> Result<Example, ModuleError> {
        let mut ex = Example::new();
        for (field, source) in &self.inputs {
            let v = record.get(source).ok_or_else(|| {
                ModuleError::Other(format!(
                    "step `{}`: input `{field}` (from `{source}`) has no value",
                    self.name
                ))
            })?;
            ex = ex.input(field.clone(), v.clone());
        }
        Ok(ex)
    }
}

#[async_trait]
impl Module for Pipeline {
    async fn forward(&self, ctx: &Ctx, inputs: Example) -> Result<Prediction, ModuleError> {
        let mut record = inputs.inputs();
        let mut out = Prediction::new(Default::default());
        for step in &self.steps {
            let pred = step.run(ctx, &record).await?;
            out.absorb_stats(&pred);
            for (k, v) in pred.values() {
                record.insert(k.clone(), v.clone());
                out.insert(k.clone(), v.clone());
            }
        }
        Ok(out)
    }

    fn named_predictors(&self) -> Vec<(String, &Predict)> {
        let mut out = Vec::new();
        for s in &self.steps {
            match &s.kind {
                StepKind::Predict(p) => out.push((s.name.clone(), p)),
                StepKind::ChainOfThought(c) => {
                    for (path, p) in c.named_predictors() {
                        out.push((sigil::module::join_path(&s.name, &path), p));
                    }
                }
                StepKind::Retrieve { .. } => {}
            }
        }
        out
    }

    fn name(&self) -> &str {
        &self.name
    }
}

//! The module a program file describes: steps run in order over a shared record of
//! fields. A step reads its inputs from the program's inputs and earlier steps'
//! outputs, and adds its own outputs. Predictor paths are the step names.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::Value;
use sigil::data::{Example, Prediction};
use sigil::module::{CallCtx, ChainOfThought, Ctx, Module, ModuleError, Predict, ReAct};
use sigil::retrieve::Retriever;

/// What one step runs.
pub enum StepKind {
    Predict(Predict),
    ChainOfThought(ChainOfThought),
    ReAct(Box<ReAct>),
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
            StepKind::ReAct(r) => r.call(ctx, self.step_inputs(record)?).await,
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
                let passages = sigil::retrieve::traced_search(
                    ctx,
                    retriever.name(),
                    &q,
                    Some(*k),
                    |_| async {
                        retriever
                            .retrieve(&q, *k)
                            .await
                            .map(|ps| ps.into_iter().map(|p| p.text).collect::<Vec<_>>())
                    },
                )
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
    async fn forward(&self, ctx: &CallCtx<'_>, inputs: Example) -> Result<Prediction, ModuleError> {
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
                StepKind::ReAct(r) => {
                    for (path, p) in r.named_predictors() {
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

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use sigil_testkit::{ScriptedLm, chat};

    use super::*;
    use crate::program::{ProgramFile, build_program};

    const TWO_STEPS: &str = r#"
name = "triage"
[[step]]
name = "summarize"
signature = "text -> summary"
[[step]]
name = "classify"
module = "chain_of_thought"
signature = "summary -> intent: enum[billing, unlock]"
"#;

    fn no_retriever(
        _: &ProgramFile,
        _: &crate::program::spec::StepSpec,
    ) -> anyhow::Result<Arc<dyn Retriever>> {
        anyhow::bail!("no retrieve steps here")
    }

    #[tokio::test]
    async fn a_steps_output_feeds_the_next_step() {
        let pf = ProgramFile::parse(Path::new("triage.toml"), TWO_STEPS.into()).unwrap();
        let program = build_program(&pf, &no_retriever, &|_| Vec::new()).unwrap();
        let paths: Vec<String> = program
            .named_predictors()
            .into_iter()
            .map(|(p, _)| p)
            .collect();
        assert_eq!(paths, ["summarize", "classify"]);
        let lm = Arc::new(ScriptedLm::new([
            chat(&[("summary", "The rider was charged twice.")]),
            chat(&[("reasoning", "A charge."), ("intent", "billing")]),
        ]));
        let ctx = Ctx::from_arc(lm.clone());
        let out = program
            .call(
                &ctx,
                Example::new().input("text", "I paid two times for one ride!"),
            )
            .await
            .unwrap();
        assert_eq!(
            out.get_str("summary").as_deref(),
            Some("The rider was charged twice.")
        );
        assert_eq!(out.get_str("intent").as_deref(), Some("billing"));
        assert_eq!(out.lm_calls, 2);
        // The second call saw the first call's output as its input.
        let second = serde_json::to_string(&lm.requests()[1].messages).unwrap();
        assert!(second.contains("The rider was charged twice."), "{second}");
        assert!(
            !second.contains("I paid two times"),
            "step 2 only sees its own inputs"
        );
    }

    #[tokio::test]
    async fn a_missing_program_input_is_a_module_error() {
        let pf = ProgramFile::parse(Path::new("triage.toml"), TWO_STEPS.into()).unwrap();
        let program = build_program(&pf, &no_retriever, &|_| Vec::new()).unwrap();
        let ctx = Ctx::from_arc(Arc::new(ScriptedLm::new(Vec::<String>::new())));
        let err = program
            .call(&ctx, Example::new().input("txt", "x"))
            .await
            .unwrap_err();
        assert!(
            err.to_string().contains("step `summarize`: input `text`"),
            "{err}"
        );
    }
}

//! The Sigil programs matching the DSPy fixtures of scripts/gen_dspy_fixtures.py.
#![allow(dead_code)]

use std::path::PathBuf;

use sigil::prelude::*;

pub struct TwoStep {
    pub write_query: Predict,
    pub answer: ChainOfThought,
}

#[async_trait::async_trait]
impl Module for TwoStep {
    sigil::submodules!(write_query, answer);

    async fn forward(&self, ctx: &CallCtx<'_>, inputs: Example) -> Result<Prediction, ModuleError> {
        let q = self.write_query.call(ctx, inputs.clone()).await?;
        let query = q.get_str("search_query").unwrap_or_default();
        let question = inputs.get_str("question").unwrap_or_default();
        self.answer
            .call(
                ctx,
                Example::new()
                    .input("context", vec![query])
                    .input("question", question),
            )
            .await
    }
}

pub fn two_step() -> TwoStep {
    TwoStep {
        write_query: Predict::parse("question -> search_query").unwrap(),
        answer: ChainOfThought::parse("context: list[str], question -> answer").unwrap(),
    }
}

/// The ReAct of the `react` fixture: `question -> answer` with DSPy's `search` tool.
pub fn react() -> sigil::module::ReAct {
    let search = sigil::tool::Tool::new(
        "search",
        "Search the web for a query.",
        serde_json::json!({"query": {"type": "string"}}),
        |_| async { Ok::<_, String>("") },
    );
    sigil::module::ReAct::parse("question -> answer", vec![search])
        .unwrap()
        .with_max_iters(5)
}

/// The program matching fixture `name` (`predict`, `cot`, `two_step`, `react`).
pub fn program(name: &str) -> Box<dyn Module> {
    match name {
        "predict" => Box::new(Predict::parse("question -> answer").unwrap()),
        "cot" => Box::new(ChainOfThought::parse("question -> answer").unwrap()),
        "two_step" => Box::new(two_step()),
        "react" => Box::new(react()),
        other => panic!("no fixture program {other}"),
    }
}

pub fn fixture(file: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden/dspy")
        .join(file)
}

/// DSPy name -> Sigil path, as the fixtures name their predictors.
pub fn sigil_path(dspy_name: &str) -> String {
    match dspy_name {
        "self" | "predict" => String::new(),
        n => n.strip_suffix(".predict").unwrap_or(n).to_string(),
    }
}

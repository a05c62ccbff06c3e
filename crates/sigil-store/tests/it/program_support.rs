//! The two-step program (query, then answer) several store tests trace.

use async_trait::async_trait;
use sigil::prelude::*;

pub struct TwoStep {
    query: Predict,
    answer: Predict,
}

impl TwoStep {
    pub fn new() -> Self {
        TwoStep {
            query: Predict::parse("question -> query").expect("signature"),
            answer: Predict::parse("question, query -> answer").expect("signature"),
        }
    }
}

#[async_trait]
impl Module for TwoStep {
    sigil::submodules!(query, answer);
    fn name(&self) -> &str {
        "TwoStep"
    }
    async fn forward(&self, ctx: &CallCtx<'_>, inputs: Example) -> Result<Prediction, ModuleError> {
        let question = inputs.get_str("question").unwrap_or_default();
        let q = self
            .query
            .call(ctx, Example::new().input("question", question.clone()))
            .await?;
        self.answer
            .call(
                ctx,
                Example::new()
                    .input("question", question)
                    .input("query", q.get_str("query").unwrap_or_default()),
            )
            .await
    }
}

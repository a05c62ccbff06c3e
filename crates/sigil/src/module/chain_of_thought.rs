use async_trait::async_trait;

use super::{CallCtx, Module, ModuleError, Predict};
use crate::data::{Example, Prediction};
use crate::signature::{Field, FieldKind, FieldType, Signature, SignatureError};

/// A [`Predict`] whose signature gains a `reasoning` output before the others, so the
/// LM thinks step by step before answering (DSPy's `ChainOfThought`).
#[derive(Debug, Clone)]
pub struct ChainOfThought {
    predict: Predict,
}

impl ChainOfThought {
    /// `signature` with a `reasoning` output first; its instructions are kept. Fails if it
    /// already has a `reasoning` field.
    pub fn new(signature: Signature) -> Result<Self, SignatureError> {
        // DSPy 3.4's reasoning field: default description `${reasoning}`, prefix `Reasoning:`.
        let reasoning = Field::new("reasoning", FieldType::Str);
        // DSPy keeps the base signature's instructions (default or not): the default
        // sentence names only the original outputs, not `reasoning`.
        let base_instructions = signature.instructions();
        let extended = signature
            .prepend(FieldKind::Output, reasoning)?
            .with_instructions(base_instructions);
        Ok(ChainOfThought {
            predict: Predict::new(extended),
        })
    }

    /// `ChainOfThought::parse("question -> answer")`, for string signatures.
    pub fn parse(signature: &str) -> Result<Self, SignatureError> {
        ChainOfThought::new(Signature::parse(signature)?)
    }

    /// Sets the instructions.
    pub fn with_instructions(mut self, instructions: impl Into<String>) -> Self {
        self.predict = self.predict.with_instructions(instructions);
        self
    }

    /// The predictor inside (the one optimizers see).
    pub fn predict(&self) -> &Predict {
        &self.predict
    }
    /// The predictor inside, to change its demos or signature.
    pub fn predict_mut(&mut self) -> &mut Predict {
        &mut self.predict
    }
}

#[async_trait]
impl Module for ChainOfThought {
    async fn forward(&self, ctx: &CallCtx<'_>, inputs: Example) -> Result<Prediction, ModuleError> {
        self.predict.call(ctx, inputs).await
    }
    fn name(&self) -> &str {
        "ChainOfThought"
    }

    /// The inner `Predict` opens the module span, so this adds no second one.
    fn opens_own_span(&self) -> bool {
        true
    }

    fn named_predictors(&self) -> Vec<(String, &Predict)> {
        // The inner predictor takes this module's own path: `generate`, not `generate.predict`.
        vec![(String::new(), &self.predict)]
    }
}

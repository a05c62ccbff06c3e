//! LabeledFewShot: up to `k` labeled training examples as demos for every predictor.

use async_trait::async_trait;

use super::data::{check_disjoint, ids_of, sample};
use super::{Compiled, OptimizeError, Optimizer, Spend, SpendEstimate};
use crate::data::Example;
use crate::module::{Ctx, Module, Overlay};
use crate::rng::SeededRng;

/// Gives every predictor `k` training examples as demos: a seeded random sample
/// (default) or the first `k`. Makes no LM call.
#[derive(Clone, Debug)]
pub struct LabeledFewShot {
    k: usize,
    sample: bool,
    seed: u64,
}

impl LabeledFewShot {
    /// `k` demos per predictor (DSPy's default is 16), sampled with seed 0.
    pub fn new(k: usize) -> Self {
        LabeledFewShot {
            k,
            sample: true,
            seed: 0,
        }
    }
    /// `false` takes the first `k` examples in order instead of a random sample.
    pub fn sample(mut self, sample: bool) -> Self {
        self.sample = sample;
        self
    }
    /// The sampling seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }

    /// The overlay this optimizer would produce (no checks).
    pub(crate) fn overlay(&self, program: &dyn Module, trainset: &[Example]) -> Overlay {
        labeled_overlay(
            program,
            trainset,
            self.k,
            self.sample,
            &mut SeededRng::new(self.seed),
        )
    }
}

/// Every predictor gets `k` examples of `trainset` (one generator across predictors).
pub(crate) fn labeled_overlay(
    program: &dyn Module,
    trainset: &[Example],
    k: usize,
    random: bool,
    rng: &mut SeededRng,
) -> Overlay {
    let mut overlay = Overlay::default();
    for (path, _) in program.named_predictors() {
        let demos = if random {
            sample(rng, trainset, k)
        } else {
            trainset.iter().take(k).cloned().collect()
        };
        overlay.set_demos(&path, demos);
    }
    overlay
}

#[async_trait]
impl Optimizer for LabeledFewShot {
    fn name(&self) -> &'static str {
        "LabeledFewShot"
    }

    fn estimate(&self, _: &dyn Module, _: &[Example], _: &[Example], _: &Ctx) -> SpendEstimate {
        SpendEstimate {
            baseline: Spend::default(),
            total: Spend::default(),
            breakdown: vec!["no LM calls: demos are labeled examples".into()],
        }
    }

    async fn compile(
        &self,
        program: &dyn Module,
        trainset: &[Example],
        valset: &[Example],
        _ctx: &Ctx,
    ) -> Result<Compiled, OptimizeError> {
        if trainset.is_empty() {
            return Err(OptimizeError::EmptyTrainset);
        }
        check_disjoint("trainset", trainset, "valset", valset)?;
        if program.named_predictors().is_empty() {
            return Err(OptimizeError::NoPredictors);
        }
        Ok(Compiled {
            optimizer: self.name().into(),
            seed: self.seed,
            overlay: self.overlay(program, trainset),
            score: None,
            baseline_score: None,
            trials: Vec::new(),
            spend: Spend::default(),
            stopped: None,
            seen_examples: ids_of(&[trainset, valset]),
        })
    }
}

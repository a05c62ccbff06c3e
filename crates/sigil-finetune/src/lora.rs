//! LoRA settings and the trainable adapter: per target matrix `W` (`out x in`), a pair
//! `A` (`rank x in`, seeded random) and `B` (`out x rank`, zero), so that the adapted
//! projection is `W x + (alpha / rank) · B A x`, as llama.cpp applies it.

use std::collections::BTreeMap;

use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::error::{FinetuneError, Result};

/// A weight matrix of a llama block that an adapter can update.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Target {
    /// The query projection.
    AttnQ,
    /// The key projection.
    AttnK,
    /// The value projection.
    AttnV,
    /// The attention output projection.
    AttnOutput,
    /// The SwiGLU gate projection.
    FfnGate,
    /// The SwiGLU up projection.
    FfnUp,
    /// The down projection.
    FfnDown,
}

impl Target {
    /// Every target, in the order tensors are written.
    pub const ALL: [Target; 7] = [
        Target::AttnQ,
        Target::AttnK,
        Target::AttnV,
        Target::AttnOutput,
        Target::FfnGate,
        Target::FfnUp,
        Target::FfnDown,
    ];

    /// The GGUF tensor name stem (`blk.N.<stem>.weight`).
    pub fn gguf_name(self) -> &'static str {
        match self {
            Target::AttnQ => "attn_q",
            Target::AttnK => "attn_k",
            Target::AttnV => "attn_v",
            Target::AttnOutput => "attn_output",
            Target::FfnGate => "ffn_gate",
            Target::FfnUp => "ffn_up",
            Target::FfnDown => "ffn_down",
        }
    }

    /// The target with GGUF stem `name` (`"attn_q"`).
    pub fn from_gguf_name(name: &str) -> Option<Target> {
        Target::ALL.into_iter().find(|t| t.gguf_name() == name)
    }
}

/// The settings of a LoRA training run.
///
/// ```
/// use sigil_finetune::{LoraConfig, Target};
/// let cfg = LoraConfig {
///     rank: 4,
///     targets: vec![Target::AttnQ, Target::AttnV],
///     ..LoraConfig::default()
/// };
/// assert_eq!(cfg.scale(), 16.0 / 4.0);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct LoraConfig {
    /// The rank `r` of each update.
    pub rank: usize,
    /// The update's scale numerator: it is multiplied by `alpha / rank`.
    pub alpha: f32,
    /// The matrices adapted in every block.
    pub targets: Vec<Target>,
    /// AdamW's learning rate.
    pub learning_rate: f64,
    /// Passes over the training examples.
    pub epochs: usize,
    /// Examples per optimizer step.
    pub batch_size: usize,
    /// Seeds `A`'s initialisation and the order of examples in each epoch.
    pub seed: u64,
    /// Examples longer than this many tokens are cut to it (from the end).
    pub max_seq_len: usize,
}

impl Default for LoraConfig {
    fn default() -> Self {
        LoraConfig {
            rank: 8,
            alpha: 16.0,
            targets: vec![Target::AttnQ, Target::AttnV],
            learning_rate: 1e-4,
            epochs: 1,
            batch_size: 1,
            seed: 0,
            max_seq_len: 512,
        }
    }
}

impl LoraConfig {
    /// `alpha / rank`, the factor on `B A x`.
    pub fn scale(&self) -> f64 {
        self.alpha as f64 / self.rank as f64
    }

    /// Checks the settings make a run possible.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(FinetuneError::Invalid(m.to_string()));
        if self.rank == 0 {
            return bad("LoRA rank must be at least 1");
        }
        if self.targets.is_empty() {
            return bad("LoRA needs at least one target matrix");
        }
        if self.batch_size == 0 || self.max_seq_len < 2 {
            return bad("batch size must be at least 1 and max_seq_len at least 2");
        }
        if !(self.learning_rate > 0.0 && self.alpha.is_finite()) {
            return bad("learning rate must be positive and alpha finite");
        }
        Ok(())
    }
}

/// The trainable matrices of an adapter, keyed by `(layer, target)`.
#[derive(Debug)]
pub struct LoraAdapter {
    rank: usize,
    alpha: f32,
    pairs: BTreeMap<(usize, Target), (Var, Var)>,
}

impl LoraAdapter {
    /// A fresh adapter: `A` uniform in `±1/sqrt(in)` from `seed`, `B` zero, so the
    /// adapted model starts equal to the base.
    pub fn init(
        cfg: &LoraConfig,
        n_layer: usize,
        shape: impl Fn(Target) -> (usize, usize),
        device: &Device,
    ) -> Result<LoraAdapter> {
        cfg.validate()?;
        let mut rng = StdRng::seed_from_u64(cfg.seed);
        let mut targets = cfg.targets.clone();
        targets.sort();
        targets.dedup();
        let mut pairs = BTreeMap::new();
        for layer in 0..n_layer {
            for &t in &targets {
                let (n_out, n_in) = shape(t);
                let bound = 1.0 / (n_in as f32).sqrt();
                let a: Vec<f32> = (0..cfg.rank * n_in)
                    .map(|_| rng.gen_range(-bound..bound))
                    .collect();
                let a = Var::from_tensor(&Tensor::from_vec(a, (cfg.rank, n_in), device)?)?;
                let b = Var::zeros((n_out, cfg.rank), DType::F32, device)?;
                pairs.insert((layer, t), (a, b));
            }
        }
        Ok(LoraAdapter {
            rank: cfg.rank,
            alpha: cfg.alpha,
            pairs,
        })
    }

    /// An adapter from given matrices (a checkpoint, a loaded file).
    pub fn from_pairs(
        rank: usize,
        alpha: f32,
        pairs: BTreeMap<(usize, Target), (Tensor, Tensor)>,
    ) -> Result<LoraAdapter> {
        let pairs = pairs
            .into_iter()
            .map(|(k, (a, b))| Ok((k, (Var::from_tensor(&a)?, Var::from_tensor(&b)?))))
            .collect::<Result<_>>()?;
        Ok(LoraAdapter { rank, alpha, pairs })
    }

    /// The rank.
    pub fn rank(&self) -> usize {
        self.rank
    }

    /// The alpha.
    pub fn alpha(&self) -> f32 {
        self.alpha
    }

    /// `alpha / rank`.
    pub fn scale(&self) -> f64 {
        self.alpha as f64 / self.rank as f64
    }

    /// The `(A, B)` pair of one matrix, when adapted.
    pub fn pair(&self, layer: usize, t: Target) -> Option<(&Var, &Var)> {
        self.pairs.get(&(layer, t)).map(|(a, b)| (a, b))
    }

    /// Every pair in a fixed order (by layer, then target).
    pub fn pairs(&self) -> impl Iterator<Item = (&(usize, Target), &(Var, Var))> {
        self.pairs.iter()
    }

    /// The trainable variables of block `layer`.
    pub fn layer_vars(&self, layer: usize) -> impl Iterator<Item = &Var> {
        self.pairs
            .range((layer, Target::AttnQ)..=(layer, Target::FfnDown))
            .flat_map(|(_, (a, b))| [a, b])
    }

    /// The trainable variables, `A` then `B` of each pair, in [`Self::pairs`] order.
    pub fn vars(&self) -> Vec<Var> {
        self.pairs
            .values()
            .flat_map(|(a, b)| [a.clone(), b.clone()])
            .collect()
    }
}

//! The training loop: batches of examples, cross-entropy on the reply tokens only,
//! AdamW on the LoRA matrices, a checkpoint after each epoch, resumable.

use std::path::PathBuf;
use std::time::Instant;

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use candle_nn::ParamsAdamW;
use rand::seq::SliceRandom;
use rand::{SeedableRng, rngs::StdRng};

use crate::adapter_file::{CheckpointState, read_checkpoint, write_checkpoint};
use crate::base::{BaseModel, Grad};
use crate::data::EncodedExample;
use crate::error::{FinetuneError, Result};
use crate::lora::{LoraAdapter, LoraConfig};
use crate::optim::AdamW;

/// What is reported after each optimizer step.
#[derive(Clone, Debug, PartialEq)]
pub struct Progress {
    /// The epoch, from 0.
    pub epoch: usize,
    /// Optimizer steps taken so far, this one included.
    pub step: usize,
    /// Steps in the whole run.
    pub total_steps: usize,
    /// Mean cross-entropy of this step's target tokens.
    pub loss: f32,
    /// Tokens (prompt and reply) through forward and backward per second, this step.
    pub tokens_per_s: f64,
}

/// How a run is driven: where it checkpoints, and who hears of its progress.
pub struct TrainOptions<'a> {
    /// Written after every epoch; when it exists at the start and was made by the same
    /// settings and data, the run resumes from it.
    pub checkpoint: Option<PathBuf>,
    /// Stop (as if interrupted) after this many epochs are done in total.
    pub stop_after_epochs: Option<usize>,
    /// Called after every step.
    pub on_progress: Box<dyn FnMut(&Progress) + 'a>,
}

impl Default for TrainOptions<'_> {
    fn default() -> Self {
        TrainOptions {
            checkpoint: None,
            stop_after_epochs: None,
            on_progress: Box::new(|_| {}),
        }
    }
}

impl<'a> TrainOptions<'a> {
    /// Options whose progress drives an `indicatif` bar showing loss and tokens/s.
    pub fn with_progress_bar(total_steps: usize) -> TrainOptions<'a> {
        let bar = indicatif::ProgressBar::new(total_steps as u64);
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{bar:30} {pos}/{len} steps  epoch {prefix}  {msg}  [{elapsed_precise}]",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        );
        TrainOptions {
            on_progress: Box::new(move |p: &Progress| {
                bar.set_position(p.step as u64);
                bar.set_prefix(format!("{}", p.epoch + 1));
                bar.set_message(format!("loss {:.4}  {:.0} tok/s", p.loss, p.tokens_per_s));
                if p.step == p.total_steps {
                    bar.finish();
                }
            }),
            ..TrainOptions::default()
        }
    }
}

/// Steps per epoch for `n` examples.
pub fn steps_per_epoch(n: usize, batch_size: usize) -> usize {
    n.div_ceil(batch_size.max(1))
}

/// FNV-1a over the settings and the data, so a checkpoint is only resumed by the run
/// that made it.
fn fingerprint(cfg: &LoraConfig, data: &[EncodedExample]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for b in bytes {
            h ^= *b as u64;
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    eat(format!("{cfg:?}").as_bytes());
    for ex in data {
        eat(&(ex.prompt_len as u64).to_le_bytes());
        for t in &ex.tokens {
            eat(&t.to_le_bytes());
        }
        eat(b";");
    }
    format!("{h:016x}")
}

/// The order of examples in `epoch`: a shuffle seeded by the run's seed and the epoch,
/// so a resumed run sees the same order as an uninterrupted one.
fn epoch_order(seed: u64, epoch: usize, n: usize) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..n).collect();
    let mut rng = StdRng::seed_from_u64(
        seed.wrapping_add(0x9e37_79b9_7f4a_7c15u64.wrapping_mul(epoch as u64 + 1)),
    );
    idx.shuffle(&mut rng);
    idx
}

/// A batch as one right-padded token matrix, with the rows of the flattened positions
/// that predict a reply token and the tokens they predict.
struct Batch {
    tokens: Tensor,
    rows: Tensor,
    targets: Tensor,
}

fn make_batch(base: &BaseModel, batch: &[&EncodedExample]) -> Result<Batch> {
    let t = batch.iter().map(|e| e.tokens.len()).max().unwrap_or(0);
    let mut flat = Vec::with_capacity(batch.len() * t);
    let (mut rows, mut targets) = (Vec::new(), Vec::new());
    for (i, ex) in batch.iter().enumerate() {
        flat.extend(&ex.tokens);
        flat.extend(std::iter::repeat_n(0u32, t - ex.tokens.len()));
        // Position p predicts token p + 1.
        for p in ex.prompt_len - 1..ex.tokens.len() - 1 {
            rows.push((i * t + p) as u32);
            targets.push(ex.tokens[p + 1]);
        }
    }
    if rows.is_empty() {
        return Err(FinetuneError::Invalid("a batch has no reply tokens".into()));
    }
    let dev = base.device();
    Ok(Batch {
        tokens: Tensor::from_vec(flat, (batch.len(), t), dev)?,
        rows: Tensor::new(rows.as_slice(), dev)?,
        targets: Tensor::new(targets.as_slice(), dev)?,
    })
}

/// The loss of the final residual stream `x` (`(b, t, n_embd)`): only the target
/// positions go through the (vocabulary-wide) output head.
fn head_loss(base: &BaseModel, x: &Tensor, b: &Batch) -> Result<Tensor> {
    let (n, t, e) = x.dims3()?;
    let hidden = base.final_norm(x)?.reshape((n * t, e))?;
    let picked = hidden.index_select(&b.rows, 0)?;
    let logits = base.logits(&picked)?;
    Ok(candle_nn::loss::cross_entropy(&logits, &b.targets)?)
}

/// Mean cross-entropy over the reply tokens of a batch (right-padded; causal attention
/// keeps padding out of every real position), with the whole graph kept: one
/// `backward()` gives every gradient. [`batch_grads`] gives the same gradients in a
/// fraction of the memory.
pub fn batch_loss(
    base: &BaseModel,
    lora: Option<&LoraAdapter>,
    batch: &[&EncodedExample],
) -> Result<Tensor> {
    let b = make_batch(base, batch)?;
    let (_, t) = b.tokens.dims2()?;
    let pos = base.positions(t)?;
    let mut x = base.embed(&b.tokens)?;
    for l in 0..base.n_layer() {
        x = base.block(l, &x, &pos, lora, Grad::Track)?;
    }
    head_loss(base, &x, &b)
}

/// The loss of a batch and the gradients of the adapter's matrices, by activation
/// checkpointing at block boundaries: a forward pass keeps only each block's input
/// (no graph); then, from the top, each block is run again with its graph, and
/// candle's autograd takes the gradient arriving at its output back to its input and
/// its LoRA matrices. Only one block's graph is alive at a time, so memory grows
/// with one block's activations, not the whole stack's: the whole-graph pass
/// ([`batch_loss`] then `backward`) keeps every attention matrix of every block, over
/// 20 GiB for four 488-token examples, where this keeps under 1 GiB.
pub fn batch_grads(
    base: &BaseModel,
    lora: &LoraAdapter,
    batch: &[&EncodedExample],
) -> Result<(f32, GradStore)> {
    let b = make_batch(base, batch)?;
    let (_, t) = b.tokens.dims2()?;
    let pos = base.positions(t)?;
    let mut inputs = Vec::with_capacity(base.n_layer() + 1);
    inputs.push(base.embed(&b.tokens)?);
    for l in 0..base.n_layer() {
        let x = base.block(l, &inputs[l], &pos, Some(lora), Grad::None)?;
        inputs.push(x);
    }
    let top = Var::from_tensor(&inputs[base.n_layer()])?;
    let loss = head_loss(base, top.as_tensor(), &b)?;
    let mut grads = loss.backward()?;
    let mut upstream = grads
        .remove(top.as_tensor())
        .ok_or_else(|| FinetuneError::Invalid("the loss does not depend on the model".into()))?;
    for l in (0..base.n_layer()).rev() {
        let x = Var::from_tensor(&inputs[l])?;
        let y = base.block(l, x.as_tensor(), &pos, Some(lora), Grad::Track)?;
        // d(sum(y * g))/dθ is g's vector-Jacobian product: the chain rule through
        // block l for the gradient g that reached its output.
        let mut g = (y * &upstream)?.sum_all()?.backward()?;
        for var in lora.layer_vars(l) {
            if let Some(d) = g.remove(var.as_tensor()) {
                grads.insert(var.as_tensor(), d);
            }
        }
        if l > 0 {
            upstream = g.remove(x.as_tensor()).ok_or_else(|| {
                FinetuneError::Invalid(format!("block {l} does not depend on its input"))
            })?;
        }
        inputs.truncate(l);
    }
    Ok((loss.to_scalar::<f32>()?, grads))
}

/// Trains a LoRA adapter on `data` and returns it. With a checkpoint path in `opts`,
/// resumes from it when it holds this run's state, and writes it after every epoch.
pub fn train(
    base: &BaseModel,
    cfg: &LoraConfig,
    data: &[EncodedExample],
    mut opts: TrainOptions<'_>,
) -> Result<LoraAdapter> {
    cfg.validate()?;
    if data.is_empty() {
        return Err(FinetuneError::Invalid("no training examples".into()));
    }
    let print = fingerprint(cfg, data);
    let params = ParamsAdamW {
        lr: cfg.learning_rate,
        ..ParamsAdamW::default()
    };
    let resumed = match &opts.checkpoint {
        Some(p) if p.exists() => {
            let (adapter, state) = read_checkpoint(p)?;
            if state.fingerprint != print {
                return Err(FinetuneError::Invalid(format!(
                    "checkpoint {} was made by other settings or data; remove it to start over",
                    p.display()
                )));
            }
            Some((adapter, state))
        }
        _ => None,
    };
    let (lora, mut opt, first_epoch) = match resumed {
        Some((adapter, state)) => {
            let mut opt = AdamW::new(adapter.vars(), params)?;
            opt.restore(state.step, &state.moments)?;
            (adapter, opt, state.epochs_done)
        }
        None => {
            let adapter = LoraAdapter::init(
                cfg,
                base.cfg.n_layer,
                |t| base.target_shape(t),
                base.device(),
            )?;
            let opt = AdamW::new(adapter.vars(), params)?;
            (adapter, opt, 0)
        }
    };
    let per_epoch = steps_per_epoch(data.len(), cfg.batch_size);
    let total_steps = per_epoch * cfg.epochs;
    for epoch in first_epoch..cfg.epochs {
        if opts.stop_after_epochs.is_some_and(|n| epoch >= n) {
            break;
        }
        let order = epoch_order(cfg.seed, epoch, data.len());
        for chunk in order.chunks(cfg.batch_size) {
            let started = Instant::now();
            let batch: Vec<&EncodedExample> = chunk.iter().map(|&i| &data[i]).collect();
            let (loss, grads) = batch_grads(base, &lora, &batch)?;
            opt.step(&grads)?;
            let n_tok: usize = batch.iter().map(|e| e.tokens.len()).sum();
            (opts.on_progress)(&Progress {
                epoch,
                step: opt.step_count(),
                total_steps,
                loss,
                tokens_per_s: n_tok as f64 / started.elapsed().as_secs_f64().max(1e-9),
            });
        }
        if let Some(path) = &opts.checkpoint {
            let state = CheckpointState {
                epochs_done: epoch + 1,
                step: opt.step_count(),
                moments: opt.moments(),
                fingerprint: print.clone(),
            };
            write_checkpoint(path, &lora, "llama", &state)?;
        }
    }
    Ok(lora)
}

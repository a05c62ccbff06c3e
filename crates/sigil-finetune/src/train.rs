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
    /// Run a batch's shared token prefix once ([`batch_grads`]; the default) or each
    /// example whole (the same gradients, slower; for measuring the difference).
    pub share_prefix: bool,
}

impl Default for TrainOptions<'_> {
    fn default() -> Self {
        TrainOptions {
            checkpoint: None,
            stop_after_epochs: None,
            on_progress: Box::new(|_| {}),
            share_prefix: true,
        }
    }
}

impl<'a> TrainOptions<'a> {
    /// Options whose progress drives an `indicatif` bar on stderr showing loss and
    /// tokens/s.
    pub fn with_progress_bar(total_steps: usize) -> TrainOptions<'a> {
        TrainOptions {
            on_progress: progress_bar_callback(progress_bar(total_steps)),
            ..TrainOptions::default()
        }
    }
}

/// The training bar: steps done of `total_steps`, the epoch, and the step's loss and
/// tokens/s in its message.
pub fn progress_bar(total_steps: usize) -> indicatif::ProgressBar {
    let bar = indicatif::ProgressBar::new(total_steps as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:30} {pos}/{len} steps  epoch {prefix}  {msg}  [{elapsed_precise}]",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    bar
}

/// A progress callback that moves `bar` and writes the loss and speed into its message.
pub fn progress_bar_callback<'a>(bar: indicatif::ProgressBar) -> Box<dyn FnMut(&Progress) + 'a> {
    Box::new(move |p: &Progress| {
        bar.set_length(p.total_steps as u64);
        bar.set_position(p.step as u64);
        bar.set_prefix(format!("{}", p.epoch + 1));
        bar.set_message(format!("loss {:.4}  {:.0} tok/s", p.loss, p.tokens_per_s));
        if p.step == p.total_steps {
            bar.finish();
        }
    })
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

/// The shortest shared prefix worth computing once: below it the split costs more
/// than it saves.
const MIN_SHARED_PREFIX: usize = 16;

/// The batch's shared token prefix: the longest common prefix of its examples, cut so
/// every example keeps its whole reply (and the position that predicts its first
/// token) after it; 0 for one example or a prefix too short to pay.
pub fn shared_prefix_len(batch: &[&EncodedExample]) -> usize {
    let Some((first, rest)) = batch.split_first() else {
        return 0;
    };
    if rest.is_empty() {
        return 0;
    }
    let mut n = first.prompt_len.saturating_sub(1);
    for ex in rest {
        n = n.min(ex.prompt_len.saturating_sub(1));
        n = first.tokens[..n]
            .iter()
            .zip(&ex.tokens)
            .take_while(|(a, b)| a == b)
            .count();
    }
    if n < MIN_SHARED_PREFIX { 0 } else { n }
}

/// A batch split at its shared prefix: the prefix tokens `(1, p)` and the rest of each
/// example, right-padded `(b, t)`, with the rows (in the rest) that predict reply tokens.
struct SplitBatch {
    prefix: Tensor,
    rest: Batch,
}

fn split_batch(base: &BaseModel, batch: &[&EncodedExample], p: usize) -> Result<SplitBatch> {
    let dev = base.device();
    let t = batch.iter().map(|e| e.tokens.len() - p).max().unwrap_or(0);
    let mut flat = Vec::with_capacity(batch.len() * t);
    let (mut rows, mut targets) = (Vec::new(), Vec::new());
    for (i, ex) in batch.iter().enumerate() {
        flat.extend(&ex.tokens[p..]);
        flat.extend(std::iter::repeat_n(0u32, t - (ex.tokens.len() - p)));
        for q in ex.prompt_len - 1..ex.tokens.len() - 1 {
            rows.push((i * t + q - p) as u32);
            targets.push(ex.tokens[q + 1]);
        }
    }
    if rows.is_empty() {
        return Err(FinetuneError::Invalid("a batch has no reply tokens".into()));
    }
    Ok(SplitBatch {
        prefix: Tensor::new(&batch[0].tokens[..p], dev)?.unsqueeze(0)?,
        rest: Batch {
            tokens: Tensor::from_vec(flat, (batch.len(), t), dev)?,
            rows: Tensor::new(rows.as_slice(), dev)?,
            targets: Tensor::new(targets.as_slice(), dev)?,
        },
    })
}

/// The loss of a batch and the gradients of the adapter's matrices, by activation
/// checkpointing at block boundaries: a forward pass keeps only each block's input
/// (no graph); then, from the top, each block is run again with its graph, and
/// candle's autograd takes the gradient arriving at its output back to its input and
/// its LoRA matrices. Only one block's graph is alive at a time, so memory grows
/// with one block's activations, not the whole stack's: the whole-graph pass
/// ([`batch_loss`] then `backward`) keeps every attention matrix of every block, over
/// 20 GiB for four 488-token examples, where this keeps under 2 GiB.
///
/// The token prefix the batch's examples share (the system message and the start of
/// the user turn, for examples of one predictor; see [`shared_prefix_len`]) is run
/// once, and every example attends to it ([`BaseModel::block_with_prefix`]): the same
/// loss and gradients as running each example whole, for a fraction of the work.
pub fn batch_grads(
    base: &BaseModel,
    lora: &LoraAdapter,
    batch: &[&EncodedExample],
) -> Result<(f32, GradStore)> {
    let p = shared_prefix_len(batch);
    batch_grads_with_prefix(base, lora, batch, p)
}

/// [`batch_grads`] with the shared prefix cut at `p` tokens (0: none). `p` must not
/// exceed [`shared_prefix_len`]'s bound (every example shares it and keeps its reply
/// after it).
pub fn batch_grads_with_prefix(
    base: &BaseModel,
    lora: &LoraAdapter,
    batch: &[&EncodedExample],
    p: usize,
) -> Result<(f32, GradStore)> {
    if p > 0
        && batch
            .iter()
            .any(|e| e.prompt_len <= p || e.tokens[..p] != batch[0].tokens[..p])
    {
        return Err(FinetuneError::Invalid(format!(
            "the batch does not share a {p}-token prefix before its replies"
        )));
    }
    let sb = split_batch(base, batch, p)?;
    let b = &sb.rest;
    let (_, t) = b.tokens.dims2()?;
    let pos = base.positions(p + t)?;
    let n = base.n_layer();
    // Each block's input: the prefix stream (when shared) and the rows.
    let mut inputs: Vec<(Option<Tensor>, Tensor)> = Vec::with_capacity(n + 1);
    let prefix0 = if p > 0 {
        Some(base.embed(&sb.prefix)?)
    } else {
        None
    };
    inputs.push((prefix0, base.embed(&b.tokens)?));
    for l in 0..n {
        let (px, x) = &inputs[l];
        let next = base.block_with_prefix(l, px.as_ref(), x, &pos, Some(lora), Grad::None)?;
        inputs.push(next);
    }
    let top = Var::from_tensor(&inputs[n].1)?;
    let loss = head_loss(base, top.as_tensor(), b)?;
    let mut grads = loss.backward()?;
    let mut upstream = grads
        .remove(top.as_tensor())
        .ok_or_else(|| FinetuneError::Invalid("the loss does not depend on the model".into()))?;
    // The top block's prefix output feeds nothing: no gradient arrives there.
    let mut upstream_prefix: Option<Tensor> = None;
    for l in (0..n).rev() {
        let (px, x) = &inputs[l];
        let xv = Var::from_tensor(x)?;
        let pv = px.as_ref().map(Var::from_tensor).transpose()?;
        let (py, y) = base.block_with_prefix(
            l,
            pv.as_ref().map(Var::as_tensor),
            xv.as_tensor(),
            &pos,
            Some(lora),
            Grad::Track,
        )?;
        // d(sum(y * g))/dθ is g's vector-Jacobian product: the chain rule through
        // block l for the gradient g that reached its outputs.
        let mut surrogate = (y * &upstream)?.sum_all()?;
        if let (Some(py), Some(gp)) = (py, upstream_prefix.as_ref()) {
            surrogate = (surrogate + (py * gp)?.sum_all()?)?;
        }
        let mut g = surrogate.backward()?;
        for var in lora.layer_vars(l) {
            if let Some(d) = g.remove(var.as_tensor()) {
                grads.insert(var.as_tensor(), d);
            }
        }
        if l > 0 {
            upstream = g.remove(xv.as_tensor()).ok_or_else(|| {
                FinetuneError::Invalid(format!("block {l} does not depend on its input"))
            })?;
            upstream_prefix = pv.as_ref().and_then(|v| g.remove(v.as_tensor()));
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
            let p = if opts.share_prefix {
                shared_prefix_len(&batch)
            } else {
                0
            };
            let (loss, grads) = batch_grads_with_prefix(base, &lora, &batch, p)?;
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

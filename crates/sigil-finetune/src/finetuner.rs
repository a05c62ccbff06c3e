//! The local LoRA trainer as a `sigil::optimize::Finetuner`, so `BootstrapFinetune`
//! (and `BetterTogether`) train the embedded model on the CPU.

use std::path::{Path, PathBuf};

use async_trait::async_trait;
use sha2::Digest;
use sigil::lm::Role;
use sigil::optimize::{FinetuneError as JobError, FinetuneJob, FinetunedModel, Finetuner};

use crate::adapter_file::write_adapter;
use crate::base::BaseModel;
use crate::data::{ChatExample, EncodedExample};
use crate::lora::LoraConfig;
use crate::train::{Progress, TrainOptions, train};

/// Trains a LoRA adapter of a local GGUF model on a job's examples and writes it to a
/// directory, named by the hash of its settings and data (so the same job gives the
/// same file, and a stopped job resumes from its checkpoint beside it).
#[derive(Clone, Debug)]
pub struct LocalLoraFinetuner {
    model: PathBuf,
    out_dir: PathBuf,
    config: LoraConfig,
    bar: Option<indicatif::ProgressBar>,
}

impl LocalLoraFinetuner {
    /// Fine-tunes the GGUF model at `model`, writing adapters into `out_dir`, with
    /// `config` (a job's epochs, batch size, learning rate and seed override it).
    pub fn new(model: impl Into<PathBuf>, out_dir: impl Into<PathBuf>, config: LoraConfig) -> Self {
        LocalLoraFinetuner {
            model: model.into(),
            out_dir: out_dir.into(),
            config,
            bar: None,
        }
    }

    /// Shows training on `bar` (its length is set to the run's steps): the steps done,
    /// the epoch, the step's loss and tokens/s. [`crate::progress_bar`] makes one for
    /// stderr; a hidden bar lets a caller read its state.
    pub fn progress_bar(mut self, bar: indicatif::ProgressBar) -> Self {
        self.bar = Some(bar);
        self
    }

    /// The settings a job runs with: this trainer's, with the job's overrides.
    fn config_for(&self, job: &FinetuneJob<'_>) -> LoraConfig {
        let mut c = self.config.clone();
        let s = job.settings;
        if let Some(n) = s.epochs {
            c.epochs = n as usize;
        }
        if let Some(n) = s.batch_size {
            c.batch_size = n as usize;
        }
        if let Some(lr) = s.learning_rate {
            c.learning_rate = lr;
        }
        if let Some(seed) = s.seed {
            c.seed = seed;
        }
        c
    }

    fn run(&self, job: &FinetuneJob<'_>) -> Result<FinetunedModel, JobError> {
        let fail = |e: crate::FinetuneError| JobError::Config(e.to_string());
        let cfg = self.config_for(job);
        let examples: Vec<ChatExample> = job
            .examples
            .iter()
            .filter_map(|e| {
                let (last, before) = e.messages.split_last()?;
                (last.role == Role::Assistant).then(|| ChatExample {
                    messages: before.to_vec(),
                    completion: last.content.clone(),
                })
            })
            .collect();
        if examples.is_empty() {
            return Err(JobError::NoData);
        }
        // One read of the file: the tokenizer and template to encode the examples, and
        // the weights to train on.
        let cannot = |e: sigil_local::LocalError| {
            JobError::Config(format!("cannot load {}: {e}", self.model.display()))
        };
        let g = sigil_local::gguf::Gguf::open(&self.model).map_err(cannot)?;
        let (tokenizer, template) = sigil_local::engine::text_side(&g).map_err(cannot)?;
        let data = examples
            .iter()
            .map(|ex| EncodedExample::new(ex, &tokenizer, &template, cfg.max_seq_len))
            .collect::<crate::Result<Vec<_>>>()
            .map_err(fail)?;
        let base = BaseModel::from_gguf(&g).map_err(fail)?;
        drop(g);

        // The file name: what the run depends on, hashed.
        let mut h = sha2::Sha256::new();
        h.update(format!("{cfg:?}").as_bytes());
        h.update(self.model.display().to_string().as_bytes());
        for e in job.examples {
            h.update(e.jsonl_line().as_bytes());
        }
        let stem = format!("lora-{}", &hex::encode(h.finalize())[..16]);
        std::fs::create_dir_all(&self.out_dir).map_err(|e| {
            JobError::Config(format!("cannot create {}: {e}", self.out_dir.display()))
        })?;
        let adapter_path = self.out_dir.join(format!("{stem}.gguf"));
        let checkpoint = self.out_dir.join(format!("{stem}.checkpoint.gguf"));

        // Per epoch: its mean step loss and speed, reported as the epoch ends.
        let mut curve = Vec::new();
        let mut current: Option<(usize, Vec<f32>, Vec<f64>)> = None;
        let progress = job.progress;
        let close = |epoch: &mut Option<(usize, Vec<f32>, Vec<f64>)>, curve: &mut Vec<f64>| {
            if let Some((e, losses, speeds)) = epoch.take() {
                let loss = losses.iter().map(|l| f64::from(*l)).sum::<f64>() / losses.len() as f64;
                let speed = speeds.iter().sum::<f64>() / speeds.len() as f64;
                progress.epoch_ended(e as u64 + 1, loss, speed);
                curve.push(loss);
            }
        };
        let mut bar = self.bar.clone().map(crate::train::progress_bar_callback);
        let adapter = {
            let on_progress = |p: &Progress| {
                if let Some(b) = bar.as_mut() {
                    b(p);
                }
                if current.as_ref().is_none_or(|(e, _, _)| *e != p.epoch) {
                    close(&mut current, &mut curve);
                    progress.epoch_started(p.epoch as u64 + 1);
                    current = Some((p.epoch, Vec::new(), Vec::new()));
                }
                if let Some((_, losses, speeds)) = current.as_mut() {
                    losses.push(p.loss);
                    speeds.push(p.tokens_per_s);
                }
            };
            let opts = TrainOptions {
                checkpoint: Some(checkpoint.clone()),
                stop_after_epochs: None,
                on_progress: Box::new(on_progress),
                share_prefix: true,
            };
            train(&base, &cfg, &data, opts).map_err(fail)?
        };
        close(&mut current, &mut curve);
        write_adapter(&adapter_path, &adapter, "llama").map_err(fail)?;
        let _ = std::fs::remove_file(&checkpoint);
        let trained: usize = data.iter().map(|d| d.tokens.len()).sum::<usize>() * cfg.epochs;
        Ok(FinetunedModel {
            model_id: file_name(&adapter_path),
            base_model: self.model.display().to_string(),
            adapter: Some(adapter_path),
            job_id: None,
            trained_tokens: Some(trained as u64),
            examples: examples.len(),
            loss_curve: curve,
        })
    }
}

fn file_name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[async_trait]
impl Finetuner for LocalLoraFinetuner {
    fn name(&self) -> &str {
        "local-lora"
    }

    /// Trains on the calling thread: the job is CPU-bound, so on a multi-threaded
    /// runtime the worker is handed over for its length (`block_in_place`).
    async fn finetune(&self, job: FinetuneJob<'_>) -> Result<FinetunedModel, JobError> {
        let multi = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if multi {
            tokio::task::block_in_place(|| self.run(&job))
        } else {
            self.run(&job)
        }
    }
}

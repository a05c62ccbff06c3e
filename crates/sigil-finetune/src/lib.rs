//! LoRA fine-tuning of Sigil's embedded GGUF model on the CPU.
//!
//! The base model's weights are read by `sigil-local` from the GGUF file, dequantized
//! to f32 and frozen ([`BaseModel`]); a llama forward pass written with candle's
//! tensor operations runs over them, and candle's autograd gives the gradients of the
//! only trainable tensors, the LoRA matrices ([`LoraAdapter`]). Training data are
//! chats tokenized with the model's own chat template exactly as `sigil-local` renders
//! a prompt ([`EncodedExample`]); the loss is on the reply tokens only. The result is
//! written as a GGUF LoRA adapter in llama.cpp's layout ([`write_adapter`]).
//!
//! The whole run is deterministic: the same settings (seed included) and data give
//! byte-identical adapter files, and a run stopped after an epoch resumes from its
//! checkpoint to the same bytes.
//!
//! ```no_run
//! use sigil_finetune::*;
//! # fn main() -> Result<()> {
//! let path = std::path::Path::new("SmolLM2-135M-Instruct.Q4_1.gguf");
//! let local = sigil_local::Model::load(path)?;
//! let base = BaseModel::load(path)?;
//! let cfg = LoraConfig { epochs: 2, learning_rate: 1e-3, ..LoraConfig::default() };
//! let data = [ChatExample::user("Capital of France?", "Paris")]
//!     .iter()
//!     .map(|ex| EncodedExample::new(ex, &local.tokenizer, &local.template, cfg.max_seq_len))
//!     .collect::<Result<Vec<_>>>()?;
//! let steps = steps_per_epoch(data.len(), cfg.batch_size) * cfg.epochs;
//! let adapter = train(&base, &cfg, &data, TrainOptions::with_progress_bar(steps))?;
//! write_adapter(std::path::Path::new("adapter.gguf"), &adapter, "llama")?;
//! # Ok(()) }
//! ```

#![warn(missing_docs)]

mod adapter_file;
mod base;
mod data;
mod error;
mod finetuner;
mod lora;
mod ops;
mod optim;
mod train;

pub use adapter_file::{
    CheckpointState, adapter_bytes, read_adapter, read_checkpoint, write_adapter, write_checkpoint,
};
pub use base::{BaseModel, Grad, Positions, argmax};
pub use data::{ChatExample, EncodedExample};
pub use error::{FinetuneError, Result};
pub use finetuner::LocalLoraFinetuner;
pub use lora::{LoraAdapter, LoraConfig, Target};
pub use optim::AdamW;
pub use train::{
    Progress, TrainOptions, batch_grads, batch_grads_with_prefix, batch_loss, progress_bar,
    progress_bar_callback, shared_prefix_len, steps_per_epoch, train,
};

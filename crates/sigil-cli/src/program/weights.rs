//! Weight optimization from a program file: the trainer a `bootstrap_finetune` or
//! `better_together` optimizer uses, and the LM that calls what it trained. The
//! embedded model trains a LoRA adapter on the CPU (`sigil-finetune`) and runs it on the
//! embedded engine; an `openai/` model runs a fine-tuning job on its server and is
//! called by the new model id.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, anyhow, bail};
use async_trait::async_trait;
use sigil::evaluate::Metric;
use sigil::lm::{Lm, LmError, LmRequest, LmResponse, OpenAiFinetuner, lm_from_config};
use sigil::optimize::{
    BootstrapFinetune, FinetuneDataSettings, FinetunedModel, Finetuner, LmOf, TrainSettings,
};
use sigil_finetune::{LocalLoraFinetuner, LoraConfig, Target};

use super::{Built, ProgramFile};

/// What a weight stage needs, built from the program file and its LM.
pub struct Weights {
    pub finetuner: Arc<dyn Finetuner>,
    pub base_model: String,
    pub lm_of: LmOf,
    pub settings: TrainSettings,
    pub data: FinetuneDataSettings,
    pub multitask: bool,
}

impl Weights {
    /// The `BootstrapFinetune` optimizer these settings make.
    pub fn bootstrap_finetune(&self, metric: impl Metric + 'static) -> BootstrapFinetune {
        BootstrapFinetune::new(metric, self.finetuner.clone(), self.base_model.clone())
            .multitask(self.multitask)
            .train_settings(self.settings.clone())
            .data_settings(self.data.clone())
    }

    /// The trainer's name, as artifacts record it.
    pub fn trainer(&self) -> &str {
        self.finetuner.name()
    }
}

/// Defaults for the embedded model: every matrix of every block at rank 8, which on
/// the 135M model learns a classification task in one or two epochs.
fn lora_config(pf: &ProgramFile) -> LoraConfig {
    let f = pf
        .spec
        .optimizer
        .as_ref()
        .and_then(|o| o.finetune.clone())
        .unwrap_or_default();
    let seed = pf.spec.optimizer.as_ref().and_then(|o| o.seed).unwrap_or(0);
    LoraConfig {
        rank: f.rank.unwrap_or(8),
        alpha: f.alpha.unwrap_or(16.0),
        targets: match &f.targets {
            // validate() refused unknown names.
            Some(t) => t
                .get_ref()
                .iter()
                .filter_map(|n| Target::from_gguf_name(n))
                .collect(),
            None => Target::ALL.to_vec(),
        },
        learning_rate: f.learning_rate.unwrap_or(5e-4),
        epochs: f.epochs.unwrap_or(2) as usize,
        batch_size: f.batch_size.unwrap_or(4) as usize,
        seed,
        max_seq_len: f.max_seq_len.unwrap_or(1024),
    }
}

/// The trainer and the trained model's LM for the program's LM.
pub fn build_weights(
    pf: &ProgramFile,
    built: &Built,
    concurrency: usize,
    progress: bool,
) -> anyhow::Result<Weights> {
    let o = pf
        .spec
        .optimizer
        .as_ref()
        .ok_or_else(|| anyhow!("{}: no [optimizer] table", pf.path.display()))?;
    let f = o.finetune.clone().unwrap_or_default();
    let data = FinetuneDataSettings {
        threshold: o.threshold,
        exclude_demos: f.exclude_demos.unwrap_or(false),
        concurrency,
        seed: o.seed.unwrap_or(0),
        from_labels: f.data.as_ref().is_some_and(|d| d.get_ref() == "labels"),
    };
    let multitask = f.multitask.unwrap_or(true);
    if let Some(base) = &built.local_model {
        let cfg = lora_config(pf);
        let settings = TrainSettings {
            epochs: Some(cfg.epochs as u32),
            batch_size: Some(cfg.batch_size as u32),
            learning_rate: Some(cfg.learning_rate),
            seed: Some(cfg.seed),
            suffix: None,
        };
        let out_dir = f
            .out_dir
            .as_deref()
            .map(|d| pf.resolve(d))
            .unwrap_or_else(|| PathBuf::from(".sigil").join("adapters"));
        let mut finetuner = LocalLoraFinetuner::new(base.clone(), out_dir, cfg);
        if progress {
            finetuner = finetuner.progress_bar(sigil_finetune::progress_bar(0));
        }
        let base_path = base.clone();
        let lm_of: LmOf = Arc::new(move |m: &FinetunedModel| -> Arc<dyn Lm> {
            let config = sigil_local::LocalConfig {
                lora: m.adapter.clone(),
                ..sigil_local::LocalConfig::default()
            };
            match sigil_local::LocalLm::load(&base_path, config) {
                Ok(lm) => Arc::new(lm),
                Err(e) => Arc::new(Unavailable {
                    model: m.model_id.clone(),
                    why: format!(
                        "cannot load {} with the adapter {}: {e}",
                        base_path.display(),
                        m.adapter
                            .as_ref()
                            .map(|p| p.display().to_string())
                            .unwrap_or_default()
                    ),
                }),
            }
        });
        return Ok(Weights {
            finetuner: Arc::new(finetuner),
            base_model: base.display().to_string(),
            lm_of,
            settings,
            data,
            multitask,
        });
    }
    let Some(hosted) = built.hosted.clone() else {
        bail!("weight optimization needs the embedded model or an openai/ model");
    };
    let Some(base) = hosted.model.strip_prefix("openai/").map(str::to_string) else {
        bail!(
            "{} has no fine-tuning API here; fine-tune the embedded model (lm.model = \"local\") or an openai/ model",
            hosted.model
        );
    };
    let mut finetuner = match &pf.spec.lm.base_url {
        Some(url) => OpenAiFinetuner::new(url.clone()),
        None => OpenAiFinetuner::from_env(),
    };
    if let Some(var) = &pf.spec.lm.api_key_env {
        let key = std::env::var(var)
            .with_context(|| format!("lm.api_key_env names {var}, which is not set"))?;
        finetuner = finetuner.api_key(key);
    }
    let settings = TrainSettings {
        epochs: f.epochs,
        batch_size: f.batch_size,
        learning_rate: f.learning_rate,
        seed: o.seed,
        suffix: Some(pf.spec.name.clone()),
    };
    let lm_of: LmOf = Arc::new(move |m: &FinetunedModel| -> Arc<dyn Lm> {
        let mut c = hosted.clone();
        c.model = format!("openai/{}", m.model_id);
        match lm_from_config(c) {
            Ok(lm) => lm,
            Err(e) => Arc::new(Unavailable {
                model: m.model_id.clone(),
                why: e.to_string(),
            }),
        }
    });
    Ok(Weights {
        finetuner: Arc::new(finetuner),
        base_model: base,
        lm_of,
        settings,
        data,
        multitask,
    })
}

/// A trained model that could not be opened: every call fails with the reason, so
/// the evaluation that follows reports it instead of the program silently running on
/// the base model.
struct Unavailable {
    model: String,
    why: String,
}

#[async_trait]
impl Lm for Unavailable {
    fn model_id(&self) -> String {
        self.model.clone()
    }

    async fn call(&self, _request: LmRequest) -> Result<LmResponse, LmError> {
        Err(LmError::Config(self.why.clone()))
    }
}

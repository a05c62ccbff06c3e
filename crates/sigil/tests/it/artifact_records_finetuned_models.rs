//! An artifact records the models a BootstrapFinetune run trained: predictor paths,
//! model id, base model (and its file's hash when local), adapter file and its hash,
//! job id, training settings, the training data's hash and size, and the loss curve.
//! The section survives save and load; `show` prints it and `diff` sees it change.

use std::sync::Arc;

use async_trait::async_trait;
use sigil::artifact::{Artifact, ArtifactDiff, Provenance, ShowOptions};
use sigil::module::{Ctx, Predict};
use sigil::optimize::{
    BootstrapFinetune, Compiled, FinetuneError, FinetuneJob, FinetunedModel, Finetuner,
    LabeledFewShot, Optimizer, TrainSettings,
};
use sigil::prelude::*;
use sigil_testkit::{ScriptedLm, chat};

struct FileTrainer {
    dir: std::path::PathBuf,
}

#[async_trait]
impl Finetuner for FileTrainer {
    fn name(&self) -> &str {
        "local-lora"
    }
    async fn finetune(&self, job: FinetuneJob<'_>) -> Result<FinetunedModel, FinetuneError> {
        let adapter = self.dir.join("adapter.gguf");
        std::fs::write(&adapter, b"GGUF fake adapter bytes").unwrap();
        Ok(FinetunedModel {
            model_id: "smollm2+adapter".into(),
            base_model: job.base_model.into(),
            adapter: Some(adapter),
            job_id: None,
            trained_tokens: Some(100),
            examples: job.examples.len(),
            loss_curve: vec![1.5, 0.75],
        })
    }
}

fn exact(example: &Example, prediction: &Prediction) -> f64 {
    f64::from(u8::from(
        example.get_str("answer") == prediction.get_str("answer"),
    ))
}

#[tokio::test]
async fn the_fine_tuned_model_section_round_trips_and_shows() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("base.gguf");
    std::fs::write(&base, b"base model bytes").unwrap();
    let program = Predict::parse("question -> answer").unwrap();
    let train = [Example::new().input("question", "2+2?").set("answer", "4")];
    let ctx = Ctx::new(Arc::new(ScriptedLm::new([chat(&[("answer", "4")])])));
    let settings = TrainSettings {
        epochs: Some(2),
        seed: Some(3),
        ..Default::default()
    };
    let outcome = BootstrapFinetune::new(
        exact,
        Arc::new(FileTrainer {
            dir: dir.path().to_path_buf(),
        }),
        base.display().to_string(),
    )
    .train_settings(settings.clone())
    .compile(&program, &train, &[], &ctx)
    .await
    .unwrap();
    let compiled: Compiled = LabeledFewShot::new(0)
        .compile(&program, &train, &[], &ctx)
        .await
        .unwrap();
    let plain = Artifact::build(
        &program,
        &compiled,
        &sigil::adapter::ChatAdapter,
        Provenance::new("local/smollm2"),
    )
    .unwrap();
    let tuned = plain
        .clone()
        .with_finetuned(&outcome, "local-lora", &settings)
        .unwrap();
    let f = &tuned.finetuned[0];
    assert_eq!(f.paths, [""]);
    assert_eq!(f.model_id, "smollm2+adapter");
    assert_eq!(f.trainer, "local-lora");
    assert_eq!(f.settings, settings);
    assert_eq!(f.data.size, 1);
    assert_eq!(f.loss_curve, [1.5, 0.75]);
    let sha = |b: &[u8]| {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(b))
    };
    assert_eq!(
        f.base_model_sha256.as_deref(),
        Some(sha(b"base model bytes").as_str())
    );
    assert_eq!(
        f.adapter_sha256.as_deref(),
        Some(sha(b"GGUF fake adapter bytes").as_str())
    );
    let line = outcome.data.examples[0].jsonl_line() + "\n";
    assert_eq!(f.data.sha256, sha(line.as_bytes()));

    let path = dir.path().join("program.sigil.toml");
    tuned.save(&path).unwrap();
    let loaded = Artifact::load(&path).unwrap();
    assert_eq!(loaded, tuned);
    assert!(
        std::fs::read_to_string(&path)
            .unwrap()
            .contains("[[finetuned]]")
    );
    let shown = sigil::artifact::show_text(&loaded, None, ShowOptions { color: false });
    assert!(shown.contains("Fine-tuned model (local-lora)"), "{shown}");
    assert!(shown.contains("model       smollm2+adapter"), "{shown}");
    assert!(shown.contains("loss        1.5000 → 0.7500"), "{shown}");
    let diff = ArtifactDiff::new("plain", &plain, "tuned", &tuned);
    let row = diff
        .provenance
        .iter()
        .find(|r| r.key == "fine-tuned")
        .unwrap();
    assert!(row.a.is_none() && row.b.as_deref().unwrap().contains("smollm2+adapter"));

    // A missing adapter file is a clear error naming it.
    std::fs::remove_file(dir.path().join("adapter.gguf")).unwrap();
    let err = plain
        .with_finetuned(&outcome, "local-lora", &settings)
        .unwrap_err();
    assert!(err.to_string().contains("adapter.gguf"), "{err}");
}

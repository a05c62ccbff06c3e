//! A fine-tuning job is a span (trainer, base model, examples, settings; the model it
//! made and the loss curve) with a child span per epoch (loss, tokens/s); a job that
//! fails ends its span with the error.

use std::sync::Arc;

use async_trait::async_trait;
use sigil::module::{Ctx, Predict};
use sigil::optimize::{
    BootstrapFinetune, FinetuneError, FinetuneJob, FinetunedModel, Finetuner, OptimizeError,
    TrainSettings,
};
use sigil::prelude::*;
use sigil::trace::{SpanKind, SpanStatus, keys};
use sigil_testkit::{ScriptedLm, chat};

struct Epochs {
    fail: bool,
}

#[async_trait]
impl Finetuner for Epochs {
    fn name(&self) -> &str {
        "fake-epochs"
    }
    async fn finetune(&self, job: FinetuneJob<'_>) -> Result<FinetunedModel, FinetuneError> {
        let mut curve = Vec::new();
        for epoch in 1..=2u64 {
            job.progress.epoch_started(epoch);
            let loss = 2.0 / epoch as f64;
            job.progress.epoch_ended(epoch, loss, 1000.0 * epoch as f64);
            curve.push(loss);
        }
        if self.fail {
            return Err(FinetuneError::Config("out of disk".into()));
        }
        Ok(FinetunedModel {
            model_id: "tuned.gguf".into(),
            base_model: job.base_model.into(),
            adapter: None,
            job_id: None,
            trained_tokens: Some(321),
            examples: job.examples.len(),
            loss_curve: curve,
        })
    }
}

fn exact(example: &Example, prediction: &Prediction) -> f64 {
    f64::from(u8::from(
        example.get_str("answer") == prediction.get_str("answer"),
    ))
}

async fn run(fail: bool) -> (Result<(), OptimizeError>, Vec<sigil::trace::Span>) {
    let (collector, sink) = crate::trace_support::memory_collector();
    let ctx = Ctx::new(Arc::new(ScriptedLm::new([chat(&[("answer", "4")])])))
        .with_hook(collector.clone());
    let program = Predict::parse("question -> answer").unwrap();
    let train = [Example::new().input("question", "2+2?").set("answer", "4")];
    let result = BootstrapFinetune::new(exact, Arc::new(Epochs { fail }), "smollm2")
        .train_settings(TrainSettings {
            epochs: Some(2),
            ..Default::default()
        })
        .compile(&program, &train, &[], &ctx)
        .await
        .map(|_| ());
    collector.flush();
    (result, sink.spans())
}

#[tokio::test]
async fn the_job_and_each_epoch_are_spans() {
    let (result, spans) = run(false).await;
    result.unwrap();
    crate::trace_support::assert_well_formed(&spans);
    let job = spans.iter().find(|s| s.kind == SpanKind::Finetune).unwrap();
    assert_eq!(job.name, "finetune fake-epochs");
    assert_eq!(job.attr_str(keys::FINETUNE_TRAINER), Some("fake-epochs"));
    assert_eq!(job.attr_str(keys::FINETUNE_BASE_MODEL), Some("smollm2"));
    assert_eq!(job.attr_i64(keys::FINETUNE_EXAMPLES), Some(1));
    assert_eq!(job.attr_str(keys::FINETUNE_MODEL), Some("tuned.gguf"));
    assert_eq!(job.attr_i64(keys::FINETUNE_TRAINED_TOKENS), Some(321));
    assert_eq!(job.attr_str(keys::FINETUNE_LOSS_CURVE), Some("[2.0,1.0]"));
    assert!(
        job.attr_str(keys::FINETUNE_SETTINGS)
            .unwrap()
            .contains("\"epochs\":2")
    );
    let epochs: Vec<_> = spans.iter().filter(|s| s.kind == SpanKind::Epoch).collect();
    assert_eq!(epochs.len(), 2);
    for (i, e) in epochs.iter().enumerate() {
        assert_eq!(e.parent_id, Some(job.span_id));
        assert_eq!(e.name, format!("epoch {}", i + 1));
        assert_eq!(e.attr_i64(keys::EPOCH_INDEX), Some(i as i64 + 1));
        assert_eq!(e.attr_f64(keys::EPOCH_LOSS), Some(2.0 / (i + 1) as f64));
        assert_eq!(
            e.attr_f64(keys::EPOCH_TOKENS_PER_S),
            Some(1000.0 * (i + 1) as f64)
        );
    }
}

#[tokio::test]
async fn a_failed_job_ends_its_span_with_the_error() {
    let (result, spans) = run(true).await;
    assert!(matches!(
        result,
        Err(OptimizeError::Finetune(FinetuneError::Config(_)))
    ));
    let job = spans.iter().find(|s| s.kind == SpanKind::Finetune).unwrap();
    assert!(
        matches!(&job.status, SpanStatus::Error(m) if m.contains("out of disk")),
        "{:?}",
        job.status
    );
    assert_eq!(
        spans.iter().filter(|s| s.kind == SpanKind::Epoch).count(),
        2
    );
}

//! BootstrapFinetune with the local LoRA trainer: the teacher's accepted calls, in the
//! exact messages the ChatAdapter sends, train an adapter of the embedded model on the
//! CPU; each epoch is a span with its loss, the loss falls, and the adapter file is a
//! GGUF LoRA adapter the trainer can read back.

use std::sync::Arc;

use sigil::module::{Ctx, Predict};
use sigil::optimize::{BootstrapFinetune, TrainSettings};
use sigil::prelude::*;
use sigil::trace::{MemorySink, SpanCollector, SpanKind, keys};
use sigil_finetune::{LocalLoraFinetuner, LoraConfig, Target, read_adapter};
use sigil_testkit::{ScriptedLm, chat};

use crate::common::model_path;

fn exact(example: &Example, prediction: &Prediction) -> f64 {
    f64::from(u8::from(
        example.get_str("answer") == prediction.get_str("answer"),
    ))
}

#[tokio::test]
async fn accepted_calls_train_an_adapter_with_a_span_per_epoch() {
    let dir = tempfile::tempdir().unwrap();
    // The bar a user sees on stderr, hidden here so the test can read its state.
    let bar = indicatif::ProgressBar::hidden();
    let trainer = LocalLoraFinetuner::new(
        model_path(),
        dir.path(),
        LoraConfig {
            rank: 4,
            alpha: 8.0,
            targets: vec![Target::AttnQ, Target::AttnV],
            learning_rate: 3e-3,
            epochs: 1,
            batch_size: 3,
            seed: 11,
            max_seq_len: 256,
        },
    )
    .progress_bar(bar.clone());
    let train: Vec<Example> = ["Name a fruit.", "Say a word.", "Pick a snack."]
        .iter()
        .map(|q| {
            Example::new()
                .input("question", *q)
                .set("answer", "Pineapple")
        })
        .collect();
    let teacher = Arc::new(ScriptedLm::from_fn(|_| {
        Ok(chat(&[("answer", "Pineapple")]))
    }));
    let sink = Arc::new(MemorySink::default());
    let collector = SpanCollector::builder().sink(sink.clone()).build();
    let ctx = Ctx::new(teacher).with_hook(collector.clone());
    let program = Predict::parse("question -> answer").unwrap();
    let outcome = BootstrapFinetune::new(exact, Arc::new(trainer), "smollm2")
        .train_settings(TrainSettings {
            epochs: Some(2),
            ..Default::default()
        })
        .compile(&program, &train, &[], &ctx)
        .await
        .unwrap();
    let (paths, model) = &outcome.models[0];
    assert_eq!(paths, &[String::new()]);
    // 3 examples in one batch, 2 epochs: 2 steps, the bar full and showing the last
    // step's loss and speed.
    assert_eq!((bar.position(), bar.length()), (2, Some(2)));
    assert!(bar.is_finished());
    let msg = bar.message();
    let loss: f64 = msg
        .strip_prefix("loss ")
        .and_then(|m| m.split_whitespace().next())
        .and_then(|l| l.parse().ok())
        .unwrap_or_else(|| panic!("the bar shows the loss: {msg:?}"));
    assert!(loss.is_finite() && loss > 0.0, "{msg}");
    assert!(msg.ends_with(" tok/s"), "the bar shows tokens/s: {msg:?}");
    assert_eq!(model.examples, 3);
    assert!(model.model_id.starts_with("lora-") && model.model_id.ends_with(".gguf"));
    let adapter = model.adapter.as_ref().unwrap();
    let read = read_adapter(adapter).unwrap();
    assert_eq!(read.pairs().count(), 2 * 30, "q and v in each of 30 blocks");
    assert_eq!(model.loss_curve.len(), 2);
    assert!(
        model.loss_curve[1] < model.loss_curve[0],
        "the loss falls: {:?}",
        model.loss_curve
    );
    assert!(
        !dir.path()
            .join(
                adapter
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .replace(".gguf", ".checkpoint.gguf")
            )
            .exists(),
        "the checkpoint is removed once the adapter is written"
    );
    collector.flush();
    let spans = sink.spans();
    let job = spans.iter().find(|s| s.kind == SpanKind::Finetune).unwrap();
    assert_eq!(job.attr_str(keys::FINETUNE_TRAINER), Some("local-lora"));
    let epochs: Vec<_> = spans.iter().filter(|s| s.kind == SpanKind::Epoch).collect();
    assert_eq!(epochs.len(), 2);
    for (e, loss) in epochs.iter().zip(&model.loss_curve) {
        assert_eq!(e.parent_id, Some(job.span_id));
        assert_eq!(e.attr_f64(keys::EPOCH_LOSS), Some(*loss));
        assert!(
            e.attr_f64(keys::EPOCH_TOKENS_PER_S)
                .is_some_and(|t| t > 0.0)
        );
    }
}

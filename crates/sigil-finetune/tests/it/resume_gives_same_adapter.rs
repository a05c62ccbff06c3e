//! A run stopped after its first epoch resumes from the checkpoint to the same adapter
//! bytes as an uninterrupted run, and reports the steps it takes.

use sigil_finetune::{TrainOptions, adapter_bytes, train};

use crate::common::{base, tiny_config, tiny_data};

#[test]
fn interrupted_then_resumed_equals_uninterrupted() {
    let (base, cfg, data) = (base(), tiny_config(), tiny_data());
    let whole = train(&base, &cfg, &data, TrainOptions::default()).expect("trains");
    let dir = tempfile::tempdir().expect("tempdir");
    let ckpt = dir.path().join("run.ckpt.gguf");
    let first = train(
        &base,
        &cfg,
        &data,
        TrainOptions {
            checkpoint: Some(ckpt.clone()),
            stop_after_epochs: Some(1),
            ..TrainOptions::default()
        },
    )
    .expect("first epoch");
    assert!(ckpt.is_file());
    let mut seen = Vec::new();
    let resumed = train(
        &base,
        &cfg,
        &data,
        TrainOptions {
            checkpoint: Some(ckpt),
            stop_after_epochs: None,
            on_progress: Box::new(|p| seen.push((p.epoch, p.step, p.loss))),
            ..TrainOptions::default()
        },
    )
    .expect("resumes");
    // 3 examples in batches of 2: 2 steps per epoch; the resumed run did epoch 1 only.
    assert_eq!(
        seen.iter().map(|s| (s.0, s.1)).collect::<Vec<_>>(),
        [(1, 3), (1, 4)]
    );
    assert!(seen.iter().all(|s| s.2.is_finite()));
    let bytes = |a| adapter_bytes(a, "llama").expect("bytes");
    assert_ne!(bytes(&first), bytes(&whole));
    assert_eq!(bytes(&resumed), bytes(&whole));
}

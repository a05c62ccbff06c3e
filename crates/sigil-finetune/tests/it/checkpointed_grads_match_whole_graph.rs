//! The training step's gradients (activation checkpointing at block boundaries, the
//! fused frozen-linear and causal-softmax ops) equal candle's autograd over the whole
//! graph of the same batch, for every LoRA matrix, after the matrices have moved off
//! their initial values (so `B` is not zero and every path carries gradient).

use sigil_finetune::{LoraAdapter, LoraConfig, Target, batch_grads, batch_loss};

use crate::common::{base, tiny_data};

#[test]
fn checkpointed_gradients_equal_the_whole_graph_gradients() {
    let base = base();
    let cfg = LoraConfig {
        rank: 2,
        alpha: 4.0,
        targets: Target::ALL.to_vec(),
        ..LoraConfig::default()
    };
    let lora = LoraAdapter::init(
        &cfg,
        base.cfg.n_layer,
        |t| base.target_shape(t),
        base.device(),
    )
    .expect("adapter");
    // Move B off zero, so gradients reach A and the paths through every update.
    for (i, v) in lora.vars().iter().enumerate() {
        let bumped = (v.as_tensor().ones_like().expect("ones") * (0.01 * ((i % 5) as f64 + 1.0)))
            .expect("scaled");
        v.set(&(v.as_tensor() + bumped).expect("add")).expect("set");
    }
    let data = tiny_data();
    let batch: Vec<_> = data.iter().take(2).collect();
    let (loss, grads) = batch_grads(&base, &lora, &batch).expect("checkpointed step");
    let whole = batch_loss(&base, Some(&lora), &batch).expect("whole-graph loss");
    let expected = whole.backward().expect("whole-graph backward");
    let whole_loss = whole.to_scalar::<f32>().expect("scalar");
    assert!(
        (loss - whole_loss).abs() < 1e-4,
        "loss {loss} vs {whole_loss}"
    );
    let mut checked = 0;
    for (i, v) in lora.vars().iter().enumerate() {
        let a = grads
            .get(v.as_tensor())
            .expect("a checkpointed gradient for every matrix");
        let b = expected.get(v.as_tensor()).expect("a whole-graph gradient");
        let scale = b
            .abs()
            .expect("abs")
            .max_all()
            .expect("max")
            .to_scalar::<f32>()
            .expect("f32");
        let diff = (a - b)
            .expect("sub")
            .abs()
            .expect("abs")
            .max_all()
            .expect("max")
            .to_scalar::<f32>()
            .expect("f32");
        assert!(
            scale > 0.0,
            "gradient {i} is all zero (checkpointed differs by {diff})"
        );
        assert!(
            diff <= 1e-3 * scale + 1e-6,
            "gradient differs by {diff} (scale {scale})"
        );
        checked += 1;
    }
    assert_eq!(checked, 2 * 7 * base.cfg.n_layer);
}

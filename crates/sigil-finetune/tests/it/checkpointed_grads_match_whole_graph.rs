//! The training step's gradients (activation checkpointing at block boundaries, the
//! fused frozen-linear and causal-softmax ops) equal candle's autograd over the whole
//! graph of the same batch, for every LoRA matrix, after the matrices have moved off
//! their initial values (so `B` is not zero and every path carries gradient).

use sigil_finetune::{LoraAdapter, LoraConfig, Target, batch_grads, batch_loss};

use crate::common::{base, tiny_data};

/// A rank-2 adapter on `targets` with B moved off zero, so gradients reach A and the
/// paths through every update.
fn bumped_adapter(base: &sigil_finetune::BaseModel, targets: Vec<Target>) -> LoraAdapter {
    let cfg = LoraConfig {
        rank: 2,
        alpha: 4.0,
        targets,
        ..LoraConfig::default()
    };
    let lora = LoraAdapter::init(
        &cfg,
        base.cfg.n_layer,
        |t| base.target_shape(t),
        base.device(),
    )
    .expect("adapter");
    for (i, v) in lora.vars().iter().enumerate() {
        let bumped = (v.as_tensor().ones_like().expect("ones") * (0.01 * ((i % 5) as f64 + 1.0)))
            .expect("scaled");
        v.set(&(v.as_tensor() + bumped).expect("add")).expect("set");
    }
    lora
}

#[test]
fn checkpointed_gradients_equal_the_whole_graph_gradients() {
    let base = base();
    let lora = bumped_adapter(&base, Target::ALL.to_vec());
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

/// Computing the prefix the batch's examples share once (the system message and the
/// start of the user turn) gives the same loss and gradients as running each example
/// whole.
#[test]
fn a_shared_prompt_prefix_computed_once_gives_the_same_gradients() {
    use sigil::lm::Message;
    use sigil_finetune::{ChatExample, batch_grads_with_prefix, shared_prefix_len};
    let base = base();
    let lora = bumped_adapter(&base, vec![Target::AttnQ, Target::AttnV, Target::FfnDown]);
    let system = "Classify the message into one intent: billing, lost_item or other. \
                  Answer with the intent only.";
    let ex = |user: &str, reply: &str| ChatExample {
        messages: vec![Message::system(system), Message::user(user)],
        completion: reply.to_string(),
    };
    let data = crate::common::encode(
        &[
            ex("I was charged twice this month.", "billing"),
            ex(
                "I left my helmet in the bike basket yesterday afternoon.",
                "lost_item",
            ),
            ex("Hello!", "other"),
        ],
        512,
    );
    let batch: Vec<_> = data.iter().collect();
    let p = shared_prefix_len(&batch);
    assert!(p >= 20, "the system message is shared: {p} tokens");
    let (shared_loss, shared) = batch_grads_with_prefix(&base, &lora, &batch, p).expect("shared");
    let (whole_loss, whole) = batch_grads_with_prefix(&base, &lora, &batch, 0).expect("whole");
    assert!(
        (shared_loss - whole_loss).abs() < 1e-4,
        "loss {shared_loss} vs {whole_loss}"
    );
    for (i, v) in lora.vars().iter().enumerate() {
        let (a, b) = (
            shared.get(v.as_tensor()).unwrap(),
            whole.get(v.as_tensor()).unwrap(),
        );
        let scale = max_abs(b);
        let diff = max_abs(&(a - b).unwrap());
        assert!(
            diff <= 1e-3 * scale + 1e-6,
            "gradient {i} differs by {diff} (scale {scale})"
        );
    }
    // A prefix the batch does not share is refused.
    assert!(batch_grads_with_prefix(&base, &lora, &batch, p + 40).is_err());
}

/// The largest absolute entry of `t`.
fn max_abs(t: &candle_core::Tensor) -> f32 {
    t.abs()
        .and_then(|a| a.max_all())
        .and_then(|m| m.to_scalar::<f32>())
        .expect("a finite f32 tensor")
}

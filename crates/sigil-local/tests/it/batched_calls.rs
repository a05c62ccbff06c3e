//! Concurrent calls are decoded together in one batch, and batching never changes an
//! answer: plain, constrained and stop-sequence requests give the same text, tokens and
//! usage as when each runs alone. Streamed deltas add up to the final text.

use sigil::lm::{LmRequest, Message, OutputConstraint};
use sigil_local::{LocalConfig, LocalLm};

use crate::common;

fn requests() -> Vec<LmRequest> {
    let mut out = Vec::new();
    for (i, q) in [
        "Write a haiku about rain.",
        "List three fruits.",
        "What is 12 times 7?",
        "Describe a cat in one sentence.",
        "Name a famous bridge.",
        "Why is the sky blue?",
    ]
    .iter()
    .enumerate()
    {
        let mut r = LmRequest::new(vec![
            Message::system("You are a concise assistant."),
            Message::user(*q),
        ]);
        r.params.max_tokens = Some(12 + 3 * i as u32);
        match i {
            1 => r.params.stop = vec![",".into()],
            2 => {
                r.constraint = Some(OutputConstraint::Choice {
                    choices: vec!["84".into(), "74".into(), "eighty-four".into()],
                })
            }
            4 => {
                r.params.temperature = Some(0.8);
                r.params.seed = Some(5);
            }
            _ => {}
        }
        out.push(r);
    }
    out
}

#[tokio::test]
async fn concurrent_calls_share_forward_passes_and_give_the_same_answers() {
    let lm = LocalLm::load(
        &common::model_path(),
        LocalConfig {
            prefix_cache_bytes: 0,
            ..LocalConfig::default()
        },
    )
    .expect("model loads");
    let reqs = requests();
    let mut alone = Vec::new();
    for r in &reqs {
        alone.push(lm.generate(r).expect("generation"));
    }
    assert_eq!(lm.peak_batch(), 0, "generate runs outside the batch");
    let together = futures_join(&lm, &reqs).await;
    assert!(
        lm.peak_batch() >= 2,
        "concurrent calls ran one at a time (peak batch {})",
        lm.peak_batch()
    );
    for (i, (a, b)) in alone.iter().zip(&together).enumerate() {
        assert_eq!(a, b, "request {i} differs when batched");
    }
}

/// Submits every request before awaiting any: each future is polled once (which
/// queues its job), then all are awaited.
async fn futures_join(lm: &LocalLm, reqs: &[LmRequest]) -> Vec<sigil_local::Generation> {
    let mut pinned: Vec<_> = reqs
        .iter()
        .map(|r| Box::pin(lm.complete(r.clone(), None)))
        .collect();
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    let mut early: Vec<Option<_>> = pinned
        .iter_mut()
        .map(|f| match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(r) => Some(r),
            std::task::Poll::Pending => None,
        })
        .collect();
    let mut out = Vec::new();
    for (i, f) in pinned.into_iter().enumerate() {
        let r = match early[i].take() {
            Some(r) => r,
            None => f.await,
        };
        out.push(r.expect("generation"));
    }
    out
}

#[tokio::test]
async fn streamed_deltas_add_up_to_the_final_text() {
    let lm = LocalLm::load(&common::model_path(), LocalConfig::default()).expect("model loads");
    for r in requests() {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let g = lm.complete(r, Some(tx)).await.expect("generation");
        let mut pieces = Vec::new();
        while let Some(p) = rx.recv().await {
            pieces.push(p);
        }
        assert_eq!(pieces.concat(), g.text);
        if g.tokens.len() > 3 {
            assert!(pieces.len() >= 2, "one piece for {} tokens", g.tokens.len());
        }
    }
}

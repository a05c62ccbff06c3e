//! Embeddings match sentence-transformers' (committed reference) to cosine >= 0.999 for
//! every fixed sentence, long ones truncated to the window as sentence-transformers does.

use embed_common::{cosine, model, reference};
use sigil_local::embed::Truncation;

use crate::embed_common;

#[test]
fn every_reference_sentence_matches_to_cosine_0_999() {
    let reference = reference();
    let model = model().with_truncation(Truncation::Truncate);
    assert_eq!(model.max_tokens(), reference.max_seq_length);
    assert_eq!(model.dim(), 384);
    let texts: Vec<String> = reference.sentences.iter().map(|s| s.text.clone()).collect();
    assert!(
        reference
            .sentences
            .iter()
            .any(|s| s.token_ids.len() > reference.max_seq_length),
        "the reference should hold a sentence past the window"
    );
    let got = model.embed(&texts).expect("embeds");
    assert_eq!(got.len(), texts.len());
    let mut worst = (f32::INFINITY, String::new());
    for (s, v) in reference.sentences.iter().zip(&got) {
        assert_eq!(v.len(), 384);
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "{:?}: norm {norm}", s.text);
        let c = cosine(v, &s.embedding);
        eprintln!(
            "cosine {c:.7}  {:?}",
            s.text.chars().take(40).collect::<String>()
        );
        if c < worst.0 {
            worst = (c, s.text.clone());
        }
    }
    assert!(worst.0 >= 0.999, "cosine {} for {:?}", worst.0, worst.1);
}

#[test]
fn batching_and_order_do_not_change_a_vector() {
    let reference = reference();
    let model = model().with_truncation(Truncation::Truncate);
    let texts: Vec<String> = reference.sentences.iter().map(|s| s.text.clone()).collect();
    let batch = model.embed(&texts).expect("embeds");
    let mut reversed = texts.clone();
    reversed.reverse();
    let rev = model.embed(&reversed).expect("embeds");
    for (i, t) in texts.iter().enumerate() {
        let alone = model.embed(std::slice::from_ref(t)).expect("embeds");
        assert!(cosine(&alone[0], &batch[i]) > 0.99999, "{t:?}");
        assert!(
            cosine(&rev[texts.len() - 1 - i], &batch[i]) > 0.99999,
            "{t:?}"
        );
    }
}

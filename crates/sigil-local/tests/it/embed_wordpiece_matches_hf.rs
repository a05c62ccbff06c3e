//! The WordPiece tokenizer gives exactly the token ids of the model's Hugging Face
//! tokenizer (committed reference) on every fixed sentence and tokenizer-only case:
//! accents, punctuation, CJK, control and format characters, over-long words.

use embed_common::{model, reference};

use crate::embed_common;

#[test]
fn token_ids_match_the_reference() {
    let reference = reference();
    let model = model();
    let tok = model.tokenizer();
    let mut failures = Vec::new();
    for s in reference.sentences.iter().chain(&reference.tokenizer_only) {
        let got = tok.encode(&s.text);
        if got != s.token_ids {
            failures.push(format!(
                "{:?}\n  got  {:?}\n  want {:?}",
                s.text,
                tok.tokens(&got),
                tok.tokens(&s.token_ids)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

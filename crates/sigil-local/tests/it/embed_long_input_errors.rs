//! Texts longer than the 256-word-piece window: a clear error by default (and always
//! for a query), through the `Embedder` trait too; truncation only when asked for.

use embed_common::{cosine, model};
use sigil::retrieve::{Embedder, RetrieveError};
use sigil_local::embed::{EmbedError, Truncation};

use crate::embed_common;

fn long_text() -> String {
    "the bike dock on the corner was empty again this morning ".repeat(40)
}

#[test]
fn long_query_is_a_clear_error() {
    let model = model();
    assert_eq!(model.truncation(), Truncation::Error);
    let texts = vec!["short".to_string(), long_text()];
    let e = model.embed(&texts).unwrap_err();
    match &e {
        EmbedError::TooLong { index, tokens, max } => {
            assert_eq!((*index, *max), (1, 256));
            assert!(*tokens > 256);
        }
        other => panic!("expected TooLong, got {other}"),
    }
    let msg = e.to_string();
    assert!(
        msg.contains("text 1") && msg.contains("window of 256"),
        "{msg}"
    );
    let e = model
        .clone()
        .with_truncation(Truncation::Truncate)
        .embed_query(&long_text())
        .unwrap_err();
    assert!(matches!(e, EmbedError::TooLong { .. }), "{e}");
}

#[tokio::test]
async fn embedder_trait_reports_a_bad_query() {
    let model = model();
    let e = Embedder::embed(&model, &[long_text()]).await.unwrap_err();
    assert!(
        matches!(&e, RetrieveError::Query(m) if m.contains("window of 256")),
        "{e}"
    );
    assert_eq!(model.model_id(), "sentence-transformers/all-MiniLM-L6-v2");
    assert_eq!(Embedder::dim(&model), 384);
    let v = Embedder::embed(&model, &["fine".to_string()])
        .await
        .unwrap();
    assert_eq!(v[0].len(), 384);
}

#[test]
fn truncation_keeps_the_first_window() {
    let model = model().with_truncation(Truncation::Truncate);
    let long = long_text();
    let ids = model.tokenizer().encode(&long);
    assert!(ids.len() > 256);
    let longer = format!("{long} and then something entirely different happened");
    let v = model.embed(&[long, longer]).expect("truncates");
    // Both are cut inside the repeated part, so they embed identically.
    assert!(cosine(&v[0], &v[1]) > 0.99999);
}

#[test]
fn odd_inputs_do_not_panic() {
    let model = model();
    let texts = vec![
        String::new(),
        "\u{0}\u{7}\u{200b}".to_string(),
        "x".repeat(10_000),
        "🚲".repeat(50),
        " \t\n ".to_string(),
    ];
    let v = model.embed(&texts).expect("embeds");
    for x in &v {
        assert_eq!(x.len(), 384);
        assert!(x.iter().all(|a| a.is_finite()));
    }
    assert!(model.embed(&[]).expect("empty batch").is_empty());
}

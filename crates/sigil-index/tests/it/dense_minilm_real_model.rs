//! The dense index with the real all-MiniLM-L6-v2 encoder (computed in Rust) over the
//! shipped mini wiki: paraphrased questions find their passage, the manifest records
//! the model, and a query longer than the model's window is a query error.
//! Needs the model: `$SIGIL_MINILM_DIR` (scripts/test exports it) or the cache.

use std::path::PathBuf;
use std::sync::Arc;

use sigil::retrieve::{Embedder, RetrieveError};
use sigil_index::{IndexKind, IndexSpec, Manifest, open_or_build};
use sigil_local::embed::{MINILM_DIR_NAME, MiniLm};

use crate::common;

fn minilm() -> Arc<dyn Embedder> {
    let dir = std::env::var_os("SIGIL_MINILM_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            sigil_local::resolve::cache_dir()
                .join("models")
                .join(MINILM_DIR_NAME)
        });
    let model = MiniLm::load(&dir).unwrap_or_else(|e| {
        panic!(
            "all-MiniLM-L6-v2 is needed at {} (run scripts/test, which fetches it): {e}",
            dir.display()
        )
    });
    Arc::new(model)
}

fn corpus() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/data/mini_wiki.jsonl")
}

#[tokio::test]
async fn paraphrased_questions_find_their_passages() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let embedder = minilm();
    let index = open_or_build(
        &IndexSpec::new(corpus(), IndexKind::Dense, &dir),
        Some(embedder.clone()),
    )
    .await
    .unwrap();
    let m = Manifest::read(&dir).unwrap();
    assert_eq!(m.model_id.as_deref(), Some(embedder.model_id()));
    assert_eq!(m.dim, Some(384));
    assert_eq!(m.documents, 68);

    for (query, want) in [
        (
            "Which wading bird with a curved-up beak symbolises the marsh reserve?",
            "p18",
        ),
        ("Who discovered a comet and was born in Eldermoor?", "p57"),
        ("What coins were dug up near the watermill?", "p68"),
    ] {
        let hits = index.retrieve(query, 3).await.unwrap();
        let ids: Vec<&str> = hits.iter().map(|p| p.id.as_str()).collect();
        assert!(ids.contains(&want), "{query}: {ids:?}");
        assert!(
            hits[0].score > 0.3 && hits[0].score <= 1.0001,
            "{:?}",
            hits[0]
        );
    }

    let long = "Where does the river flow? ".repeat(60);
    let err = index.retrieve(&long, 3).await.unwrap_err();
    assert!(matches!(err, RetrieveError::Query(_)), "{err:?}");
    assert!(err.to_string().contains("window"), "{err}");
}

#[tokio::test]
async fn an_index_of_another_model_is_refused_for_minilm() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("idx");
    let spec = IndexSpec::new(corpus(), IndexKind::Hybrid, &dir);
    open_or_build(&spec, Some(common::HashEmbedder::arc("hash-v1", 384)))
        .await
        .unwrap();
    let err = open_or_build(&spec, Some(minilm())).await.err().unwrap();
    assert!(
        err.to_string()
            .contains("built with embedding model \"hash-v1\""),
        "{err}"
    );
}

//! open_or_build reuses a current index (no embedding calls) and rebuilds one whose
//! corpus changed.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use common::*;
use sigil_index::{IndexKind, IndexSpec, Manifest, open_or_build};

use crate::common;

#[tokio::test]
async fn reuses_current_index_and_rebuilds_when_the_corpus_changes() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = write_corpus(tmp.path(), "c.jsonl", SMALL_CORPUS);
    let dir = tmp.path().join("idx");
    let spec = IndexSpec::new(&corpus, IndexKind::Dense, &dir);
    let embedder = Arc::new(HashEmbedder::new("hash-v1", 64));

    let r = open_or_build(&spec, Some(embedder.clone())).await.unwrap();
    assert_eq!(r.name(), "dense:hash-v1");
    let build_calls = embedder.calls.load(Ordering::SeqCst);
    assert!(build_calls >= 1);

    let r = open_or_build(&spec, Some(embedder.clone())).await.unwrap();
    assert_eq!(
        embedder.calls.load(Ordering::SeqCst),
        build_calls,
        "reopening embeds nothing"
    );
    let hits = r.retrieve("red and white lighthouse", 1).await.unwrap();
    assert_eq!(hits[0].id, "wren");

    std::fs::write(
        &corpus,
        format!("{SMALL_CORPUS}{{\"id\": \"owl\", \"text\": \"The owl tower of Eldermoor\"}}\n"),
    )
    .unwrap();
    let r = open_or_build(&spec, Some(embedder.clone())).await.unwrap();
    assert!(embedder.calls.load(Ordering::SeqCst) > build_calls);
    assert_eq!(Manifest::read(&dir).unwrap().documents, 6);
    let hits = r.retrieve("owl tower", 1).await.unwrap();
    assert_eq!(hits[0].id, "owl");
    assert_eq!(listing(tmp.path()), ["c.jsonl", "idx"]);
}

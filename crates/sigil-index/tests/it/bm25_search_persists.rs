//! A BM25 index is built from a corpus, finds passages by their words (stemmed), keeps
//! ids, scores and metadata, and answers the same after being reopened from disk.

use common::*;
use sigil::retrieve::{RetrieveError, Retriever};
use sigil_index::{Bm25Index, Corpus, IndexKind, Manifest};

use crate::common;

#[tokio::test]
async fn bm25_finds_passages_and_reopens_from_disk() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = Corpus::load(write_corpus(tmp.path(), "c.jsonl", SMALL_CORPUS)).unwrap();
    let dir = tmp.path().join("idx");
    let index = Bm25Index::build(&corpus, &dir).unwrap();

    let hits = index
        .retrieve("When was the lighthouse built?", 3)
        .await
        .unwrap();
    assert_eq!(hits[0].id, "wren");
    assert!(hits[0].text.starts_with("Port Wren is a fishing harbour"));
    assert_eq!(hits[0].metadata["title"], "Port Wren");
    assert!(hits.windows(2).all(|w| w[0].score >= w[1].score));
    assert!(hits[0].score > 0.0);

    // Stemming: "shepherding" and "sheep" meet "shepherds" and "sheep".
    let hits = index.retrieve("shepherding sheep", 1).await.unwrap();
    assert_eq!(hits[0].id, "grey");
    // Extra fields come back as metadata.
    let hits = index.retrieve("Eldermoor founded", 1).await.unwrap();
    assert_eq!(hits[0].metadata["region"], "north");

    let manifest = Manifest::read(&dir).unwrap();
    assert_eq!(manifest.kind, IndexKind::Bm25);
    assert_eq!(manifest.documents, 5);
    assert_eq!(manifest.corpus_hash, corpus.hash);
    drop(index);

    let reopened = Bm25Index::open(&dir).unwrap();
    let again = reopened
        .retrieve("When was the lighthouse built?", 3)
        .await
        .unwrap();
    assert_eq!(again[0].id, "wren");
    assert_eq!(listing(tmp.path()), ["c.jsonl", "idx"]);

    // A query with no searchable words is a query error, not a panic.
    let err = reopened.retrieve("?!", 3).await.unwrap_err();
    assert!(matches!(err, RetrieveError::Query(_)), "{err:?}");
}

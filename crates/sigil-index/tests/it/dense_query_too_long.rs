//! A query longer than the embedding model's window is a query error, not a panic.

use std::sync::Arc;

use common::*;
use sigil::retrieve::{RetrieveError, Retriever};
use sigil_index::{Corpus, DenseIndex, DenseOptions};

use crate::common;

#[tokio::test]
async fn overlong_query_is_a_query_error() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = Corpus::load(write_corpus(tmp.path(), "c.jsonl", SMALL_CORPUS)).unwrap();
    let mut e = HashEmbedder::new("hash-v1", 64);
    e.window = 40;
    let index = DenseIndex::build(
        &corpus,
        &tmp.path().join("idx"),
        Arc::new(e),
        DenseOptions::default(),
    )
    .await
    .unwrap();
    let long = "river ".repeat(41);
    let err = index.retrieve(&long, 3).await.unwrap_err();
    assert!(matches!(err, RetrieveError::Query(_)), "{err:?}");
    assert!(err.to_string().contains("window"), "{err}");
    let err = index.retrieve("   ", 3).await.unwrap_err();
    assert!(matches!(err, RetrieveError::Query(_)), "{err:?}");
}

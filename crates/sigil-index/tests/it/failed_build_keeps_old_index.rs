//! An embedder failing halfway through a build leaves no half-written index: the
//! target keeps the previous index, and no staging directory remains.

use std::sync::Arc;

use common::*;
use sigil_index::{
    DenseIndex, DenseOptions, IndexError, IndexKind, IndexSpec, Manifest, open_or_build,
};

use crate::common;

#[tokio::test]
async fn failed_rebuild_keeps_the_previous_index_and_no_debris() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus_path = write_corpus(tmp.path(), "c.jsonl", SMALL_CORPUS);
    let dir = tmp.path().join("idx");
    let good = HashEmbedder::arc("hash-v1", 64);
    let spec = IndexSpec::new(&corpus_path, IndexKind::Dense, &dir);
    open_or_build(&spec, Some(good.clone())).await.unwrap();
    let before = Manifest::read(&dir).unwrap();

    // The corpus grows, so open_or_build rebuilds; the model dies on its second batch.
    let grown = format!("{SMALL_CORPUS}{{\"id\": \"new\", \"text\": \"a new passage\"}}\n");
    std::fs::write(&corpus_path, grown).unwrap();
    let mut flaky = HashEmbedder::new("hash-v1", 64);
    flaky.fail_after = Some(1);
    let mut spec = spec.clone();
    spec.dense = DenseOptions {
        batch: 2,
        ..DenseOptions::default()
    };
    let err = open_or_build(&spec, Some(Arc::new(flaky)))
        .await
        .err()
        .unwrap();
    assert!(matches!(err, IndexError::Embed(_)), "{err:?}");
    assert!(err.to_string().contains("the model crashed"), "{err}");
    assert!(
        err.to_string()
            .contains("batch starting at passage \"wren\""),
        "{err}"
    );

    assert_eq!(listing(tmp.path()), ["c.jsonl", "idx"]);
    assert_eq!(Manifest::read(&dir).unwrap(), before);
    let old = DenseIndex::open(&dir, good, DenseOptions::default()).unwrap();
    assert_eq!(old.manifest().documents, 5);
}

#[tokio::test]
async fn a_first_build_that_fails_leaves_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus_path = write_corpus(tmp.path(), "c.jsonl", SMALL_CORPUS);
    let mut broken = HashEmbedder::new("hash-v1", 64);
    broken.fail_after = Some(0);
    let spec = IndexSpec::new(&corpus_path, IndexKind::Hybrid, tmp.path().join("idx"));
    assert!(open_or_build(&spec, Some(Arc::new(broken))).await.is_err());
    assert_eq!(listing(tmp.path()), ["c.jsonl"]);
}

//! An index opened with another embedding model, dimension, index kind or format
//! version is refused with an error that says which, and is left untouched.

use common::*;
use sigil_index::{FORMAT_VERSION, IndexError, IndexKind, IndexSpec, MANIFEST_FILE, open_or_build};

use crate::common;

#[tokio::test]
async fn other_model_dimension_kind_or_version_is_a_clear_error() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = write_corpus(tmp.path(), "c.jsonl", SMALL_CORPUS);
    let dir = tmp.path().join("idx");
    let spec = IndexSpec::new(&corpus, IndexKind::Dense, &dir);
    open_or_build(&spec, Some(HashEmbedder::arc("all-MiniLM-L6-v2", 64)))
        .await
        .unwrap();

    let err = open_or_build(&spec, Some(HashEmbedder::arc("bge-small-en", 64)))
        .await
        .err()
        .unwrap();
    assert!(matches!(err, IndexError::Incompatible { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(msg.contains("\"all-MiniLM-L6-v2\""), "{msg}");
    assert!(msg.contains("\"bge-small-en\""), "{msg}");

    let err = open_or_build(&spec, Some(HashEmbedder::arc("all-MiniLM-L6-v2", 32)))
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("dimension"), "{err}");

    let bm25 = IndexSpec::new(&corpus, IndexKind::Bm25, &dir);
    let err = open_or_build(&bm25, None).await.err().unwrap();
    assert!(
        err.to_string()
            .contains("it is a dense index, a bm25 index was asked for"),
        "{err}"
    );

    // A manifest from a future format version.
    let path = dir.join(MANIFEST_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    let bumped = text.replace(
        &format!("\"format_version\": {FORMAT_VERSION}"),
        &format!("\"format_version\": {}", FORMAT_VERSION + 1),
    );
    assert_ne!(text, bumped);
    std::fs::write(&path, &bumped).unwrap();
    let err = open_or_build(&spec, Some(HashEmbedder::arc("all-MiniLM-L6-v2", 64)))
        .await
        .err()
        .unwrap();
    assert!(err.to_string().contains("rebuild it"), "{err}");
    // Untouched: the refused index is still there as it was.
    assert_eq!(std::fs::read_to_string(&path).unwrap(), bumped);
}

#[tokio::test]
async fn a_directory_that_is_not_an_index_is_never_overwritten() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = write_corpus(tmp.path(), "c.jsonl", SMALL_CORPUS);
    let dir = tmp.path().join("notes");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("todo.txt"), "keep me").unwrap();
    let err = open_or_build(&IndexSpec::new(&corpus, IndexKind::Bm25, &dir), None)
        .await
        .err()
        .unwrap();
    assert!(matches!(err, IndexError::NotAnIndex { .. }), "{err:?}");
    assert_eq!(
        std::fs::read_to_string(dir.join("todo.txt")).unwrap(),
        "keep me"
    );
}

#[tokio::test]
async fn a_dense_index_without_an_embedder_is_a_config_error() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = write_corpus(tmp.path(), "c.jsonl", SMALL_CORPUS);
    let spec = IndexSpec::new(&corpus, IndexKind::Hybrid, tmp.path().join("idx"));
    let err = open_or_build(&spec, None).await.err().unwrap();
    assert_eq!(err.to_string(), "a hybrid index needs an embedder");
}

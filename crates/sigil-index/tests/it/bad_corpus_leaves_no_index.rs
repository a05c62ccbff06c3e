//! A malformed or empty corpus is a clear error naming the file and line, and leaves
//! nothing behind in the index's parent directory.

use common::*;
use sigil_index::{IndexError, IndexKind, IndexSpec, open_or_build};

use crate::common;

#[tokio::test]
async fn malformed_corpus_names_the_line_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = write_corpus(
        tmp.path(),
        "c.jsonl",
        "{\"id\": \"a\", \"text\": \"fine\"}\n{\"id\": \"b\", \"text\": \"broken\"\n",
    );
    let spec = IndexSpec::new(&corpus, IndexKind::Bm25, tmp.path().join("idx"));
    let err = open_or_build(&spec, None).await.err().unwrap();
    assert!(matches!(err, IndexError::Corpus { line: 2, .. }), "{err:?}");
    assert!(
        err.to_string().contains("c.jsonl line 2: not valid JSON"),
        "{err}"
    );
    assert_eq!(listing(tmp.path()), ["c.jsonl"]);
}

#[tokio::test]
async fn empty_corpus_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = write_corpus(tmp.path(), "c.jsonl", "\n\n");
    let spec = IndexSpec::new(&corpus, IndexKind::Bm25, tmp.path().join("idx"));
    let err = open_or_build(&spec, None).await.err().unwrap();
    assert!(matches!(err, IndexError::EmptyCorpus { .. }), "{err:?}");
    assert!(err.to_string().contains("is empty"), "{err}");
    assert_eq!(listing(tmp.path()), ["c.jsonl"]);
}

#[tokio::test]
async fn missing_corpus_file_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    let spec = IndexSpec::new(
        tmp.path().join("nope.jsonl"),
        IndexKind::Bm25,
        tmp.path().join("idx"),
    );
    let err = open_or_build(&spec, None).await.err().unwrap();
    assert!(err.to_string().contains("nope.jsonl"), "{err}");
}

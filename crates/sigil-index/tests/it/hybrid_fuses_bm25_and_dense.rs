//! A hybrid index fuses its BM25 and dense rankings by reciprocal rank (k = 60).

use common::*;
use sigil::retrieve::{Retriever, reciprocal_rank_fusion};
use sigil_index::{
    Bm25Index, DenseIndex, DenseOptions, IndexKind, IndexSpec, Manifest, open_or_build,
};

use crate::common;

#[tokio::test]
async fn hybrid_is_the_rrf_of_its_halves() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus_path = write_corpus(tmp.path(), "c.jsonl", SMALL_CORPUS);
    let dir = tmp.path().join("idx");
    let embedder = HashEmbedder::arc("hash-v1", 64);
    let hybrid = open_or_build(
        &IndexSpec::new(&corpus_path, IndexKind::Hybrid, &dir),
        Some(embedder.clone()),
    )
    .await
    .unwrap();
    assert_eq!(hybrid.name(), "hybrid");
    let m = Manifest::read(&dir).unwrap();
    assert_eq!(m.kind, IndexKind::Hybrid);
    assert_eq!(m.model_id.as_deref(), Some("hash-v1"));

    let bm25 = Bm25Index::open(&dir.join("bm25")).unwrap();
    let dense = DenseIndex::open(&dir.join("dense"), embedder, DenseOptions::default()).unwrap();
    let query = "Which hills feed the stream of the mill?";
    let fused = hybrid.retrieve(query, 3).await.unwrap();
    let expected = reciprocal_rank_fusion(
        &[
            bm25.retrieve(query, 13).await.unwrap(),
            dense.retrieve(query, 13).await.unwrap(),
        ],
        60.0,
    );
    let ids: Vec<&str> = fused.iter().map(|p| p.id.as_str()).collect();
    let want: Vec<&str> = expected.iter().take(3).map(|p| p.id.as_str()).collect();
    assert_eq!(ids, want);
    assert_eq!(fused[0].id, "mill");
    assert!(fused[0].score <= 2.0 / 61.0 + 1e-6);
}

//! Above the size threshold a dense index searches an HNSW graph; its recall@10
//! against exact search stays high, and the graph survives a reopen.

use common::*;
use sigil_index::{Corpus, DenseIndex, DenseOptions};
use std::fmt::Write;

use crate::common;

/// 3000 passages of 12 words drawn from a 2000-word vocabulary.
fn synthetic_corpus() -> String {
    let mut state: u64 = 7;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as usize
    };
    let mut out = String::new();
    for i in 0..3000 {
        let words: Vec<String> = (0..12).map(|_| format!("w{}", next() % 2000)).collect();
        writeln!(
            out,
            "{{\"id\": \"d{i}\", \"text\": \"{}\"}}",
            words.join(" ")
        )
        .unwrap();
    }
    out
}

#[tokio::test]
async fn hnsw_recall_at_10_matches_exact_search() {
    let tmp = tempfile::tempdir().unwrap();
    let text = synthetic_corpus();
    let corpus = Corpus::load(write_corpus(tmp.path(), "c.jsonl", &text)).unwrap();
    let embedder = HashEmbedder::arc("hash-v1", 128);
    let options = DenseOptions {
        ann_threshold: 1000,
        ..DenseOptions::default()
    };
    let dir = tmp.path().join("idx");
    let built = DenseIndex::build(&corpus, &dir, embedder.clone(), options)
        .await
        .unwrap();
    assert!(built.is_ann());
    assert!(built.manifest().ann);
    drop(built);
    let index = DenseIndex::open(&dir, embedder, options).unwrap();
    assert!(index.is_ann());

    let mut hit = 0;
    let mut total = 0;
    for doc in corpus.docs.iter().step_by(30) {
        // Queries: the first four words of a passage.
        let q: Vec<&str> = doc.text.split(' ').take(4).collect();
        let v = index.embed_query(&q.join(" ")).await.unwrap();
        let exact: Vec<String> = index
            .search_vector(&v, 10, true)
            .into_iter()
            .map(|p| p.id)
            .collect();
        let ann: Vec<String> = index
            .search_vector(&v, 10, false)
            .into_iter()
            .map(|p| p.id)
            .collect();
        assert_eq!(ann.len(), 10);
        hit += exact.iter().filter(|id| ann.contains(id)).count();
        total += exact.len();
    }
    let recall = hit as f64 / total as f64;
    println!(
        "HNSW recall@10 vs exact over {} queries: {recall:.3}",
        total / 10
    );
    assert!(recall >= 0.95, "recall@10 = {recall}");
}

#[tokio::test]
async fn below_the_threshold_search_is_exact() {
    let tmp = tempfile::tempdir().unwrap();
    let corpus = Corpus::load(write_corpus(tmp.path(), "c.jsonl", SMALL_CORPUS)).unwrap();
    let index = DenseIndex::build(
        &corpus,
        &tmp.path().join("idx"),
        HashEmbedder::arc("h", 64),
        DenseOptions::default(),
    )
    .await
    .unwrap();
    assert!(!index.is_ann());
    assert!(!tmp.path().join("idx/hnsw.bin").exists());
}

//! `RrfRetriever` asks every part for more than k passages and fuses their ranks;
//! a failing part fails the search.

use std::sync::Arc;

use async_trait::async_trait;
use sigil::retrieve::{Passage, RetrieveError, Retriever, RrfRetriever};

struct Ranked(&'static str, Vec<&'static str>);

#[async_trait]
impl Retriever for Ranked {
    fn name(&self) -> &str {
        self.0
    }
    async fn retrieve(&self, _query: &str, k: usize) -> Result<Vec<Passage>, RetrieveError> {
        if self.1.is_empty() {
            return Err(RetrieveError::Model("encoder failed".into()));
        }
        Ok(self
            .1
            .iter()
            .take(k)
            .map(|id| Passage {
                id: id.to_string(),
                text: format!("text of {id}"),
                score: 9.0,
                metadata: Default::default(),
            })
            .collect())
    }
}

#[tokio::test]
async fn fuses_by_reciprocal_rank() {
    let lexical = Arc::new(Ranked("bm25", vec!["a", "b", "c", "d"]));
    let dense = Arc::new(Ranked("dense", vec!["c", "e", "a"]));
    let rrf = RrfRetriever::new(vec![lexical, dense]);
    assert_eq!(rrf.name(), "rrf(bm25+dense)");
    let got = rrf.retrieve("q", 3).await.unwrap();
    let ids: Vec<&str> = got.iter().map(|p| p.id.as_str()).collect();
    // a: 1/61 + 1/63, c: 1/63 + 1/61 (tie, a seen first), b: 1/62, e: 1/62.
    assert_eq!(ids, ["a", "c", "b"]);
    assert!((got[0].score - (1.0 / 61.0 + 1.0 / 63.0)).abs() < 1e-6);
}

#[tokio::test]
async fn a_failing_part_fails_the_search() {
    let ok = Arc::new(Ranked("bm25", vec!["a"]));
    let broken = Arc::new(Ranked("dense", vec![]));
    let err = RrfRetriever::new(vec![ok, broken])
        .retrieve("q", 3)
        .await
        .unwrap_err();
    assert_eq!(err.to_string(), "embedding model: encoder failed");
}

//! Reciprocal-rank fusion: merge the rankings of several retrievers into one.
//!
//! Each passage scores `sum over lists of 1 / (k + rank)` (ranks from 1), so a
//! passage ranked high by either list rises, and scores from retrievers with
//! incomparable scales never meet. `k = 60` is the constant of Cormack et al. (2009).

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use super::{Passage, RetrieveError, Retriever};

/// The usual RRF constant.
const DEFAULT_RRF_K: f32 = 60.0;

/// Fuses ranked lists (each best first) by reciprocal rank. Passages are matched by
/// id; the first list that has a passage supplies its text and metadata; the
/// passage's `score` becomes its fused score. Ties keep the order of first appearance.
///
/// ```
/// use sigil::retrieve::{Passage, reciprocal_rank_fusion};
/// let p = |id: &str| Passage { id: id.into(), text: id.into(), score: 0.0, metadata: Default::default() };
/// let fused = reciprocal_rank_fusion(&[vec![p("a"), p("b")], vec![p("b"), p("c")]], 60.0);
/// assert_eq!(fused[0].id, "b");
/// ```
pub fn reciprocal_rank_fusion(lists: &[Vec<Passage>], k: f32) -> Vec<Passage> {
    let mut order: Vec<Passage> = Vec::new();
    let mut slot: HashMap<String, usize> = HashMap::new();
    let mut scores: Vec<f32> = Vec::new();
    for list in lists {
        for (rank, passage) in list.iter().enumerate() {
            let add = 1.0 / (k + rank as f32 + 1.0);
            match slot.get(&passage.id) {
                Some(&i) => scores[i] += add,
                None => {
                    slot.insert(passage.id.clone(), order.len());
                    order.push(passage.clone());
                    scores.push(add);
                }
            }
        }
    }
    let mut ranked: Vec<(usize, f32)> = scores.into_iter().enumerate().collect();
    // Stable sort: equal scores keep first-appearance order.
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
    ranked
        .into_iter()
        .map(|(i, score)| {
            let mut p = order[i].clone();
            p.score = score;
            p
        })
        .collect()
}

/// A retriever that asks several retrievers and fuses their rankings by RRF
/// (hybrid lexical + dense search).
pub struct RrfRetriever {
    name: String,
    parts: Vec<Arc<dyn Retriever>>,
    k: f32,
    depth: usize,
}

impl RrfRetriever {
    /// Fuses `parts` with `k = 60`, asking each for `max(2k, k + 10)` passages
    /// (fusion needs more than the top `k` of each list to rank well).
    pub fn new(parts: Vec<Arc<dyn Retriever>>) -> Self {
        let name = format!(
            "rrf({})",
            parts.iter().map(|p| p.name()).collect::<Vec<_>>().join("+")
        );
        RrfRetriever {
            name,
            parts,
            k: DEFAULT_RRF_K,
            depth: 0,
        }
    }

    /// The RRF constant (default 60).
    pub fn k(mut self, k: f32) -> Self {
        self.k = k;
        self
    }

    /// How many passages to ask each part for (default `max(2k, k + 10)`).
    pub fn depth(mut self, depth: usize) -> Self {
        self.depth = depth;
        self
    }

    /// Overrides the name traces show.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
}

#[async_trait]
impl Retriever for RrfRetriever {
    fn name(&self) -> &str {
        &self.name
    }

    async fn retrieve(&self, query: &str, k: usize) -> Result<Vec<Passage>, RetrieveError> {
        if self.parts.is_empty() {
            return Err(RetrieveError::Index(
                "a fusion retriever needs at least one part".into(),
            ));
        }
        let depth = if self.depth > 0 {
            self.depth.max(k)
        } else {
            (2 * k).max(k + 10)
        };
        let lists =
            futures::future::try_join_all(self.parts.iter().map(|p| p.retrieve(query, depth)))
                .await?;
        let mut fused = reciprocal_rank_fusion(&lists, self.k);
        fused.truncate(k);
        Ok(fused)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(id: &str) -> Passage {
        Passage {
            id: id.into(),
            text: format!("text {id}"),
            score: 0.0,
            metadata: Default::default(),
        }
    }

    #[test]
    fn scores_are_sums_of_reciprocal_ranks() {
        let fused = reciprocal_rank_fusion(&[vec![p("a"), p("b")], vec![p("b"), p("c")]], 60.0);
        let ids: Vec<&str> = fused.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["b", "a", "c"]);
        assert!((fused[0].score - (1.0 / 62.0 + 1.0 / 61.0)).abs() < 1e-7);
        assert!((fused[1].score - 1.0 / 61.0).abs() < 1e-7);
        assert!((fused[2].score - 1.0 / 62.0).abs() < 1e-7);
    }

    #[test]
    fn ties_keep_first_appearance_order() {
        let fused = reciprocal_rank_fusion(&[vec![p("x")], vec![p("y")]], 60.0);
        let ids: Vec<&str> = fused.iter().map(|p| p.id.as_str()).collect();
        assert_eq!(ids, ["x", "y"]);
    }

    #[test]
    fn empty_input_gives_nothing() {
        assert!(reciprocal_rank_fusion(&[], 60.0).is_empty());
        assert!(reciprocal_rank_fusion(&[vec![], vec![]], 60.0).is_empty());
    }
}

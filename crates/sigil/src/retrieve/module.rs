//! The [`Retrieve`] module: a retriever as a step of a program.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{Passage, RetrieveError, Retriever};
use crate::data::{Example, Prediction};
use crate::module::{CallCtx, Ctx, Module, ModuleError, Predict};

/// Retrieves the `k` best passages for a query, as a program step.
///
/// As a [`Module`] it reads the input field `query` (see [`Retrieve::query_field`])
/// and outputs `passages: list[str]` (the texts, best first) together with
/// `passage_ids` and `scores`. In hand-written programs, [`Retrieve::search`] gives
/// the full [`Passage`]s. Either way each call is one retrieval span holding the
/// query and the passages. It has no predictors, so optimizers pass over it.
///
/// ```no_run
/// # async fn demo(ctx: &sigil::module::Ctx, index: std::sync::Arc<dyn sigil::retrieve::Retriever>)
/// #   -> Result<(), sigil::retrieve::RetrieveError> {
/// use sigil::retrieve::Retrieve;
/// let retrieve = Retrieve::new(index, 3);
/// for p in retrieve.search(ctx, "Who built the lighthouse?").await? {
///     println!("{} {:.2} {}", p.id, p.score, p.text);
/// }
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Retrieve {
    retriever: Arc<dyn Retriever>,
    k: usize,
    query_field: String,
}

impl Retrieve {
    /// `k` passages per query from `retriever`.
    pub fn new(retriever: Arc<dyn Retriever>, k: usize) -> Self {
        Retrieve {
            retriever,
            k,
            query_field: "query".into(),
        }
    }

    /// The input field holding the query when used as a [`Module`] (default `query`).
    pub fn query_field(mut self, field: impl Into<String>) -> Self {
        self.query_field = field.into();
        self
    }

    /// The number of passages per query.
    pub fn k(&self) -> usize {
        self.k
    }

    /// The retriever underneath.
    pub fn retriever(&self) -> &Arc<dyn Retriever> {
        &self.retriever
    }

    /// The `k` best passages for `query`, in a retrieval span.
    pub async fn search(&self, ctx: &Ctx, query: &str) -> Result<Vec<Passage>, RetrieveError> {
        self.search_k(ctx, query, self.k).await
    }

    /// Like [`Retrieve::search`] with another `k` for this call.
    pub async fn search_k(
        &self,
        ctx: &Ctx,
        query: &str,
        k: usize,
    ) -> Result<Vec<Passage>, RetrieveError> {
        if query.trim().is_empty() {
            return Err(RetrieveError::Query("the query is empty".into()));
        }
        let mut found: Option<Vec<Passage>> = None;
        let slot = &mut found;
        let retriever = &self.retriever;
        super::traced_search(ctx, retriever.name(), query, Some(k), |_ctx| async move {
            let passages = retriever.retrieve(query, k).await?;
            let texts = passages.iter().map(|p| p.text.clone()).collect();
            *slot = Some(passages);
            Ok::<Vec<String>, RetrieveError>(texts)
        })
        .await?;
        Ok(found.unwrap_or_default())
    }
}

/// The module's output for `passages`: texts, ids and scores, best first.
fn passages_prediction(passages: &[Passage]) -> Prediction {
    let mut out = Prediction::default();
    out.insert(
        "passages",
        Value::Array(passages.iter().map(|p| json!(p.text)).collect()),
    );
    out.insert(
        "passage_ids",
        Value::Array(passages.iter().map(|p| json!(p.id)).collect()),
    );
    out.insert(
        "scores",
        Value::Array(passages.iter().map(|p| json!(p.score)).collect()),
    );
    out
}

#[async_trait]
impl Module for Retrieve {
    async fn forward(&self, ctx: &CallCtx<'_>, inputs: Example) -> Result<Prediction, ModuleError> {
        let query = inputs.get_str(&self.query_field).ok_or_else(|| {
            ModuleError::Other(format!(
                "retrieve `{}`: the input has no `{}` field",
                self.retriever.name(),
                self.query_field
            ))
        })?;
        let passages = self.search(ctx, &query).await.map_err(|e| {
            ModuleError::Other(format!("retrieve `{}`: {e}", self.retriever.name()))
        })?;
        Ok(passages_prediction(&passages))
    }

    fn named_predictors(&self) -> Vec<(String, &Predict)> {
        Vec::new()
    }

    fn name(&self) -> &str {
        "Retrieve"
    }

    /// The retrieval span is the module's span; no extra module span around it.
    fn opens_own_span(&self) -> bool {
        true
    }
}

//! One retrieval hop inside its own span.

use std::sync::Arc;

use crate::module::Ctx;
use crate::trace::{EndData, ErrorInfo, StartData};

/// Runs one retrieval hop inside its own span, recording the query and the passages
/// found (privacy settings permitting). `search` gets a ctx whose current span is the
/// retrieval span, for retrievers that call other traced code.
///
/// ```
/// # async fn demo(ctx: &sigil::module::Ctx) -> Result<(), std::io::Error> {
/// let passages = sigil::retrieve::traced_search(ctx, "wiki", "capital of France", Some(3), |_ctx| async {
///     Ok::<_, std::io::Error>(vec!["Paris is the capital of France.".to_string()])
/// })
/// .await?;
/// # Ok(()) }
/// ```
pub async fn traced_search<F, Fut, E>(
    ctx: &Ctx,
    name: &str,
    query: &str,
    k: Option<usize>,
    search: F,
) -> Result<Vec<String>, E>
where
    F: FnOnce(Ctx) -> Fut,
    Fut: std::future::Future<Output = Result<Vec<String>, E>>,
    E: std::fmt::Display,
{
    let span = ctx.start_span(name, || StartData::Retrieval {
        query: Arc::from(query),
        k,
    });
    let inner = ctx.child(&span);
    let result = search(inner).await;
    span.end_with(|| {
        EndData::Retrieval(match &result {
            Ok(p) => Ok(Arc::new(p.clone())),
            Err(e) => Err(ErrorInfo::new("retrieval", e.to_string())),
        })
    });
    result
}

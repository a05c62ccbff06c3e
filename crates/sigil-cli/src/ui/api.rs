//! The JSON API the page reads. Store queries block, so each runs on the blocking
//! pool; every failure is a JSON `{"error": ...}` with a status, never a panic.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use futures::Stream;
use serde::{Deserialize, Serialize};
use sigil_store::{CompileRunView, Store, StoreError, TraceFilter, TraceSummary};

use super::AppState;
use super::view::{TraceView, trace_view};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/traces", get(traces))
        .route("/api/traces/{trace_id}", get(trace))
        .route("/api/compile-runs", get(compile_runs))
        .route("/api/compile-runs/{trace_id}", get(compile_run))
        .route("/api/live", get(live))
        .merge(super::artifacts::routes())
}

/// A failed request: its status and a one-line reason.
#[derive(Debug)]
pub(crate) enum ApiError {
    BadRequest(String),
    NotFound(String),
    Store(StoreError),
    Internal(String),
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        ApiError::Store(e)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            ApiError::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            ApiError::NotFound(m) => (StatusCode::NOT_FOUND, m),
            ApiError::Store(StoreError::Locked(m)) => (
                StatusCode::SERVICE_UNAVAILABLE,
                format!("trace store is busy: {m}"),
            ),
            ApiError::Store(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()),
            ApiError::Internal(m) => (StatusCode::INTERNAL_SERVER_ERROR, m),
        };
        (status, Json(serde_json::json!({ "error": message }))).into_response()
    }
}

/// Runs a store query on the blocking pool.
pub(crate) async fn blocking<T: Send + 'static>(
    state: &AppState,
    f: impl FnOnce(&Store) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let store = state.store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| ApiError::Internal(format!("query task failed: {e}")))?
}

/// The traces list's filters, as query parameters.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct TraceQuery {
    program: Option<String>,
    status: Option<String>,
    /// `compiled`, `uncompiled` or empty.
    compiled: Option<String>,
    /// `module`, `evaluate`, `compile`, ...
    kind: Option<String>,
    /// Only traces that started in the last this many minutes.
    since_minutes: Option<String>,
    limit: Option<String>,
}

fn nonempty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

impl TraceQuery {
    fn filter(&self) -> Result<TraceFilter, ApiError> {
        let mut f = TraceFilter::default();
        if let Some(p) = nonempty(&self.program) {
            f = f.program(p);
        }
        if let Some(s) = nonempty(&self.status) {
            if !matches!(s, "ok" | "error" | "cancelled") {
                return Err(ApiError::BadRequest(format!(
                    "status must be ok, error or cancelled, not {s:?}"
                )));
            }
            f = f.status(s);
        }
        match nonempty(&self.compiled) {
            None => {}
            Some("compiled") => f = f.compiled(true),
            Some("uncompiled") => f = f.compiled(false),
            Some(other) => {
                return Err(ApiError::BadRequest(format!(
                    "compiled must be compiled or uncompiled, not {other:?}"
                )));
            }
        }
        if let Some(k) = nonempty(&self.kind) {
            let kind = sigil::trace::SpanKind::parse(k)
                .ok_or_else(|| ApiError::BadRequest(format!("unknown span kind {k:?}")))?;
            f = f.root_kind(kind);
        }
        if let Some(m) = nonempty(&self.since_minutes) {
            let minutes: u64 = m.parse().map_err(|_| {
                ApiError::BadRequest(format!("since_minutes must be a whole number, not {m:?}"))
            })?;
            let now = sigil::trace::now_ns();
            f = f.since_ns(now.saturating_sub(minutes.saturating_mul(60_000_000_000)));
        }
        let limit = match nonempty(&self.limit) {
            Some(l) => l.parse::<usize>().map_err(|_| {
                ApiError::BadRequest(format!("limit must be a whole number, not {l:?}"))
            })?,
            None => 200,
        };
        Ok(f.limit(limit.clamp(1, 5000)))
    }
}

async fn traces(
    State(state): State<AppState>,
    Query(q): Query<TraceQuery>,
) -> Result<Json<Vec<TraceSummary>>, ApiError> {
    let filter = q.filter()?;
    Ok(Json(
        blocking(&state, move |s| Ok(s.traces(&filter)?)).await?,
    ))
}

fn check_trace_id(id: &str) -> Result<(), ApiError> {
    if sigil::trace::TraceId::from_hex(id).is_none() {
        return Err(ApiError::BadRequest(format!(
            "{id:?} is not a trace id (32 hex digits)"
        )));
    }
    Ok(())
}

async fn trace(
    State(state): State<AppState>,
    Path(trace_id): Path<String>,
) -> Result<Json<TraceView>, ApiError> {
    check_trace_id(&trace_id)?;
    let view = blocking(&state, move |s| {
        let spans = s.spans(&trace_id)?;
        if spans.is_empty() {
            return Err(ApiError::NotFound(format!(
                "no trace {trace_id} in the store"
            )));
        }
        let summary = s.trace(&trace_id)?;
        Ok(trace_view(&trace_id, summary, &spans))
    })
    .await?;
    Ok(Json(view))
}

/// A compile run as the runs list shows it.
#[derive(Debug, Serialize)]
struct CompileRunRow {
    trace_id: String,
    running: bool,
    status: &'static str,
    optimizer: Option<String>,
    program: Option<String>,
    start_epoch_ms: f64,
    duration_ms: f64,
    trials: usize,
    best_score: Option<f64>,
    cost_usd: f64,
    lm_calls: i64,
}

impl From<&CompileRunView> for CompileRunRow {
    fn from(v: &CompileRunView) -> Self {
        CompileRunRow {
            trace_id: v.trace_id.clone(),
            running: v.running,
            status: v.status,
            optimizer: v.optimizer.clone(),
            program: v.program.clone(),
            start_epoch_ms: v.start_epoch_ms,
            duration_ms: v.duration_ms,
            trials: v.trials.len(),
            best_score: v.best_score,
            cost_usd: v.spend.cost_usd,
            lm_calls: v.spend.lm_calls,
        }
    }
}

/// Unfinished runs are looked for among trials of the last day.
const RUNNING_WINDOW_NS: u64 = 24 * 3_600_000_000_000;

async fn compile_runs(State(state): State<AppState>) -> Result<Json<Vec<CompileRunRow>>, ApiError> {
    let rows = blocking(&state, |s| {
        let since = sigil::trace::now_ns().saturating_sub(RUNNING_WINDOW_NS);
        let views = s.compile_run_views(since, 20, 100)?;
        Ok(views.iter().map(CompileRunRow::from).collect::<Vec<_>>())
    })
    .await?;
    Ok(Json(rows))
}

async fn compile_run(
    State(state): State<AppState>,
    Path(trace_id): Path<String>,
) -> Result<Json<CompileRunView>, ApiError> {
    check_trace_id(&trace_id)?;
    let view = blocking(&state, move |s| {
        s.compile_run_view(&trace_id)?
            .ok_or_else(|| ApiError::NotFound(format!("no compile run in trace {trace_id}")))
    })
    .await?;
    Ok(Json(view))
}

/// Server-sent events: `change` whenever another process commits to the store.
async fn live(State(state): State<AppState>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let stream = futures::stream::unfold((state, None::<i64>), |(state, last)| async move {
        loop {
            tokio::time::sleep(Duration::from_millis(700)).await;
            let version = blocking(&state, |s| Ok(s.data_version()?)).await.ok();
            if version.is_some() && version != last {
                let data = version.unwrap_or_default().to_string();
                let event = Event::default().event("change").data(data);
                // The first poll only sets the baseline.
                if last.is_some() {
                    return Some((Ok(event), (state, version)));
                }
                return Some((Ok(Event::default().comment("ready")), (state, version)));
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

//! # sigil-store: the embedded trace store
//!
//! Storage and queries, nothing else. Spans from [`sigil::trace`] go into a SQLite
//! file (`.sigil/traces.db` by default): WAL mode, versioned schema migrations, one
//! transaction per batch, a retention limit. The [`StoreSink`] plugs into a
//! [`sigil::trace::SpanCollector`], which batches spans off the hot path;
//! [`standard_collector`] wires that sink and, when the environment asks for it, the
//! core crate's OTLP exporter. The [`Store`] answers the questions the CLI and UI ask:
//! traces by program, status, time and compiled/uncompiled; one trace's span tree;
//! compile runs with their trials, and each run rebuilt for display
//! ([`Store::compile_run_view`]: trials, best-so-far scores, spend, the example x
//! trial grid); per-program hourly aggregates; live-change polling.
//!
//! Alert rules, drift measures and webhooks are in `sigil-alerts`, which queries this
//! store; this crate has no HTTP client.
//!
//! ```no_run
//! # fn demo() -> Result<(), sigil_store::StoreError> {
//! use std::sync::Arc;
//! use sigil::trace::SpanCollector;
//! use sigil_store::{Store, StoreSink, TraceFilter};
//!
//! let sink = StoreSink::open_default()?;               // .sigil/traces.db
//! let collector = SpanCollector::builder().sink(Arc::new(sink)).build();
//! // ... ctx.with_hook(collector.clone()), run the program ...
//! collector.flush();
//! let store = Store::open_default()?;
//! for t in store.traces(&TraceFilter::default().program("rag").errors_only())? {
//!     println!("{} {} {:.0} ms", t.trace_id, t.status, t.duration_ms);
//! }
//! # Ok(()) }
//! ```
//!
//! Crash safety: a batch is one transaction in a WAL database, so a crash loses at
//! most the batch being written and never corrupts the file. A locked or full
//! database makes [`StoreSink`] keep its batch and retry (bounded); the problem is
//! reported once by the collector and the program keeps running. A damaged file or
//! one from a newer Sigil is refused at open, never rewritten.
//!
//! Cost, measured with `cargo bench -p sigil-store --bench trace_overhead -- 5000 40`
//! (40 rounds of 5,000 calls of each case, interleaved; shared 2-core machine at load
//! 2-3, so figures are best / median over rounds of the calling thread's CPU time)
//! and `--bench ingest`: a `Predict` call against a zero-latency LM costs its thread
//! 1.56 / 1.69 us of CPU untraced; with a hook that ignores every event 1.88 / 2.04 us
//! (+21% median: ids, four clock reads and eight dispatches; events borrow the call's
//! data, so nothing is copied for a hook); with the collector writing to this store
//! 2.10 / 2.20 us (+30% median, was +48% to +55%). The calling thread takes ids, one
//! clock read per boundary and the pointers the call holds into a reused record, and
//! queues it by copying it into the queue with the call's inputs and response (into
//! the queue's byte buffer, so that the call's own are freed at once, on the thread
//! that allocated them). What is left there, from `perf`: the four clock reads
//! (~40 ns each), queueing (~150 ns: the lock, the copies, and writing a 464-byte
//! record into queue memory that is out of cache, since at zero LM latency the
//! collector is thousands of calls behind) and ~100 ns of bookkeeping. The
//! collector's thread does the rest, 13 us of CPU per call to build the 4 spans (JSON,
//! secret redaction) and about 42 us more to write them here. Sampling
//! (`Ctx::with_trace_sampling(1/32)`) brings the caller to +6% CPU. The 5% target is
//! not met. The store writes 68k spans per CPU-second (`--bench ingest`; 44.8k
//! spans/s of wall clock at load 2).

pub mod compile_run;
mod live;
mod query;
mod schema;
mod setup;
mod sink;
mod store;

pub use compile_run::CompileRunView;
pub use query::{CompileRun, HourlyStats, SpanNode, TraceFilter, TraceSummary};
pub use schema::SCHEMA_VERSION;
pub use setup::{standard_collector, standard_collector_from, standard_collector_with};
pub use sink::StoreSink;
pub use store::{DEFAULT_PATH, Retention, Store};

use std::path::PathBuf;

/// Store failures. Each names the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open trace store {path}: {message}")]
    Open { path: PathBuf, message: String },
    #[error(
        "trace store {path} is damaged or not a Sigil trace store ({message}); it was left untouched: move it aside to start a new one"
    )]
    Corrupt { path: PathBuf, message: String },
    #[error(
        "trace store {path} has schema version {found}, newer than this Sigil understands ({supported}); upgrade Sigil"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("trace store is busy (locked by another process): {0}")]
    Locked(String),
    #[error("trace store disk is full: {0}")]
    Full(String),
    #[error("trace store: {0}")]
    Sqlite(String),
    #[error("invalid query: {0}")]
    Invalid(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
                StoreError::Locked(e.to_string())
            }
            Some(ErrorCode::DiskFull) => StoreError::Full(e.to_string()),
            _ => StoreError::Sqlite(e.to_string()),
        }
    }
}

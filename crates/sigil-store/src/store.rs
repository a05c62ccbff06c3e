//! Opening the store, writing batches of spans, retention.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, params};
use sigil::trace::{Span, keys};

use crate::StoreError;
use crate::schema::{SCHEMA_VERSION, migrate, version};

/// Where the store lives unless told otherwise, relative to the working directory.
pub const DEFAULT_PATH: &str = ".sigil/traces.db";

/// How much the store keeps. Older spans (and their traces) are deleted first.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Retention {
    /// Spans older than this are deleted (default 30 days).
    pub max_age: Option<Duration>,
    /// At most this many spans are kept (default 5,000,000).
    pub max_spans: Option<u64>,
}

impl Default for Retention {
    fn default() -> Self {
        Retention {
            max_age: Some(Duration::from_secs(30 * 24 * 3600)),
            max_spans: Some(5_000_000),
        }
    }
}

impl Retention {
    pub fn unlimited() -> Self {
        Retention {
            max_age: None,
            max_spans: None,
        }
    }
}

/// A trace store: one SQLite file. Safe to share between threads.
pub struct Store {
    pub(crate) conn: Mutex<Connection>,
    path: PathBuf,
    retention: Retention,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("path", &self.path)
            .field("retention", &self.retention)
            .finish()
    }
}

impl Store {
    /// Opens (creating if needed) the store at `path`, in WAL mode, migrated to the
    /// current schema. Refuses damaged files and files from a newer Sigil.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let path = path.as_ref().to_path_buf();
        let open_err = |message: String| StoreError::Open {
            path: path.clone(),
            message,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| open_err(format!("cannot create {}: {e}", dir.display())))?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn =
            Connection::open_with_flags(&path, flags).map_err(|e| open_err(e.to_string()))?;
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(|e| open_err(e.to_string()))?;
        let corrupt = |e: rusqlite::Error| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::NotADatabase | rusqlite::ErrorCode::DatabaseCorrupt) => {
                StoreError::Corrupt {
                    path: path.clone(),
                    message: e.to_string(),
                }
            }
            _ => StoreError::from(e),
        };
        let found = version(&conn).map_err(corrupt)?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                path,
                found,
                supported: SCHEMA_VERSION,
            });
        }
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(corrupt)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(open_err(format!("cannot switch to WAL mode (got {mode})")));
        }
        // NORMAL in WAL mode: a commit survives a process crash; a power loss may lose
        // the last commits but never corrupts the file.
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(corrupt)?;
        // Ingest speed: span ids are random, so index inserts land all over the
        // B-trees; a 64 MiB page cache keeps the hot index pages in memory, and
        // checkpointing every ~16 MiB of WAL instead of every 4 MiB makes fewer,
        // larger writes back into the database file.
        conn.pragma_update(None, "cache_size", -65_536)
            .map_err(corrupt)?;
        conn.pragma_update(None, "wal_autocheckpoint", 4_000)
            .map_err(corrupt)?;
        conn.pragma_update(None, "temp_store", "MEMORY")
            .map_err(corrupt)?;
        if found > 0 {
            // A file we created: make sure its tables are readable before trusting it.
            conn.query_row("SELECT count(*) FROM traces LIMIT 1", [], |_| Ok(()))
                .map_err(corrupt)?;
        }
        migrate(&mut conn).map_err(corrupt)?;
        Ok(Store {
            conn: Mutex::new(conn),
            path,
            retention: Retention::default(),
        })
    }

    /// Opens `.sigil/traces.db` under the working directory.
    pub fn open_default() -> Result<Store, StoreError> {
        Store::open(DEFAULT_PATH)
    }

    pub fn with_retention(mut self, retention: Retention) -> Self {
        self.retention = retention;
        self
    }
    pub fn retention(&self) -> Retention {
        self.retention
    }
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn conn(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes a batch in one transaction: all of it is stored or none. Root spans
    /// also write their trace's summary row. Writing a span twice replaces it.
    pub fn write_spans(&self, spans: &[Span]) -> Result<(), StoreError> {
        if spans.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        {
            let mut insert_span = tx.prepare_cached(
                "INSERT OR REPLACE INTO spans (trace_id, span_id, parent_id, kind, name, start_ns, end_ns, status, \
                 status_message, attributes, events) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            let mut insert_trace = tx.prepare_cached(
                "INSERT OR REPLACE INTO traces (trace_id, program, root_name, root_kind, compiled, artifact_hash, \
                 optimizer, model, start_ns, end_ns, status, error, input_tokens, output_tokens, cached_tokens, \
                 cost_usd, lm_calls, inputs, score) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19)",
            )?;
            for s in spans {
                let trace_id = s.trace_id.to_hex();
                let attributes = serde_json::to_string(&s.attributes)
                    .map_err(|e| StoreError::Sqlite(e.to_string()))?;
                let events = if s.events.is_empty() {
                    None
                } else {
                    Some(
                        serde_json::to_string(&s.events)
                            .map_err(|e| StoreError::Sqlite(e.to_string()))?,
                    )
                };
                insert_span.execute(params![
                    trace_id,
                    s.span_id.to_hex(),
                    s.parent_id.map(|p| p.to_hex()),
                    s.kind.as_str(),
                    s.name,
                    s.start_ns as i64,
                    s.end_ns as i64,
                    s.status.as_str(),
                    s.status.message(),
                    attributes,
                    events,
                ])?;
                if s.parent_id.is_none() {
                    let program = s.attr_str(keys::PROGRAM_NAME).unwrap_or(&s.name);
                    let compiled = s
                        .attr(keys::PROGRAM_COMPILED)
                        .and_then(|v| v.as_bool())
                        .unwrap_or(false);
                    let model = s
                        .attr_str(keys::PROGRAM_MODEL)
                        .or_else(|| s.attr_str(keys::GEN_AI_REQUEST_MODEL));
                    let int = |k: &str| s.attr_i64(k).unwrap_or(0);
                    insert_trace.execute(params![
                        trace_id,
                        program,
                        s.name,
                        s.kind.as_str(),
                        compiled,
                        s.attr_str(keys::PROGRAM_ARTIFACT_HASH),
                        s.attr_str(keys::PROGRAM_OPTIMIZER),
                        model,
                        s.start_ns as i64,
                        s.end_ns as i64,
                        s.status.as_str(),
                        s.status.message(),
                        int(keys::USAGE_INPUT_TOKENS),
                        int(keys::USAGE_OUTPUT_TOKENS),
                        int(keys::USAGE_CACHED_TOKENS),
                        s.attr_f64(keys::USAGE_COST_USD).unwrap_or(0.0),
                        int(keys::USAGE_LM_CALLS),
                        s.attr_str(keys::INPUTS),
                        s.attr_f64(keys::EVAL_SCORE),
                    ])?;
                }
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Deletes what the retention limit no longer allows; returns the spans deleted.
    pub fn apply_retention(&self) -> Result<u64, StoreError> {
        let conn = self.conn();
        let mut cutoff: Option<i64> = None;
        if let Some(age) = self.retention.max_age {
            let now = sigil::trace::now_ns() as i64;
            cutoff = Some(now.saturating_sub(age.as_nanos() as i64));
        }
        if let Some(max) = self.retention.max_spans {
            let nth: Option<i64> = conn
                .query_row(
                    "SELECT start_ns FROM spans ORDER BY start_ns DESC LIMIT 1 OFFSET ?1",
                    [max as i64],
                    |r| r.get(0),
                )
                .map(Some)
                .or_else(|e| {
                    if matches!(e, rusqlite::Error::QueryReturnedNoRows) {
                        Ok(None)
                    } else {
                        Err(e)
                    }
                })?;
            if let Some(n) = nth {
                // Keep spans strictly newer than the (max+1)-th newest.
                cutoff = Some(cutoff.map_or(n + 1, |c| c.max(n + 1)));
            }
        }
        let Some(cutoff) = cutoff else { return Ok(0) };
        let deleted = conn.execute("DELETE FROM spans WHERE start_ns < ?1", [cutoff])?;
        conn.execute("DELETE FROM traces WHERE start_ns < ?1", [cutoff])?;
        Ok(deleted as u64)
    }

    /// SQLite's own consistency check (`PRAGMA integrity_check`): `Ok` when sound.
    pub fn integrity_check(&self) -> Result<(), StoreError> {
        let conn = self.conn();
        let r: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
        if r == "ok" {
            Ok(())
        } else {
            Err(StoreError::Corrupt {
                path: self.path.clone(),
                message: r,
            })
        }
    }

    /// How long a write waits for another process's lock before failing (default 5 s).
    pub fn with_busy_timeout(self, timeout: Duration) -> Self {
        if let Err(e) = self.conn().busy_timeout(timeout) {
            eprintln!("sigil: cannot set the trace store busy timeout: {e}");
        }
        self
    }

    /// Runs SQL statements as they are (maintenance, tests).
    pub fn execute_raw(&self, sql: &str) -> Result<(), StoreError> {
        Ok(self.conn().execute_batch(sql)?)
    }

    /// Number of spans stored.
    pub fn span_count(&self) -> Result<u64, StoreError> {
        Ok(self
            .conn()
            .query_row("SELECT count(*) FROM spans", [], |r| r.get::<_, i64>(0))? as u64)
    }
}

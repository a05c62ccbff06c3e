//! Versioned schema migrations, tracked in `PRAGMA user_version`.

use rusqlite::Connection;

/// Each entry migrates from version `i` to `i + 1`, in one transaction.
const MIGRATIONS: &[&str] = &[
    // 1: traces (one row per root span) and spans.
    // Rowid tables: rows are appended in time order; the random ids live in small
    // unique indexes, which keeps inserts local and fast.
    "CREATE TABLE traces (
        id            INTEGER PRIMARY KEY,
        trace_id      TEXT NOT NULL UNIQUE,
        program       TEXT NOT NULL,
        root_name     TEXT NOT NULL,
        root_kind     TEXT NOT NULL,
        compiled      INTEGER NOT NULL DEFAULT 0,
        artifact_hash TEXT,
        optimizer     TEXT,
        model         TEXT,
        start_ns      INTEGER NOT NULL,
        end_ns        INTEGER NOT NULL,
        status        TEXT NOT NULL,
        error         TEXT,
        input_tokens  INTEGER NOT NULL DEFAULT 0,
        output_tokens INTEGER NOT NULL DEFAULT 0,
        cached_tokens INTEGER NOT NULL DEFAULT 0,
        cost_usd      REAL NOT NULL DEFAULT 0,
        lm_calls      INTEGER NOT NULL DEFAULT 0,
        inputs        TEXT,
        score         REAL
    );
    CREATE INDEX traces_by_time ON traces(start_ns);
    CREATE INDEX traces_by_program ON traces(program, start_ns);
    CREATE TABLE spans (
        id          INTEGER PRIMARY KEY,
        trace_id    TEXT NOT NULL,
        span_id     TEXT NOT NULL,
        parent_id   TEXT,
        kind        TEXT NOT NULL,
        name        TEXT NOT NULL,
        start_ns    INTEGER NOT NULL,
        end_ns      INTEGER NOT NULL,
        status      TEXT NOT NULL,
        status_message TEXT,
        attributes  TEXT NOT NULL,
        events      TEXT,
        UNIQUE (trace_id, span_id)
    );
    CREATE INDEX spans_compile ON spans(start_ns) WHERE kind = 'compile';
    CREATE INDEX spans_by_time ON spans(start_ns);",
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// The file's schema version.
pub(crate) fn version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Applies the missing migrations; returns the version found before.
pub(crate) fn migrate(conn: &mut Connection) -> rusqlite::Result<i64> {
    let found = version(conn)?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", (i + 1) as i64)?;
        tx.commit()?;
    }
    Ok(found)
}

//! A process killed mid-write loses at most the batch in flight and never corrupts
//! the file; damaged, newer or locked databases are reported, never overwritten,
//! and the program keeps running.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use sigil::trace::{MemorySink, Span, SpanCollector, SpanId, SpanKind, SpanStatus, TraceId};
use sigil_store::{Store, StoreError, StoreSink, TraceFilter};

const BATCH: usize = 200;
const CHILD_ENV: &str = "SIGIL_STORE_CRASH_CHILD_DB";

fn batch(n: usize) -> Vec<Span> {
    let trace = TraceId::new();
    let root = SpanId::new();
    let now = sigil::trace::now_ns();
    (0..n)
        .map(|i| {
            let mut attributes = sigil::trace::Attributes::new();
            attributes.insert(
                "sigil.inputs".into(),
                format!("{{\"q\":\"{}\"}}", "x".repeat(200)).into(),
            );
            Span {
                trace_id: trace,
                span_id: if i == 0 { root } else { SpanId::new() },
                parent_id: if i == 0 { None } else { Some(root) },
                kind: if i == 0 {
                    SpanKind::Module
                } else {
                    SpanKind::Lm
                },
                name: "crash".into(),
                start_ns: now,
                end_ns: now + 10,
                status: SpanStatus::Ok,
                attributes,
                events: Vec::new(),
            }
        })
        .collect()
}

/// Not a test of its own: the body of the child process `killed_mid_write...` kills.
/// Without the variable it returns at once.
#[test]
fn crash_child_writer() {
    let Ok(path) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = Store::open(path).unwrap();
    loop {
        store.write_spans(&batch(BATCH)).unwrap();
    }
}

#[test]
fn killed_mid_write_loses_at_most_the_batch_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("crash.db");
    for round in 0..3 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "crash_and_bad_input::crash_child_writer",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &db)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(400 + 150 * round));
        child.kill().unwrap(); // SIGKILL: no destructors, no flush
        let _ = child.wait();
        let store = Store::open(&db).unwrap();
        store.integrity_check().unwrap();
        let n = store.span_count().unwrap();
        assert!(n > 0, "the child wrote something before it was killed");
        assert_eq!(
            n % BATCH as u64,
            0,
            "only whole batches are stored ({n} spans)"
        );
        assert_eq!(
            store
                .traces(&TraceFilter::default().limit(0))
                .unwrap()
                .len() as u64,
            n / BATCH as u64
        );
    }
}

#[test]
fn a_damaged_file_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("junk.db");
    let junk = b"this is not a database, it is somebody's notes".repeat(200);
    std::fs::write(&db, &junk).unwrap();
    let e = Store::open(&db).unwrap_err();
    assert!(matches!(e, StoreError::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains("left untouched"), "{e}");
    assert_eq!(std::fs::read(&db).unwrap(), junk);
}

#[test]
fn a_store_from_a_newer_sigil_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("new.db");
    drop(Store::open(&db).unwrap());
    bump_schema_version(&db);
    let e = Store::open(&db).unwrap_err();
    assert!(
        matches!(e, StoreError::TooNew { found, .. } if found == sigil_store::SCHEMA_VERSION + 1),
        "{e}"
    );
}

/// Pretends a newer Sigil migrated the file.
fn bump_schema_version(db: &std::path::Path) {
    let store = Store::open(db).unwrap();
    store
        .execute_raw(&format!(
            "PRAGMA user_version = {}",
            sigil_store::SCHEMA_VERSION + 1
        ))
        .unwrap();
}

#[test]
fn a_locked_store_keeps_the_batch_and_the_program_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("locked.db");
    let sink = StoreSink::new(
        Store::open(&db)
            .unwrap()
            .with_busy_timeout(Duration::from_millis(50)),
    );
    let other = Store::open(&db).unwrap();
    other.execute_raw("BEGIN EXCLUSIVE").unwrap(); // another process holds the write lock

    use sigil::trace::SpanSink;
    let first = batch(10);
    let e = sink.export(&first).unwrap_err();
    assert!(
        e.to_string().contains("busy") || e.to_string().contains("locked"),
        "{e}"
    );
    other.execute_raw("COMMIT").unwrap();
    sink.export(&batch(5)).unwrap();
    assert_eq!(
        sink.store().span_count().unwrap(),
        15,
        "the kept batch was written with the next one"
    );
    assert_eq!(sink.dropped(), 0);
}

#[tokio::test]
async fn a_store_that_fails_never_breaks_the_traced_program() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("gone.db");
    let sink = Arc::new(StoreSink::new(
        Store::open(&db)
            .unwrap()
            .with_busy_timeout(Duration::from_millis(20)),
    ));
    let memory = Arc::new(MemorySink::default());
    let collector = SpanCollector::builder()
        .sink(sink.clone())
        .sink(memory.clone())
        .build();
    let other = Store::open(&db).unwrap();
    other.execute_raw("BEGIN EXCLUSIVE").unwrap();
    let lm = sigil_testkit::ScriptedLm::from_fn(|_| Ok(sigil_testkit::chat(&[("answer", "ok")])));
    let ctx = sigil::module::Ctx::new(lm).with_hook(collector.clone());
    let p = sigil::module::Predict::parse("question -> answer").unwrap();
    use sigil::module::Module;
    for _ in 0..3 {
        p.call(&ctx, sigil::data::Example::new().input("question", "q"))
            .await
            .unwrap();
    }
    collector.flush();
    assert_eq!(
        memory.spans().len(),
        12,
        "the other sinks still get every span"
    );
    assert!(collector.stats().sink_errors >= 1);
    other.execute_raw("COMMIT").unwrap();
    p.call(&ctx, sigil::data::Example::new().input("question", "q"))
        .await
        .unwrap();
    collector.flush();
    assert_eq!(
        sink.store().span_count().unwrap(),
        16,
        "kept spans are written once the lock is gone"
    );
}

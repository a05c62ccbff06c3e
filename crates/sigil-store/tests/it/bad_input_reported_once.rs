//! Issue 6's bad-input promise, checked on a real traced program in a child process
//! (so its stderr can be read): a locked database, a full disk, a corrupt file and an
//! unreachable OTLP collector each leave the program running, are reported once,
//! clearly, and lose nothing already stored.
//!
//! The full disk is simulated with `PRAGMA max_page_count` (SQLite then fails writes
//! with SQLITE_FULL, exactly as on a full file system), so the test needs no mount.

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use sigil::module::{Ctx, Module, Predict};
use sigil::prelude::Example;
use sigil::trace::SpanCollector;
use sigil_store::{Store, StoreSink};

const MODE: &str = "SIGIL_BAD_INPUT_CHILD_MODE";
const DB: &str = "SIGIL_BAD_INPUT_CHILD_DB";
const CALLS: usize = 30;

fn program() -> (Predict, sigil_testkit::ScriptedLm) {
    let lm = sigil_testkit::ScriptedLm::from_fn(|_| Ok(sigil_testkit::chat(&[("answer", "ok")])));
    (Predict::parse("question -> answer").unwrap(), lm)
}

/// `CALLS` traced calls (4 spans each); with `flush_each`, flushing after each so
/// every batch meets the fault.
async fn run_calls(ctx: &Ctx, collector: &SpanCollector, flush_each: bool) -> usize {
    let (p, _) = program();
    let mut done = 0;
    for i in 0..CALLS {
        let out = p
            .call(ctx, Example::new().input("question", format!("q{i}")))
            .await;
        if out.is_ok() {
            done += 1;
        }
        if flush_each {
            collector.flush();
        }
    }
    done
}

/// Not a test of its own: the child process's body. Without the variable it returns.
#[tokio::test]
async fn bad_input_child() {
    let (Ok(mode), Ok(db)) = (std::env::var(MODE), std::env::var(DB)) else {
        return;
    };
    let (_, lm) = program();
    match mode.as_str() {
        "locked" => {
            let store = Store::open(&db)
                .unwrap()
                .with_busy_timeout(Duration::from_millis(20));
            let sink = Arc::new(StoreSink::new(store));
            let collector = SpanCollector::builder().sink(sink.clone()).build();
            let other = Store::open(&db).unwrap();
            other.execute_raw("BEGIN EXCLUSIVE").unwrap();
            let ctx = Ctx::new(lm).with_hook(collector.clone());
            let done = run_calls(&ctx, &collector, true).await;
            println!("calls {done}");
            other.execute_raw("COMMIT").unwrap();
            collector.flush();
            println!("stored {}", sink.store().span_count().unwrap());
        }
        "full" => {
            let store = Store::open(&db).unwrap();
            let pages: i64 = {
                let probe = Store::open(&db).unwrap();
                probe
                    .execute_raw("PRAGMA wal_checkpoint(TRUNCATE)")
                    .unwrap();
                std::fs::metadata(&db).unwrap().len() as i64 / 4096
            };
            // The file may not grow past what it has: the next page it needs fails.
            store
                .execute_raw(&format!("PRAGMA max_page_count = {pages}"))
                .unwrap();
            let sink = Arc::new(StoreSink::new(store));
            let collector = SpanCollector::builder().sink(sink.clone()).build();
            let ctx = Ctx::new(lm).with_hook(collector.clone());
            let done = run_calls(&ctx, &collector, true).await;
            println!("calls {done}");
            // Space comes back (the disk is cleaned up): the kept spans are written.
            sink.store()
                .execute_raw("PRAGMA max_page_count = 1073741823")
                .unwrap();
            collector.flush();
            println!("stored {}", sink.store().span_count().unwrap());
            sink.store().integrity_check().unwrap();
        }
        "corrupt" => {
            let (collector, problems) =
                sigil_store::standard_collector_with(Some(Path::new(&db)), |_| None);
            for p in &problems {
                eprintln!("sigil: {p}");
            }
            let ctx = Ctx::new(lm).with_hook(collector.clone());
            let done = run_calls(&ctx, &collector, true).await;
            println!("calls {done}");
        }
        "otlp" => {
            let (collector, problems) =
                sigil_store::standard_collector_with(Some(Path::new(&db)), |k| match k {
                    // Nothing listens on the discard port.
                    "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://127.0.0.1:9".into()),
                    _ => None,
                });
            assert!(problems.is_empty(), "{problems:?}");
            let ctx = Ctx::new(lm).with_hook(collector.clone());
            // As a program runs: batches go out on the collector's timer, one flush at exit.
            let done = run_calls(&ctx, &collector, false).await;
            println!("calls {done}");
            collector.shutdown();
            println!("stored {}", Store::open(&db).unwrap().span_count().unwrap());
        }
        other => panic!("unknown mode {other}"),
    }
}

struct ChildRun {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn child(mode: &str, db: &Path) -> ChildRun {
    let out = Command::new(std::env::current_exe().unwrap())
        .args([
            "bad_input_reported_once::bad_input_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(MODE, mode)
        .env(DB, db)
        .output()
        .unwrap();
    ChildRun {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The `sigil:` lines on stderr (problem reports).
fn reports(stderr: &str) -> Vec<&str> {
    stderr.lines().filter(|l| l.starts_with("sigil:")).collect()
}

fn value(stdout: &str, key: &str) -> u64 {
    stdout
        .lines()
        .find_map(|l| l.split(&format!("{key} ")).nth(1))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `{key}` in child output:\n{stdout}"))
}

/// A store holding `n` spans from an earlier run.
fn store_with_spans(db: &Path, n: usize) {
    let store = Store::open(db).unwrap();
    let now = sigil::trace::now_ns();
    let spans: Vec<sigil::trace::Span> = (0..n)
        .map(|i| sigil::trace::Span {
            trace_id: sigil::trace::TraceId::new(),
            span_id: sigil::trace::SpanId::new(),
            parent_id: None,
            kind: sigil::trace::SpanKind::Module,
            name: format!("earlier {i}"),
            start_ns: now,
            end_ns: now + 1,
            status: sigil::trace::SpanStatus::Ok,
            attributes: Default::default(),
            events: Vec::new(),
        })
        .collect();
    store.write_spans(&spans).unwrap();
}

#[test]
fn a_locked_database_is_reported_once_and_nothing_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("locked.db");
    store_with_spans(&db, 10);
    let run = child("locked", &db);
    assert!(run.ok, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        value(&run.stdout, "calls"),
        CALLS as u64,
        "the program kept running"
    );
    let r = reports(&run.stderr);
    assert_eq!(r.len(), 1, "reported once: {r:?}");
    assert!(
        r[0].contains("sqlite store") && r[0].contains("locked"),
        "{}",
        r[0]
    );
    assert_eq!(
        value(&run.stdout, "stored"),
        10 + 4 * CALLS as u64,
        "earlier spans kept, and the kept batches were written once the lock went"
    );
}

#[test]
fn a_full_disk_is_reported_once_and_nothing_stored_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("full.db");
    store_with_spans(&db, 500);
    let run = child("full", &db);
    assert!(run.ok, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        value(&run.stdout, "calls"),
        CALLS as u64,
        "the program kept running"
    );
    let r = reports(&run.stderr);
    assert_eq!(r.len(), 1, "reported once: {r:?}");
    assert!(r[0].contains("full"), "{}", r[0]);
    assert_eq!(
        value(&run.stdout, "stored"),
        500 + 4 * CALLS as u64,
        "earlier spans kept; the kept spans were written once there was room"
    );
    let store = Store::open(&db).unwrap();
    store.integrity_check().unwrap();
}

#[test]
fn a_corrupt_file_is_reported_once_left_untouched_and_the_program_runs() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("corrupt.db");
    store_with_spans(&db, 50);
    // Damage the file past its header: the schema pages become garbage.
    let mut bytes = std::fs::read(&db).unwrap();
    assert!(bytes.len() > 8192);
    for b in &mut bytes[100..8192] {
        *b = 0xA5;
    }
    std::fs::write(&db, &bytes).unwrap();
    let run = child("corrupt", &db);
    assert!(run.ok, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        value(&run.stdout, "calls"),
        CALLS as u64,
        "the program kept running"
    );
    let r = reports(&run.stderr);
    assert_eq!(r.len(), 1, "reported once: {r:?}");
    assert!(
        r[0].contains("damaged") && r[0].contains("corrupt.db"),
        "names the file and the problem: {}",
        r[0]
    );
    assert_eq!(
        std::fs::read(&db).unwrap(),
        bytes,
        "the file was left untouched"
    );
}

#[test]
fn an_unreachable_collector_is_reported_once_and_the_store_still_gets_everything() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("otlp.db");
    let run = child("otlp", &db);
    assert!(run.ok, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(
        value(&run.stdout, "calls"),
        CALLS as u64,
        "the program kept running"
    );
    let r = reports(&run.stderr);
    assert_eq!(r.len(), 1, "reported once: {r:?}");
    assert!(
        r[0].contains("cannot export spans to http://127.0.0.1:9"),
        "{}",
        r[0]
    );
    assert_eq!(value(&run.stdout, "stored"), 4 * CALLS as u64);
}

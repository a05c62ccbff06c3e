//! `sigil traces` over a real store filled by a traced program: list with filters
//! (table and JSON), show a span tree with timings, tokens and cost (by id prefix),
//! export every span as JSON Lines, and clear errors for a missing store or bad flags.

use trace_store_support::{fill, sigil, stderr, stdout};

use crate::trace_store_support;

fn json_list(db: &str, extra: &[&str]) -> Vec<serde_json::Value> {
    let mut args = vec!["traces", "--store", db, "list", "--json"];
    args.extend_from_slice(extra);
    let o = sigil(&args);
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_str::<Vec<serde_json::Value>>(&stdout(&o)).unwrap()
}

#[test]
fn traces_list_show_and_export() {
    let dir = tempfile::tempdir().unwrap();
    let db_path = dir.path().join("traces.db");
    let filled = fill(&db_path, 3, 2, 1);
    let db = db_path.to_str().unwrap();

    // list: every trace, newest first; filters narrow it down.
    let all = json_list(db, &[]);
    assert_eq!(all.len(), 3 + 2 + 1 + 1, "6 calls and the compile run");
    assert_eq!(all[0]["root_kind"], "compile", "newest first");
    assert_eq!(json_list(db, &["--program", "qa"]).len(), 6);
    let errors = json_list(db, &["--status", "error"]);
    assert_eq!(errors.len(), filled.failed);
    assert!(
        errors
            .iter()
            .all(|t| t["program"] == "qa" && t["status"] == "error")
    );
    let compiled = json_list(db, &["--compiled"]);
    assert_eq!(compiled.len(), filled.compiled);
    assert_eq!(compiled[0]["artifact_hash"], "abc123");
    assert_eq!(json_list(db, &["--uncompiled", "--program", "qa"]).len(), 5);
    assert_eq!(json_list(db, &["--limit", "2"]).len(), 2);
    assert_eq!(json_list(db, &["--since", "1h"]).len(), 7);
    assert_eq!(json_list(db, &["--program", "nope"]).len(), 0);

    // The table: a header and one row per trace.
    let o = sigil(&["traces", "--store", db, "list", "--program", "qa"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let table = stdout(&o);
    assert!(table.starts_with("TRACE"), "{table}");
    assert_eq!(table.lines().count(), 7, "{table}");
    assert_eq!(table.matches(" error ").count(), 2, "{table}");
    assert!(table.contains("(compiled)"), "{table}");

    // show: the span tree of one call, by a unique prefix of its id.
    let call = all
        .iter()
        .find(|t| t["root_kind"] == "module" && t["status"] == "ok")
        .unwrap();
    let id = call["trace_id"].as_str().unwrap();
    let o = sigil(&["traces", "--store", db, "show", &id[..12]]);
    assert!(o.status.success(), "{}", stderr(&o));
    let tree = stdout(&o);
    let lines: Vec<&str> = tree.lines().collect();
    assert!(lines[0].starts_with(&format!("trace {id}  qa")), "{tree}");
    assert!(lines[1].starts_with("module Predict  "), "{tree}");
    assert!(lines[1].contains(" ms"), "{tree}");
    assert!(
        lines[1].contains("tokens ") && lines[1].contains("1 LM call"),
        "{tree}"
    );
    assert!(lines[2].starts_with("├─ format chat.format"), "{tree}");
    assert!(lines[3].starts_with("├─ lm chat "), "{tree}");
    assert!(
        lines[3].contains(" in / ") && lines[3].contains(" out"),
        "{tree}"
    );
    assert!(lines[4].starts_with("└─ parse chat.parse"), "{tree}");
    assert_eq!(lines.len(), 5, "{tree}");

    // A failed call shows its error.
    let failed = errors[0]["trace_id"].as_str().unwrap();
    let o = sigil(&["traces", "--store", db, "show", failed]);
    assert!(
        stdout(&o).lines().nth(1).unwrap().contains("ERROR"),
        "{}",
        stdout(&o)
    );

    // The compile run: trials with scores beneath the compile span.
    let run = all[0]["trace_id"].as_str().unwrap();
    let o = sigil(&["traces", "--store", db, "show", run]);
    let tree = stdout(&o);
    assert!(
        tree.lines()
            .nth(1)
            .unwrap()
            .starts_with("compile BootstrapFewShotWithRandomSearch"),
        "{tree}"
    );
    assert!(tree.contains("best score 1.0000"), "{tree}");
    for t in 1..=filled.compile_trials {
        assert!(tree.contains(&format!("trial {t}  ")), "{tree}");
    }
    assert!(tree.contains("evaluate "), "{tree}");

    // show --json: the tree as data.
    let o = sigil(&["traces", "--store", db, "show", id, "--json"]);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["children"].as_array().unwrap().len(), 3);

    // export: every span of every trace, one JSON object per line.
    let out = dir.path().join("spans.jsonl");
    let o = sigil(&[
        "traces",
        "--store",
        db,
        "export",
        "--jsonl",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let text = std::fs::read_to_string(&out).unwrap();
    let spans: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let store = sigil_store::Store::open(&db_path).unwrap();
    assert_eq!(spans.len() as u64, store.span_count().unwrap());
    assert!(stderr(&o).contains(&format!("wrote {} spans of 7 traces", spans.len())));
    assert!(
        spans
            .iter()
            .all(|s| s["trace_id"].as_str().is_some_and(|t| t.len() == 32)
                && s["span_id"].as_str().is_some_and(|t| t.len() == 16)
                && s["kind"].is_string()
                && s["attributes"].is_object()),
        "{}",
        spans[0]
    );
    assert_eq!(
        spans.iter().filter(|s| s["parent_id"].is_null()).count(),
        7,
        "one root per trace"
    );
    // ... to stdout, filtered.
    let o = sigil(&[
        "traces", "--store", db, "export", "--jsonl", "--status", "error",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(
        stdout(&o).lines().count(),
        2 * 4,
        "two failed calls: module, format, lm, parse"
    );
}

#[test]
fn traces_errors_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.db");
    let o = sigil(&["traces", "--store", missing.to_str().unwrap(), "list"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("no trace store at"), "{}", stderr(&o));
    assert!(!missing.exists(), "listing never creates a store");

    let db_path = dir.path().join("traces.db");
    fill(&db_path, 1, 0, 0);
    let db = db_path.to_str().unwrap();
    let o = sigil(&["traces", "--store", db, "show", "0000000000000000dead"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("no trace `0000000000000000dead`"),
        "{}",
        stderr(&o)
    );
    let o = sigil(&["traces", "--store", db, "show", "not-hex"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("not a trace id"), "{}", stderr(&o));
    let o = sigil(&["traces", "--store", db, "list", "--since", "yesterday"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("--since `yesterday`"), "{}", stderr(&o));
    let o = sigil(&[
        "traces",
        "--store",
        db,
        "list",
        "--compiled",
        "--uncompiled",
    ]);
    assert_eq!(o.status.code(), Some(2), "clap refuses conflicting flags");

    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, b"this is not a sqlite file at all ".repeat(200)).unwrap();
    let o = sigil(&["traces", "--store", junk.to_str().unwrap(), "list"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("damaged or not a Sigil trace store"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

//! A program file end to end on the embedded model: compile (twice: the cached recompile
//! is byte-identical), evaluate with the artifact, and gate a promotion.
//! The model comes from the test set-up (scripts/test fetches it into the cache).

use sigil_testkit::CliOutput;

use crate::sigil_in as sigil;
use std::path::Path;

/// Status, stdout and stderr, for failure messages.
fn text(o: &CliOutput) -> String {
    o.to_string()
}

const PROGRAM: &str = r#"
name = "intents_small"
[lm]
model = "local"
temperature = 0.0
max_tokens = 24
[[step]]
name = "classify"
signature = "text -> intent: enum[unlock_problem, billing_question, lost_item, report_damage, account_access, pricing_info]"
instructions = "Classify the customer's support message into one intent."
[data]
path = "data.jsonl"
inputs = ["text"]
split = { train = 8, val = 8, test = 0, seed = 3 }
[metric]
kind = "exact_match"
field = "intent"
"#;

#[test]
fn compile_eval_and_promote_on_the_embedded_model() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/data/bike_support_intents.jsonl"),
    )
    .unwrap();
    let lines: Vec<&str> = data.lines().collect();
    // The last 12 messages are the test set; the program splits the rest.
    let (rest, test) = lines.split_at(lines.len() - 12);
    std::fs::write(d.join("data.jsonl"), rest.join("\n")).unwrap();
    std::fs::write(d.join("test.jsonl"), test.join("\n")).unwrap();
    std::fs::write(
        d.join("boot.toml"),
        format!("{PROGRAM}[optimizer]\nkind = \"bootstrap_few_shot\"\nseed = 1\nmax_bootstrapped_demos = 2\nmax_labeled_demos = 2\nbudget = {{ max_calls = 80 }}\n"),
    )
    .unwrap();
    std::fs::write(
        d.join("zero.toml"),
        format!("{PROGRAM}[optimizer]\nkind = \"labeled_few_shot\"\nmax_labeled_demos = 0\n"),
    )
    .unwrap();

    let o = sigil(
        d,
        &["compile", "boot.toml", "--out", "boot.sigil.toml", "--json"],
    );
    assert!(o.status.success(), "{}", text(&o));
    let first = std::fs::read(d.join("boot.sigil.toml")).unwrap();
    let summary: serde_json::Value = serde_json::from_str(&o.stdout).expect("--json output");
    assert_eq!(summary["optimizer"], "BootstrapFewShot", "{summary}");
    assert!(
        summary["spend"]["lm_calls"].as_u64().unwrap() <= 80,
        "the budget holds: {summary}"
    );

    // Same seed, cached responses: a byte-identical artifact.
    let o = sigil(
        d,
        &["compile", "boot.toml", "--out", "boot.sigil.toml", "--json"],
    );
    assert!(o.status.success(), "{}", text(&o));
    assert_eq!(
        first,
        std::fs::read(d.join("boot.sigil.toml")).unwrap(),
        "recompile is byte-identical"
    );

    let o = sigil(d, &["compile", "zero.toml", "--out", "zero.sigil.toml"]);
    assert!(o.status.success(), "{}", text(&o));

    let o = sigil(
        d,
        &[
            "eval",
            "boot.toml",
            "--artifact",
            "boot.sigil.toml",
            "--data",
            "test.jsonl",
            "--json",
        ],
    );
    assert!(o.status.success(), "{}", text(&o));
    let report: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(report["n"], 12);
    assert_eq!(
        report["parse_fallbacks"], 0,
        "constrained decoding never needs a fallback"
    );

    // An artifact never beats itself: the difference is exactly zero, so the gate refuses.
    let o = sigil(
        d,
        &[
            "promote",
            "zero.sigil.toml",
            "--over",
            "zero.sigil.toml",
            "--testset",
            "test.jsonl",
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    assert!(o.stderr.contains("NOT PROMOTED"), "{}", text(&o));

    // The real comparison: the exit code follows the printed interval.
    let o = sigil(
        d,
        &[
            "promote",
            "boot.sigil.toml",
            "--over",
            "zero.sigil.toml",
            "--testset",
            "test.jsonl",
            "--json",
        ],
    );
    let decision: serde_json::Value = serde_json::from_str(&o.stdout).unwrap_or_default();
    let low = decision["difference_ci95"][0]
        .as_f64()
        .unwrap_or_else(|| panic!("{}", text(&o)));
    assert_eq!(
        o.status.code(),
        Some(if low > 0.0 { 0 } else { 3 }),
        "{}",
        text(&o)
    );

    // Traces were stored for the compile and the evaluations.
    assert!(d.join(".sigil/traces.db").is_file());
}

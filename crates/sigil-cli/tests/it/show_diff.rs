//! `sigil show` prints an artifact's provenance and rendered prompts (text or JSON);
//! `sigil diff` compares two side by side and exits 0 either way; a bad file is one
//! clear error line and a non-zero exit.

use sigil_testkit::CliOutput;
use std::path::{Path, PathBuf};

fn sigil(args: &[&str]) -> CliOutput {
    crate::sigil_cli().args(args).env("NO_COLOR", "1").run()
}

fn golden() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sigil/tests/golden/artifact/two_step.sigil.toml")
}

fn text(out: &CliOutput) -> String {
    assert!(out.status.success(), "{}", out.stderr);
    out.stdout_utf8()
}

#[test]
fn show_prints_provenance_and_prompts() {
    let g = golden();
    let t = text(&sigil(&["show", g.to_str().unwrap()]));
    assert!(t.starts_with("Sigil artifact (format 1"), "{t}");
    assert!(t.contains("BootstrapFewShot (seed 7)"), "{t}");
    assert!(
        t.contains("valset    baseline 55.0%  compiled 80.0%"),
        "{t}"
    );
    assert!(t.contains("Predictor answer"), "{t}");
    assert!(
        t.contains("context: list[str]  — retrieved passages"),
        "{t}"
    );
    assert!(
        t.contains("  ----- system -----\n  Your input fields are:"),
        "{t}"
    );
    assert!(!t.contains('\x1b'), "NO_COLOR must turn colour off");
    assert!(!t.contains("warning"), "{t}");

    // The run sidecar is shown when present.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a.sigil.toml");
    std::fs::copy(&g, &file).unwrap();
    std::fs::write(
        dir.path().join("a.sigil.toml.run.toml"),
        "finished_unix = 1700000000\nwall_time_secs = 12.5\nprovider_calls = 40\ncache_hits = 2\ninput_tokens = 1000\noutput_tokens = 200\ncost_usd = 0.0123\n",
    )
    .unwrap();
    let t = text(&sigil(&["show", file.to_str().unwrap()]));
    assert!(
        t.contains("last run: 12.5 s wall time, 40 provider calls, 2 cache hits"),
        "{t}"
    );

    let j: serde_json::Value =
        serde_json::from_str(&text(&sigil(&["show", "--json", file.to_str().unwrap()]))).unwrap();
    assert_eq!(j["artifact"]["optimizer"]["seed"], 7);
    assert_eq!(j["artifact"]["predictors"][1]["path"], "answer");
    assert_eq!(j["run"]["provider_calls"], 40);
    assert_eq!(j["content_hash"].as_str().unwrap().len(), 64);
}

#[test]
fn show_warns_about_hand_edits_that_were_not_rendered() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("edited.sigil.toml");
    // Only the instructions key, not the rendered messages below it.
    let edited = std::fs::read_to_string(golden()).unwrap().replace(
        "instructions = \"\"\"\nAnswer from the passages only.",
        "instructions = \"\"\"\nAnswer from the passages.",
    );
    std::fs::write(&file, edited).unwrap();
    let t = text(&sigil(&["show", file.to_str().unwrap()]));
    assert!(
        t.contains("warning: the rendered messages below are out of date"),
        "{t}"
    );
}

#[test]
fn diff_shows_instructions_demos_and_scores() {
    let g = golden();
    let dir = tempfile::tempdir().unwrap();
    let b = dir.path().join("b.sigil.toml");
    let edited = std::fs::read_to_string(&g)
        .unwrap()
        .replace(
            "Answer from the passages only.",
            "Answer using the passages only.",
        )
        .replace("valset_compiled = 0.8", "valset_compiled = 0.85")
        .replace("type = \"list[str]\"", "type = \"str\"");
    std::fs::write(&b, edited).unwrap();
    let t = text(&sigil(&["diff", g.to_str().unwrap(), b.to_str().unwrap()]));
    assert!(t.contains("* valset compiled    80.0%"), "{t}");
    assert!(t.contains("85.0%"), "{t}");
    assert!(t.contains("Predictor write_query: identical"), "{t}");
    assert!(t.contains("    - Answer from the passages only.\n    + Answer using the passages only.\n      If they do not say"), "{t}");
    assert!(
        t.contains("  field context:\n    A: input context: list[str]"),
        "{t}"
    );

    let j: serde_json::Value = serde_json::from_str(&text(&sigil(&[
        "diff",
        "--json",
        g.to_str().unwrap(),
        b.to_str().unwrap(),
    ])))
    .unwrap();
    let answer = &j["predictors"][1];
    assert_eq!(answer["path"], "answer");
    assert_eq!(
        answer["instructions"][1],
        "Answer using the passages only.\nIf they do not say, answer \"unknown\"."
    );

    // Identical files: still exit 0.
    let t = text(&sigil(&["diff", g.to_str().unwrap(), g.to_str().unwrap()]));
    assert!(t.contains("Predictor answer: identical"), "{t}");
}

#[test]
fn bad_files_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.sigil.toml");
    std::fs::write(&bad, "format_version = 9\n").unwrap();
    for args in [
        vec!["show", bad.to_str().unwrap()],
        vec!["diff", bad.to_str().unwrap(), golden().to_str().unwrap()],
    ] {
        let out = sigil(&args);
        assert_eq!(out.status.code(), Some(1));
        let err = out.stderr_utf8();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(err.contains("format_version 9 is newer"), "{err}");
    }
    let out = sigil(&["show", dir.path().join("none.toml").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stderr.contains("cannot read"));
}

//! Malformed program files: one clear line naming the file, the line and the key, a
//! non-zero exit, and no LM is ever loaded.

use sigil_testkit::Cli;
use std::path::Path;

fn sigil() -> Cli {
    crate::sigil_cli()
}

const DATA: &str = r#"{"text": "my card was charged twice", "intent": "billing"}
{"text": "the bike will not unlock", "intent": "unlock"}
"#;

/// Writes `program` (and a small dataset beside it) and runs `sigil run` on it.
fn run_with(dir: &Path, program: &str) -> (i32, String) {
    std::fs::write(dir.join("data.jsonl"), DATA).unwrap();
    let file = dir.join("prog.toml");
    std::fs::write(&file, program).unwrap();
    let out = sigil()
        .args([
            "run",
            file.to_str().unwrap(),
            "-i",
            "text=hello",
            "--no-trace",
        ])
        .run();
    (out.status.code().unwrap_or(-1), out.stderr.clone())
}

const GOOD_HEAD: &str = r#"name = "t"
[lm]
model = "local:does-not-exist.gguf"
"#;

#[test]
fn a_typo_in_a_key_names_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let prog = format!("{GOOD_HEAD}[[step]]\nname = \"classify\"\nsignatur = \"text -> intent\"\n");
    let (code, err) = run_with(dir.path(), &prog);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("prog.toml:6:"), "{err}");
    assert!(err.contains("signatur"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
}

#[test]
fn a_bad_signature_names_the_step_key_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let prog = format!(
        "{GOOD_HEAD}[[step]]\nname = \"classify\"\nsignature = \"text -> intent: enum[\"\n"
    );
    let (code, err) = run_with(dir.path(), &prog);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("prog.toml:6: `step[0].signature`"), "{err}");
}

#[test]
fn an_input_from_nowhere_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let prog = format!(
        "{GOOD_HEAD}[[step]]\nname = \"a\"\nsignature = \"text -> summary\"\n\
         [[step]]\nname = \"b\"\nsignature = \"summry -> intent\"\n\
         [data]\npath = \"data.jsonl\"\ninputs = [\"text\"]\nsplit = {{ train = 1, val = 1, test = 0 }}\n"
    );
    let (code, err) = run_with(dir.path(), &prog);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("prog.toml:9: `step[1].signature`"), "{err}");
    assert!(err.contains("\"summry\" comes from nowhere"), "{err}");
    assert!(
        err.contains("summary, text"),
        "lists what is visible: {err}"
    );
}

#[test]
fn unknown_module_metric_and_optimizer_kinds_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let base = format!(
        "{GOOD_HEAD}[[step]]\nname = \"a\"\nsignature = \"text -> intent\"\n\
         [data]\npath = \"data.jsonl\"\ninputs = [\"text\"]\nsplit = {{ train = 1, val = 1, test = 0 }}\n"
    );
    let (code, err) = run_with(
        dir.path(),
        &base.replace("name = \"a\"", "name = \"a\"\nmodule = \"swarm\""),
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("`step[0].module`") && err.contains("unknown module \"swarm\""),
        "{err}"
    );

    let (code, err) = run_with(
        dir.path(),
        &format!("{base}[metric]\nkind = \"bleu\"\nfield = \"intent\"\n"),
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("`metric.kind`") && err.contains(":12:"),
        "{err}"
    );

    let (code, err) = run_with(
        dir.path(),
        &format!("{base}[metric]\nkind = \"exact_match\"\nfield = \"label\"\n"),
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("`metric.field`") && err.contains("no step outputs \"label\""),
        "{err}"
    );

    let (code, err) = run_with(
        dir.path(),
        &format!(
            "{base}[metric]\nkind = \"f1\"\nfield = \"intent\"\n[optimizer]\nkind = \"gepa\"\n"
        ),
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("`optimizer.kind`") && err.contains("unknown optimizer \"gepa\""),
        "{err}"
    );
}

#[test]
fn a_missing_data_file_and_a_wrong_type_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let prog = format!(
        "{GOOD_HEAD}[[step]]\nname = \"a\"\nsignature = \"text -> intent\"\n\
         [data]\npath = \"nope.jsonl\"\ninputs = [\"text\"]\nsplit = {{ train = 1, val = 1, test = 0 }}\n"
    );
    let (code, err) = run_with(dir.path(), &prog);
    assert_eq!(code, 1);
    assert!(
        err.contains("`data.path`") && err.contains("no such file"),
        "{err}"
    );

    let prog = format!(
        "{GOOD_HEAD}temperature = \"hot\"\n[[step]]\nname = \"a\"\nsignature = \"text -> intent\"\n"
    );
    let (code, err) = run_with(dir.path(), &prog);
    assert_eq!(code, 1);
    assert!(err.contains("prog.toml:4:"), "{err}");
}

#[test]
fn a_missing_program_file_is_one_line() {
    let out = sigil()
        .args(["run", "/nonexistent/prog.toml", "--no-trace"])
        .run();
    assert_eq!(out.status.code(), Some(1));
    let err = out.stderr.as_str();
    assert!(err.contains("/nonexistent/prog.toml: cannot read"), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "{err}");
}

#[test]
fn the_shipped_example_programs_are_valid() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/programs");
    let cwd = tempfile::tempdir().unwrap();
    let mut n = 0;
    for entry in std::fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            let out = sigil()
                .current_dir(cwd.path())
                .args([
                    "compile",
                    path.to_str().unwrap(),
                    "--dry-run",
                    "--no-trace",
                    "--model",
                    "local:/nonexistent.gguf",
                ])
                .run();
            let err = out.stderr.as_str();
            // Validation passes; only loading the (deliberately missing) model fails.
            assert!(
                err.contains("nonexistent.gguf"),
                "{}: {err}",
                path.display()
            );
            n += 1;
        }
    }
    assert!(n >= 2, "at least a classifier and a two-step pipeline");
}

//! `sigil render` prints DSPy's exact messages and rejects bad input with one clear line.

use std::process::Command;

fn sigil(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_sigil"))
        .args(args)
        .output()
        .expect("run sigil")
}

#[test]
fn render_prints_the_chat_messages() {
    let out = sigil(&[
        "render",
        "-s",
        "question -> answer: int",
        "-i",
        "question=What is 2+2?",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("--- system ---\nYour input fields are:\n1. `question` (str)"),
        "{text}"
    );
    assert!(
        text.contains("[[ ## question ## ]]\nWhat is 2+2?"),
        "{text}"
    );
    assert!(
        text.contains("(must be formatted as a valid Python int)"),
        "{text}"
    );
}

#[test]
fn render_json_output_is_machine_readable() {
    let out = sigil(&[
        "render",
        "-s",
        "q -> a",
        "-i",
        "q=hi",
        "--json",
        "--adapter",
        "json",
    ]);
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[1]["role"], "user");
}

#[test]
fn bad_signature_is_one_clear_error_and_nonzero_exit() {
    let out = sigil(&["render", "-s", "question -> answer: lst[str]"]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("column 21"), "{err}");
    assert!(!err.contains("panicked"));
    let out = sigil(&["render", "-s", "q -> a"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8(out.stderr)
            .unwrap()
            .contains("missing input field `q`")
    );
}

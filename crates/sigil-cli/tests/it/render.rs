//! `sigil render` prints DSPy's exact messages and rejects bad input with one clear line.

fn sigil(args: &[&str]) -> sigil_testkit::CliOutput {
    crate::sigil_cli().args(args).run()
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
    assert!(out.status.success(), "{}", out.stderr);
    let text = out.stdout_utf8();
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
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v.as_array().unwrap().len(), 2);
    assert_eq!(v[1]["role"], "user");
}

#[test]
fn bad_signature_is_one_clear_error_and_nonzero_exit() {
    let out = sigil(&["render", "-s", "question -> answer: lst[str]"]);
    assert_eq!(out.status.code(), Some(1));
    let err = out.stderr_utf8();
    assert!(err.contains("column 21"), "{err}");
    assert!(!err.contains("panicked"));
    let out = sigil(&["render", "-s", "q -> a"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stderr_utf8().contains("missing input field `q`"));
}

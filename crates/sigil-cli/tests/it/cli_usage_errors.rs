//! Unknown commands and flags, missing arguments and missing files: one line, a
//! non-zero exit, no panic and no backtrace.

fn run(args: &[&str]) -> (Option<i32>, String) {
    let out = crate::sigil_cli()
        .args(args)
        .env("RUST_BACKTRACE", "0")
        .run();
    (out.code(), out.stderr)
}

fn one_line(err: &str) {
    assert_eq!(err.trim_end().lines().count(), 1, "one line: {err:?}");
    assert!(
        !err.contains("panicked") && !err.contains("backtrace"),
        "{err}"
    );
}

#[test]
fn an_unknown_command_is_one_line_and_exit_2() {
    let (code, err) = run(&["frobnicate"]);
    assert_eq!(code, Some(2));
    one_line(&err);
    assert!(
        err.contains("unrecognized subcommand 'frobnicate'"),
        "{err}"
    );
}

#[test]
fn an_unknown_flag_is_one_line_and_exit_2() {
    let (code, err) = run(&["eval", "x.toml", "--frob"]);
    assert_eq!(code, Some(2));
    one_line(&err);
    assert!(err.contains("'--frob'"), "{err}");
}

#[test]
fn missing_arguments_are_named() {
    let (code, err) = run(&["promote", "a.sigil.toml"]);
    assert_eq!(code, Some(2));
    one_line(&err);
    assert!(err.contains("--over") && err.contains("--testset"), "{err}");
}

#[test]
fn missing_files_are_one_line_and_exit_1() {
    for args in [
        &["run", "/nonexistent/p.toml", "-i", "a=b"][..],
        &["eval", "/nonexistent/p.toml"][..],
        &["compile", "/nonexistent/p.toml"][..],
        &["show", "/nonexistent/a.sigil.toml"][..],
        &[
            "promote",
            "/nonexistent/a.sigil.toml",
            "--over",
            "/nonexistent/b.sigil.toml",
            "--testset",
            "t.jsonl",
        ][..],
    ] {
        let (code, err) = run(args);
        assert_eq!(code, Some(1), "{args:?}: {err}");
        one_line(&err);
        assert!(err.contains("/nonexistent/"), "{args:?}: {err}");
    }
}

#[test]
fn help_lists_every_command() {
    let out = crate::sigil_cli().arg("--help").run();
    assert!(out.status.success());
    let help = out.stdout.as_str();
    for cmd in [
        "quickstart",
        "run",
        "eval",
        "compile",
        "render",
        "show",
        "diff",
        "promote",
        "serve",
        "ui",
        "traces",
        "alerts",
    ] {
        assert!(
            help.contains(&format!("  {cmd} ")),
            "{cmd} missing from help:\n{help}"
        );
    }
}

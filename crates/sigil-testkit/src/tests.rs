//! The testkit's own tests: each helper does what it says, and an expectation that
//! must fail does fail, with a report that says why.

use sigil::lm::{LmError, LmRequest, Message};
use sigil::prelude::Lm;
use sigil::trace::{AttrValue, Span, SpanEvent, SpanId, SpanKind, SpanStatus, TraceId, keys};

use crate::diff::line_diff;
use crate::{Cli, OpenAiBody, ScriptedLm, chat, expect};

#[test]
fn chat_lists_fields_in_order_then_the_marker() {
    assert_eq!(
        chat(&[("reasoning", "Two and two."), ("answer", "4")]),
        "[[ ## reasoning ## ]]\nTwo and two.\n\n[[ ## answer ## ]]\n4\n\n[[ ## completed ## ]]"
    );
    assert_eq!(chat(&[]), "[[ ## completed ## ]]");
}

#[test]
fn openai_body_carries_usage_only_when_asked() {
    let plain = OpenAiBody::new("hi").json();
    assert!(plain.get("usage").is_none());
    assert_eq!(plain["choices"][0]["finish_reason"], "stop");
    assert_eq!(plain["choices"][0]["message"]["role"], "assistant");
    let full = OpenAiBody::new("hi")
        .model("m")
        .usage(1000, 200)
        .cached_tokens(400)
        .finish_reason("length")
        .json();
    assert_eq!(full["model"], "m");
    assert_eq!(full["usage"]["total_tokens"], 1200);
    assert_eq!(full["usage"]["prompt_tokens_details"]["cached_tokens"], 400);
    assert_eq!(full["choices"][0]["finish_reason"], "length");
    let text = OpenAiBody::new("hi").to_string();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&text).unwrap(),
        plain
    );
}

#[tokio::test]
async fn scripted_lm_answers_in_order_records_requests_then_runs_out() {
    let lm = ScriptedLm::new(["one", "two"]);
    lm.push_error(LmError::Other("third fails".into()));
    let req = || LmRequest::new(vec![Message::user("a b c")]);
    let first = lm.call(req()).await.unwrap();
    assert_eq!(first.text, "one");
    assert_eq!(
        first.usage.input_tokens, 3,
        "whitespace words of the messages"
    );
    assert_eq!(lm.call(req()).await.unwrap().text, "two");
    assert!(matches!(lm.call(req()).await, Err(LmError::Other(m)) if m == "third fails"));
    assert!(matches!(lm.call(req()).await, Err(LmError::Other(m)) if m.contains("exhausted")));
    assert_eq!(lm.calls(), 4);
    assert_eq!(lm.requests()[0].messages[0].content, "a b c");
    assert_eq!(lm.model_id(), "fake/scripted");

    let echo = ScriptedLm::from_fn(|r| Ok(r.messages[0].content.to_uppercase()));
    assert_eq!(echo.call(req()).await.unwrap().text, "A B C");
    assert_eq!(echo.model_id(), "fake/fn");
}

#[cfg(unix)]
#[test]
fn cli_passes_args_env_and_stdin_and_returns_text() {
    let out = Cli::new("/bin/sh")
        .args([
            "-c",
            "read line; echo \"$1 $GREETING $line\"; echo oops >&2; exit 3",
            "sh",
        ])
        .arg("arg1")
        .env("GREETING", "hello")
        .stdin("from stdin\n")
        .run();
    assert_eq!(out.code(), Some(3));
    assert!(!out.success());
    assert_eq!(out.stdout, "arg1 hello from stdin\n");
    assert_eq!(out.stderr, "oops\n");
    assert_eq!(out.stdout_utf8(), out.stdout);
    assert_eq!(out.stderr_utf8(), out.stderr);
    assert!(out.to_string().contains("status Some(3)"), "{out}");

    let bad = Cli::new("/bin/sh").args(["-c", "printf '\\377'"]).run();
    assert_eq!(bad.stdout, "\u{fffd}");
    assert!(std::panic::catch_unwind(|| bad.stdout_utf8()).is_err());

    let dir = std::env::temp_dir();
    let pwd = Cli::new("/bin/sh")
        .args(["-c", "pwd"])
        .current_dir(&dir)
        .run();
    assert!(pwd.success(), "{pwd}");
    let got = std::fs::canonicalize(pwd.stdout.trim()).unwrap();
    assert_eq!(got, std::fs::canonicalize(&dir).unwrap());
}

// ---- span expectations ----

fn span(trace: TraceId, parent: Option<&Span>, kind: SpanKind, name: &str, start: u64) -> Span {
    Span {
        trace_id: trace,
        span_id: SpanId::new(),
        parent_id: parent.map(|p| p.span_id),
        kind,
        name: name.into(),
        start_ns: start,
        end_ns: start + 10,
        status: SpanStatus::Ok,
        attributes: Default::default(),
        events: Vec::new(),
    }
}

/// A predictor call: `Predict` over format, lm, parse (listed out of start order).
fn predict_call() -> Vec<Span> {
    let t = TraceId::new();
    let mut root = span(t, None, SpanKind::Module, "Predict", 0);
    root.attributes
        .insert(keys::PROGRAM_NAME.into(), AttrValue::from("qa"));
    root.attributes
        .insert(keys::USAGE_LM_CALLS.into(), AttrValue::Int(1));
    root.attributes.insert(
        keys::INPUTS.into(),
        AttrValue::from(r#"{"question":"2+2?"}"#),
    );
    root.events.push(SpanEvent {
        name: "fallback".into(),
        time_ns: 5,
        attributes: Default::default(),
    });
    let format = span(t, Some(&root), SpanKind::Format, "chat.format", 1);
    let mut lm = span(t, Some(&root), SpanKind::Lm, "chat fake/fn", 2);
    lm.attributes
        .insert(keys::GEN_AI_TEMPERATURE.into(), AttrValue::Float(0.0));
    let mut parse = span(t, Some(&root), SpanKind::Parse, "chat.parse", 3);
    parse.status = SpanStatus::Error("could not parse".into());
    vec![parse, root, lm, format]
}

fn expected_call() -> crate::ExpectedSpan {
    expect::span("Predict")
        .kind(SpanKind::Module)
        .ok()
        .with_attr(keys::PROGRAM_NAME, "qa")
        .with_attr(keys::USAGE_LM_CALLS, 1i64)
        .with_attr_containing(keys::INPUTS, "2+2")
        .without_attr(keys::OUTPUTS)
        .with_events(["fallback"])
        .child(expect::kind(SpanKind::Format).no_children())
        .child(
            expect::kind(SpanKind::Lm)
                .with_attr(keys::GEN_AI_TEMPERATURE, 0.0)
                .with_attr_present(keys::GEN_AI_TEMPERATURE),
        )
        .child(expect::span("chat.parse").error_containing("parse"))
}

#[test]
fn a_matching_tree_passes() {
    let spans = predict_call();
    expected_call().assert_tree(&spans);
    // The same, from the root span, and a subtree on its own.
    let root = spans.iter().find(|s| s.name == "Predict").unwrap();
    expected_call().assert(root, &spans);
    let lm = spans.iter().find(|s| s.kind == SpanKind::Lm).unwrap();
    expect::any().no_children().assert(lm, &spans);
}

#[test]
fn numbers_match_by_value() {
    let spans = predict_call();
    let root = spans.iter().find(|s| s.name == "Predict").unwrap();
    expect::any()
        .with_attr(keys::USAGE_LM_CALLS, 1.0)
        .assert(root, &spans);
    assert!(
        expect::any()
            .with_attr(keys::USAGE_LM_CALLS, 2i64)
            .check(root, &spans)
            .is_err()
    );
}

#[test]
fn a_wrong_attribute_fails_and_the_diff_shows_both_values() {
    let spans = predict_call();
    let want = expected_call().with_attr(keys::PROGRAM_NAME, "other");
    let e = want.check_tree(&spans).unwrap_err();
    let key = keys::PROGRAM_NAME;
    assert_eq!(
        e.problems,
        [format!(
            r#"Predict: attribute {key} is = "qa", expected == "other""#
        )]
    );
    assert!(e.diff.contains(&format!(r#"-   .{key} == "other""#)), "{e}");
    assert!(e.diff.contains(&format!(r#"+   .{key} = "qa""#)), "{e}");
    // What matched is a common line.
    assert!(e.diff.contains(&format!(r#"    .{key} == "qa""#)), "{e}");
}

#[test]
#[should_panic(expected = "spans do not match the expectation")]
fn assert_tree_panics_with_the_report() {
    expected_call()
        .child(expect::kind(SpanKind::Tool))
        .assert_tree(&predict_call());
}

#[test]
fn a_missing_or_extra_child_fails() {
    let spans = predict_call();
    let missing = expected_call().child(expect::kind(SpanKind::Tool));
    let e = missing.check_tree(&spans).unwrap_err();
    assert!(e.problems[0].contains("has 3 children"), "{e}");
    assert!(e.diff.contains("-   tool * *"), "{e}");

    let fewer = expect::span("Predict")
        .child(expect::kind(SpanKind::Format))
        .child(expect::kind(SpanKind::Lm));
    let e = fewer.check_tree(&spans).unwrap_err();
    assert!(
        e.diff
            .contains(r#"+   parse "chat.parse" error "could not parse""#),
        "{e}"
    );

    let leaf = expect::span("Predict").no_children();
    assert!(leaf.check_tree(&spans).is_err());
}

#[test]
fn children_are_compared_in_start_order() {
    let spans = predict_call();
    let swapped = expect::span("Predict")
        .child(expect::kind(SpanKind::Lm))
        .child(expect::kind(SpanKind::Format))
        .child(expect::kind(SpanKind::Parse));
    let e = swapped.check_tree(&spans).unwrap_err();
    assert_eq!(e.problems.len(), 2, "{e}");
}

#[test]
fn status_name_kind_and_events_are_checked() {
    let spans = predict_call();
    for (want, says) in [
        (expect::span("Predict").cancelled(), "status is ok"),
        (expect::span("Other"), "name is \"Predict\""),
        (expect::kind(SpanKind::Tool), "kind is module"),
        (expect::any().with_events(["retry"]), "events are"),
        (expect::any().with_attr_present(keys::OUTPUTS), "is absent"),
        (expect::any().without_attr(keys::INPUTS), "expected absent"),
        (
            expect::any().with_attr_containing(keys::INPUTS, "3+3"),
            "contains",
        ),
    ] {
        let e = want.check_tree(&spans).unwrap_err();
        assert!(e.problems[0].contains(says), "{says}: {e}");
    }
}

#[test]
fn a_list_that_is_not_one_tree_fails() {
    let mut spans = predict_call();
    let t = TraceId::new();
    spans.push(span(t, None, SpanKind::Module, "Second", 0));
    let e = expect::any().check_tree(&spans).unwrap_err();
    assert!(
        e.problems[0].contains("expected one root span, found 2"),
        "{e}"
    );

    let mut orphan = predict_call();
    orphan.retain(|s| s.name != "Predict");
    let e = expect::any().check_tree(&orphan).unwrap_err();
    assert!(
        e.problems.iter().any(|p| p.contains("not among the spans")),
        "{e}"
    );
}

#[test]
fn line_diff_marks_removed_and_added_lines() {
    let lines = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        line_diff(&lines(&["a", "b", "c"]), &lines(&["a", "x", "c", "d"])),
        "  a\n- b\n+ x\n  c\n+ d\n"
    );
    assert_eq!(line_diff(&[], &[]), "");
}

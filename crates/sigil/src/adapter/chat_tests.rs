use super::*;
use crate::lm::{LmError, LmRequest, LmResponse, Role};
use crate::testing::ScriptedLm;
use serde_json::json;

fn sig() -> Signature {
    Signature::parse("question -> answer: int, label: enum[yes, no], notes: optional[list[str]]")
        .unwrap()
}

fn fields(pairs: &[(&str, Value)]) -> Fields {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

#[test]
fn parses_sections() {
    let completion = "Preamble text\n[[ ## answer ## ]]\n 42 \n\n[[ ## label ## ]]\n'Yes'\n\n[[ ## notes ## ]]\n[\"a\", \"b\"]\n\n[[ ## completed ## ]]\n";
    let got = ChatAdapter.parse(&sig(), completion).unwrap();
    assert_eq!(
        got,
        fields(&[
            ("answer", json!(42)),
            ("label", json!("yes")),
            ("notes", json!(["a", "b"]))
        ])
    );
}

#[test]
fn header_line_content_unknown_headers_and_first_wins() {
    let completion = "[[ ## answer ## ]] 7\n[[ ## bogus ## ]]\nignored\n[[ ## label ## ]]\nno\n[[ ## answer ## ]]\n8";
    let got = ChatAdapter.parse(&sig(), completion).unwrap();
    assert_eq!(
        got,
        fields(&[
            ("answer", json!(7)),
            ("label", json!("no")),
            ("notes", json!(null))
        ])
    );
    // Indented headers and CRLF line ends.
    let got = ChatAdapter
        .parse(
            &sig(),
            "  [[ ## answer ## ]]\r\n3\r\n  [[ ## label ## ]] yes\r\n",
        )
        .unwrap();
    assert_eq!(got["answer"], json!(3));
    assert_eq!(got["label"], json!("yes"));
}

#[test]
fn multi_line_string_values_keep_inner_lines() {
    let s = Signature::parse("q -> reasoning, answer").unwrap();
    let got = ChatAdapter.parse(&s, "[[ ## reasoning ## ]]\nline one\n\n  line two  \n[[ ## answer ## ]]\nok\n[[ ## completed ## ]]").unwrap();
    assert_eq!(got["reasoning"], json!("line one\n\n  line two"));
    assert_eq!(got["answer"], json!("ok"));
}

#[test]
fn bad_completions_are_typed_errors() {
    let e = ChatAdapter.parse(&sig(), "  \n ").unwrap_err();
    assert_eq!(e.failure, ParseFailure::Empty);
    assert_eq!(e.adapter, "chat");

    let e = ChatAdapter.parse(&sig(), "just some garbage").unwrap_err();
    assert_eq!(e.failure, ParseFailure::MissingField("answer".into()));
    assert_eq!(e.raw, "just some garbage");

    let e = ChatAdapter
        .parse(&sig(), "[[ ## answer ## ]]\n1\n[[ ## completed ## ]]")
        .unwrap_err();
    assert_eq!(e.failure, ParseFailure::MissingField("label".into()));

    let e = ChatAdapter
        .parse(
            &sig(),
            "[[ ## answer ## ]]\nforty-two\n[[ ## label ## ]]\nyes",
        )
        .unwrap_err();
    match &e.failure {
        ParseFailure::BadValue { field, got, .. } => {
            assert_eq!(field, "answer");
            assert_eq!(got, "forty-two");
        }
        other => panic!("unexpected failure {other:?}"),
    }
    assert_eq!(
        e.to_string(),
        "chat could not parse the completion: output field `answer` should be int, got \"forty-two\""
    );

    let e = ChatAdapter
        .parse(&sig(), "[[ ## answer ## ]]\n1\n[[ ## label ## ]]\nmaybe")
        .unwrap_err();
    assert!(matches!(&e.failure, ParseFailure::BadValue { field, .. } if field == "label"));

    let e = ChatAdapter
        .parse(
            &sig(),
            "[[ ## answer ## ]]\n1\n[[ ## label ## ]]\nno\n[[ ## notes ## ]]\n{not a list",
        )
        .unwrap_err();
    assert!(matches!(&e.failure, ParseFailure::BadValue { field, .. } if field == "notes"));
}

#[test]
fn garbage_never_panics() {
    let s = Signature::parse("q -> a: int, b: dict[str, list[float]], c: bool, d").unwrap();
    let junk = [
        "",
        "[[",
        "[[ ## ",
        "[[ ## a ## ]",
        "[[ ## a ## ]]",
        "[[ ## é ## ]]\n1",
        "[[ ## a ## ]]\u{2028}5\u{85}[[ ## b ## ]]{\"x\": [1, \"2\"]}\n[[ ## c ## ]]\nTrue\n[[ ## d ## ]]",
        "\r\r\r",
        "[[ ## b ## ]]\n{'x': [[[[[[",
        "[[ ## a ## ]]\n99999999999999999999999999",
        "[[ ## a ## ]]\n-",
    ];
    for text in junk {
        let _ = ChatAdapter.parse(&s, text);
        let _ = JsonAdapter.parse(&s, text);
    }
    let ok = ChatAdapter
        .parse(&s, "[[ ## a ## ]]\u{2028}5\u{85}[[ ## b ## ]]{\"x\": [1, \"2\"]}\n[[ ## c ## ]]\nTrue\n[[ ## d ## ]]")
        .unwrap();
    assert_eq!(ok["a"], json!(5));
    assert_eq!(ok["b"], json!({"x": [1.0, 2.0]}));
    assert_eq!(ok["d"], json!(""));
}

#[test]
fn format_layout_and_demo_order() {
    let s = Signature::parse("question -> answer: int").unwrap();
    let demos = vec![
        Example::new().set("question", "1+1?").set("answer", 2),
        Example::new().set("question", "only input"),
        Example::new()
            .set("question", "2+2?")
            .set("answer", json!(null)),
    ];
    let inputs = Example::new().input("question", "3+3?");
    let msgs = ChatAdapter.format(&s, &demos, &inputs).unwrap();
    let roles: Vec<Role> = msgs.iter().map(|m| m.role).collect();
    assert_eq!(
        roles,
        [
            Role::System,
            Role::User,
            Role::Assistant,
            Role::User,
            Role::Assistant,
            Role::User
        ]
    );
    // The incomplete demo (answer None) comes first, with DSPy's prefix.
    assert!(
        msgs[1]
            .content
            .starts_with("This is an example of the task")
    );
    assert_eq!(
        msgs[2].content,
        "[[ ## answer ## ]]\nNone\n\n[[ ## completed ## ]]\n"
    );
    assert_eq!(msgs[3].content, "[[ ## question ## ]]\n1+1?");
    assert_eq!(
        msgs[4].content,
        "[[ ## answer ## ]]\n2\n\n[[ ## completed ## ]]\n"
    );
    assert_eq!(
        msgs[5].content,
        "[[ ## question ## ]]\n3+3?\n\nRespond with the corresponding output fields, starting with the field `[[ ## answer ## ]]` (must be formatted as a valid Python int), and then ending with the marker for `[[ ## completed ## ]]`."
    );
}

#[test]
fn format_checks_inputs() {
    let s = Signature::parse("question, n: int, xs: list[int] -> answer").unwrap();
    let ok = Example::new()
        .input("question", "q")
        .input("n", 3)
        .input("xs", json!([1, 2]));
    assert!(ChatAdapter.format(&s, &[], &ok).is_ok());
    let missing = Example::new().input("question", "q").input("n", 3);
    assert!(matches!(
        ChatAdapter.format(&s, &[], &missing),
        Err(FormatError::MissingInput { .. })
    ));
    let extra = ok.clone().input("zzz", 1);
    assert!(matches!(
        JsonAdapter.format(&s, &[], &extra),
        Err(FormatError::UnexpectedInput { .. })
    ));
    let bad = Example::new()
        .input("question", "q")
        .input("n", json!({"a": 1}))
        .input("xs", json!([1]));
    match ChatAdapter.format(&s, &[], &bad) {
        Err(FormatError::BadInputType {
            field,
            expected,
            got,
        }) => {
            assert_eq!(
                (field.as_str(), expected.as_str(), got.as_str()),
                ("n", "int", "an object")
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    let bad_item = Example::new()
        .input("question", "q")
        .input("n", 1)
        .input("xs", json!([1, true]));
    assert!(matches!(
        ChatAdapter.format(&s, &[], &bad_item),
        Err(FormatError::BadInputType { .. })
    ));
    // Strings are accepted for any type: they are shown as written.
    let text = Example::new()
        .input("question", json!(5))
        .input("n", "three")
        .input("xs", "[1, 2]");
    assert!(ChatAdapter.format(&s, &[], &text).is_ok());
}

struct ChatFieldsLm;

#[async_trait::async_trait]
impl Lm for ChatFieldsLm {
    fn model_id(&self) -> String {
        "fake/constrained".into()
    }
    fn supports_constraint(&self, c: &OutputConstraint) -> bool {
        matches!(c, OutputConstraint::ChatFields { .. })
    }
    async fn call(&self, _r: LmRequest) -> Result<LmResponse, LmError> {
        Err(LmError::Other("unused".into()))
    }
}

#[test]
fn constraint_only_when_supported() {
    let lm = ScriptedLm::new(Vec::<String>::new());
    assert_eq!(ChatAdapter.constraint(&sig(), &lm), None);
    match ChatAdapter.constraint(&sig(), &ChatFieldsLm) {
        Some(OutputConstraint::ChatFields { fields }) => {
            let names: Vec<&str> = fields.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(names, ["answer", "label", "notes"]);
            assert_eq!(fields[1].1, FieldType::literal(["yes", "no"]));
        }
        other => panic!("unexpected constraint {other:?}"),
    }
    // The JSON adapter does not take a ChatFields-only LM's word for its JSON schema.
    assert_eq!(JsonAdapter.constraint(&sig(), &ChatFieldsLm), None);
}

#[test]
fn a_completion_cut_off_inside_the_completed_marker_still_parses() {
    let sig = Signature::parse("q -> label: enum[balance_not_updated, age_limit]").unwrap();
    for cut in ["\n\n[[ ## comp", "\n\n[[", "\n\n[[ ## completed ## ]"] {
        let completion = format!("[[ ## label ## ]]\nbalance_not_updated{cut}");
        let fields = ChatAdapter
            .parse(&sig, &completion)
            .unwrap_or_else(|e| panic!("{cut:?}: {e}"));
        assert_eq!(fields["label"], "balance_not_updated", "{cut:?}");
    }
    // A cut inside the value itself is still an error.
    assert!(
        ChatAdapter
            .parse(&sig, "[[ ## label ## ]]\nbalance_not")
            .is_err()
    );
    // A single `[` line is not taken for the marker.
    let sig = Signature::parse("q -> text").unwrap();
    let fields = ChatAdapter.parse(&sig, "[[ ## text ## ]]\nsee\n[").unwrap();
    assert_eq!(fields["text"], "see\n[");
}

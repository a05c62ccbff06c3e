use super::*;
use serde_json::Value;
use sigil::signature::FieldType;

fn accepts(c: &OutputConstraint, text: &str) -> bool {
    let mut st = Grammar::compile(c).unwrap().start();
    st.feed(text) && st.accepting()
}

#[test]
fn choice() {
    let c = OutputConstraint::Choice {
        choices: vec!["yes".into(), "no".into(), "yes sir".into()],
    };
    assert!(accepts(&c, "yes"));
    assert!(accepts(&c, "yes sir"));
    assert!(!accepts(&c, "ye"));
    assert!(!Grammar::compile(&c).unwrap().start().feed("maybe"));
    let mut st = Grammar::compile(&c).unwrap().start();
    assert!(st.feed("n"));
    assert_eq!(st.completion(), "o");
    assert!(Grammar::compile(&OutputConstraint::Choice { choices: vec![] }).is_err());
}

#[test]
fn chat_fields() {
    let c = OutputConstraint::ChatFields {
        fields: vec![
            ("answer".into(), FieldType::Str),
            ("n".into(), FieldType::Int),
            ("ok".into(), FieldType::Bool),
            ("tags".into(), FieldType::list(FieldType::Str)),
        ],
    };
    let good = "[[ ## answer ## ]]\nParis is\nthe capital\n\n[[ ## n ## ]]\n-42\n\n[[ ## ok ## ]]\nTrue\n\n[[ ## tags ## ]]\n[\"a\", \"b\"]\n\n[[ ## completed ## ]]";
    let mut st = Grammar::compile(&c).unwrap().start();
    assert!(st.feed(good));
    assert!(st.finished());
    assert!(
        !Grammar::compile(&c)
            .unwrap()
            .start()
            .feed("[[ ## answer ## ]]\nx\n\n[[ ## n ## ]]\nabc")
    );
    let mut st = Grammar::compile(&c).unwrap().start();
    assert!(st.feed("[[ ## answer ## ]]\nhel"));
    assert_eq!(
        st.completion(),
        "\n\n[[ ## n ## ]]\n0\n\n[[ ## ok ## ]]\nTrue\n\n[[ ## tags ## ]]\n[]\n\n[[ ## completed ## ]]"
    );
}

#[test]
fn json_schema() {
    let schema = serde_json::json!({
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "age": {"type": "integer"},
            "score": {"type": "number"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "kind": {"enum": ["cat", "dog"]},
            "ok": {"type": "boolean"}
        },
        "required": ["name", "age"]
    });
    let c = OutputConstraint::JsonSchema {
        name: "t".into(),
        schema,
    };
    let good = r#"{"name": "Felix \"the\" cat", "age": 3, "score": 1.5, "tags": ["a","b"], "kind": "cat", "ok": false}"#;
    let mut st = Grammar::compile(&c).unwrap().start();
    assert!(st.feed(good), "rejected");
    assert!(st.finished());
    let mut st = Grammar::compile(&c).unwrap().start();
    assert!(st.feed(r#"{"name": "Fel"#));
    let done = format!("{{\"name\": \"Fel{}", st.completion());
    let v: Value = serde_json::from_str(&done).unwrap();
    assert_eq!(v["age"], 0);
    assert!(!Grammar::compile(&c).unwrap().start().feed(r#"{"nam": 1"#));
    let arr = OutputConstraint::JsonSchema {
        name: "a".into(),
        schema: serde_json::json!({"type": "array", "items": {"type": "integer"}}),
    };
    assert!(!Grammar::compile(&arr).unwrap().start().feed("[1, ]"));
    let mut st = Grammar::compile(&arr).unwrap().start();
    assert!(st.feed("[1, "));
    assert_eq!(st.completion(), "0]");
}

#[test]
fn json_strings_take_unicode_escapes_and_numbers_no_leading_zeros() {
    let c = OutputConstraint::JsonSchema {
        name: "t".into(),
        schema: serde_json::json!({"type": "array", "items": {"type": "string"}}),
    };
    let g = Grammar::compile(&c).unwrap();
    let mut st = g.start();
    assert!(st.feed(r#"["caf\u00e9", "\n"]"#));
    assert!(st.finished());
    assert!(!g.start().feed(r#"["\u00g"#));
    let mut st = g.start();
    assert!(st.feed(r#"["\u0"#));
    assert_eq!(st.completion(), "000\"]");
    let ints = OutputConstraint::JsonSchema {
        name: "t".into(),
        schema: serde_json::json!({"type": "array", "items": {"type": "number"}}),
    };
    let g = Grammar::compile(&ints).unwrap();
    assert!(g.start().feed("[0, -0.5, 10.25]"));
    assert!(!g.start().feed("[01"));
    assert!(
        !g.start()
            .feed(&format!("[{}", "9".repeat(MAX_INT_DIGITS + 1)))
    );
    assert!(g.start().feed(&format!("[{}", "9".repeat(MAX_INT_DIGITS))));
}

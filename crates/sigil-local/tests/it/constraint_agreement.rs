//! The GBNF printer (what a llama.cpp server is sent) and the embedded engine's
//! matcher read one compiled constraint, so they must accept and reject the same
//! strings. For every constraint kind (Choice, ChatFields, ChatFieldsByChoice, JsonSchema)
//! a shared corpus
//! of strings is checked against both, with the expected answer; so is every prefix of
//! each string (the matcher's "may this go on" against the grammar's), the matcher's
//! shortest completion of each accepted prefix, and one-character edits of every
//! accepted string.

use serde_json::json;
use sigil::lm::{OutputConstraint, gbnf_grammar};
use sigil::signature::FieldType;
use sigil_local::constraint::Grammar;
use sigil_testkit::Gbnf;

struct Case {
    name: &'static str,
    constraint: OutputConstraint,
    accept: Vec<String>,
    reject: Vec<String>,
}

fn case(
    name: &'static str,
    constraint: OutputConstraint,
    accept: &[&str],
    reject: &[&str],
) -> Case {
    Case {
        name,
        constraint,
        accept: accept.iter().map(|s| s.to_string()).collect(),
        reject: reject.iter().map(|s| s.to_string()).collect(),
    }
}

fn choices(c: &[&str]) -> OutputConstraint {
    OutputConstraint::Choice {
        choices: c.iter().map(|s| s.to_string()).collect(),
    }
}

fn chat(fields: Vec<(&str, FieldType)>) -> OutputConstraint {
    OutputConstraint::ChatFields {
        fields: fields
            .into_iter()
            .map(|(n, t)| (n.to_string(), t))
            .collect(),
    }
}

fn schema(s: serde_json::Value) -> OutputConstraint {
    OutputConstraint::JsonSchema {
        name: "out".into(),
        schema: s,
    }
}

/// Wraps field values in the ChatAdapter's headers.
fn fields(pairs: &[(&str, &str)]) -> String {
    let mut out = String::new();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push_str("\n\n");
        }
        out.push_str(&format!("[[ ## {name} ## ]]\n{value}"));
    }
    out + "\n\n[[ ## completed ## ]]"
}

fn corpus() -> Vec<Case> {
    let object = FieldType::Object {
        name: "Place".into(),
        schema: json!({"type": "object", "properties": {"city": {"type": "string"}, "pop": {"type": "integer"}}}),
    };
    let typed = chat(vec![
        ("answer", FieldType::Str),
        ("n", FieldType::Int),
        ("score", FieldType::Float),
        ("ok", FieldType::Bool),
        (
            "kind",
            FieldType::Literal {
                choices: vec!["city".into(), "country".into()],
            },
        ),
    ]);
    let nested = chat(vec![
        ("tags", FieldType::list(FieldType::Str)),
        (
            "weights",
            FieldType::Dict {
                value: Box::new(FieldType::Float),
            },
        ),
        ("place", object),
        (
            "maybe",
            FieldType::Optional {
                inner: Box::new(FieldType::Int),
            },
        ),
        (
            "labels",
            FieldType::list(FieldType::Literal {
                choices: vec!["a".into(), "b c".into()],
            }),
        ),
    ]);
    let ok_typed = |answer: &str, n: &str, score: &str, ok: &str, kind: &str| {
        fields(&[
            ("answer", answer),
            ("n", n),
            ("score", score),
            ("ok", ok),
            ("kind", kind),
        ])
    };
    let ok_nested = |tags: &str, weights: &str, place: &str, maybe: &str, labels: &str| {
        fields(&[
            ("tags", tags),
            ("weights", weights),
            ("place", place),
            ("maybe", maybe),
            ("labels", labels),
        ])
    };
    let json_doc = schema(json!({
        "$defs": {"Dim": {"type": "object", "properties": {"w": {"type": "number"}, "h": {"type": "number"}}}},
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "age": {"type": "integer"},
            "ok": {"type": "boolean"},
            "kind": {"enum": ["cat", "dog"]},
            "v": {"const": 2},
            "dim": {"$ref": "#/$defs/Dim"},
            "nick": {"anyOf": [{"type": "string"}, {"type": "null"}]},
            "tags": {"type": "array", "items": {"type": "string"}},
            "extra": {"type": "object", "additionalProperties": {"type": "integer"}},
            "none": {"type": "null"}
        }
    }));
    let doc = |name: &str, age: &str, tags: &str, extra: &str| {
        format!(
            r#"{{"name": {name}, "age": {age}, "ok": true, "kind": "dog", "v": 2, "dim": {{"w": 1.5, "h": 0}}, "nick": "x", "tags": {tags}, "extra": {extra}, "none": null}}"#
        )
    };
    vec![
        case(
            "choice",
            choices(&["yes", "no", "yes sir"]),
            &["yes", "no", "yes sir"],
            &["", "ye", "maybe", "yes sirs", "No", " yes", "yes "],
        ),
        case(
            "choice with escapes",
            choices(&["say \"hi\"", "a\\b", "line\nbreak", "café", "tab\there"]),
            &["say \"hi\"", "a\\b", "line\nbreak", "café", "tab\there"],
            &["say hi", "a\\\\b", "line\\nbreak", "cafe", "line\n"],
        ),
        case(
            "chat fields, typed values",
            typed,
            &[
                &ok_typed("Paris", "42", "0.5", "True", "city"),
                &ok_typed("Paris is\nthe [capital]", "-7", "-0", "False", "country"),
                &ok_typed(
                    "x",
                    "0",
                    "123456789012345678.12345678901234567",
                    "True",
                    "city",
                ),
                &ok_typed("naïve café ✓", "999999999999999999", "3", "False", "city"),
            ],
            &[
                &ok_typed(" Paris", "42", "0.5", "True", "city"),
                &ok_typed("[Paris]", "42", "0.5", "True", "city"),
                &ok_typed("\u{A0}Paris", "42", "0.5", "True", "city"),
                &ok_typed("Par\n\nis", "42", "0.5", "True", "city"),
                &ok_typed("", "42", "0.5", "True", "city"),
                &ok_typed("Paris", "042", "0.5", "True", "city"),
                &ok_typed("Paris", "4.2", "0.5", "True", "city"),
                &ok_typed("Paris", "1234567890123456789", "0.5", "True", "city"),
                &ok_typed("Paris", "42", "1.", "True", "city"),
                &ok_typed("Paris", "42", ".5", "True", "city"),
                &ok_typed("Paris", "42", "1e5", "True", "city"),
                &ok_typed("Paris", "42", "0.123456789012345678", "True", "city"),
                &ok_typed("Paris", "42", "0.5", "true", "city"),
                &ok_typed("Paris", "42", "0.5", "True", "town"),
                &ok_typed("Paris", "42", "0.5", "True", "city\n"),
                "[[ ## answer ## ]]\nParis\n\n[[ ## n ## ]]\n42",
                "[[ ## n ## ]]\n42\n\n[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]",
            ],
        ),
        case(
            "chat fields, JSON values",
            nested,
            &[
                &ok_nested(
                    r#"["a", "b\"c"]"#,
                    r#"{"x": 1.5, "y":2}"#,
                    r#"{"city": "Oslo", "pop": 700000}"#,
                    "3",
                    r#"["a","b c"]"#,
                ),
                &ok_nested("[]", "{}", r#"{"city": "", "pop": -1}"#, "0", "[]"),
                &ok_nested(
                    r#"["\u00e9\n\t\\\/"]"#,
                    r#"{"": 0}"#,
                    r#"{"city": "x", "pop": 0}"#,
                    "-1",
                    r#"["b c", "a"]"#,
                ),
            ],
            &[
                &ok_nested(r#"["a",]"#, "{}", r#"{"city": "x", "pop": 0}"#, "1", "[]"),
                &ok_nested(
                    r#"["a"  ,"b"]"#,
                    "{}",
                    r#"{"city": "x", "pop": 0}"#,
                    "1",
                    "[]",
                ),
                &ok_nested(
                    r#"["a",  "b"]"#,
                    "{}",
                    r#"{"city": "x", "pop": 0}"#,
                    "1",
                    "[]",
                ),
                &ok_nested(r#"['a']"#, "{}", r#"{"city": "x", "pop": 0}"#, "1", "[]"),
                &ok_nested(r#"["\x"]"#, "{}", r#"{"city": "x", "pop": 0}"#, "1", "[]"),
                &ok_nested(
                    r#"["\u12g4"]"#,
                    "{}",
                    r#"{"city": "x", "pop": 0}"#,
                    "1",
                    "[]",
                ),
                &ok_nested("[\"a\nb\"]", "{}", r#"{"city": "x", "pop": 0}"#, "1", "[]"),
                &ok_nested(
                    "[]",
                    r#"{"x": "1"}"#,
                    r#"{"city": "x", "pop": 0}"#,
                    "1",
                    "[]",
                ),
                &ok_nested("[]", r#"{x: 1}"#, r#"{"city": "x", "pop": 0}"#, "1", "[]"),
                &ok_nested(
                    "[]",
                    r#"{"x":  1}"#,
                    r#"{"city": "x", "pop": 0}"#,
                    "1",
                    "[]",
                ),
                &ok_nested("[]", "{}", r#"{"pop": 0, "city": "x"}"#, "1", "[]"),
                &ok_nested("[]", "{}", r#"{"city": "x"}"#, "1", "[]"),
                &ok_nested("[]", "{}", r#"{"city":"x", "pop": 0}"#, "1", "[]"),
                &ok_nested("[]", "{}", r#"{"city": "x", "pop": 0}"#, "null", "[]"),
                &ok_nested("[]", "{}", r#"{"city": "x", "pop": 0}"#, "1", r#"["c"]"#),
                &ok_nested("[]", "{}", r#"{"city": "x", "pop": 0}"#, "1", "[a]"),
            ],
        ),
        case(
            "JSON schema",
            json_doc,
            &[
                &doc(r#""Felix \"the\" cat""#, "3", r#"["a","b"]"#, r#"{"k": 1}"#),
                &doc(r#""""#, "-12", "[]", "{}"),
                &doc(
                    r#""\ud83d\ude00""#,
                    "0",
                    r#"["x", "y"]"#,
                    r#"{"a":1, "b": 2}"#,
                ),
            ],
            &[
                &doc("Felix", "3", "[]", "{}"),
                &doc(r#""x""#, "3.5", "[]", "{}"),
                &doc(r#""x""#, "3", "[1]", "{}"),
                &doc(r#""x""#, "3", "[]", r#"{"k": "v"}"#),
                &doc(r#""x""#, "3", "[]", r#"{"k": 1,}"#),
                r#"{"age": 3}"#,
                r#"{"name": "x", "age": 3}"#,
                r#"{"name":"x", "age": 3, "ok": true, "kind": "dog", "v": 2, "dim": {"w": 1.5, "h": 0}, "nick": "x", "tags": [], "extra": {}, "none": null}"#,
                r#"{"name": "x", "age": 3, "ok": true, "kind": "dog", "v": 2, "dim": {"w": 1.5, "h": 0}, "nick": null, "tags": [], "extra": {}, "none": null}"#,
                r#"{"name": "x", "age": 3, "ok": True, "kind": "dog", "v": 2, "dim": {"w": 1.5, "h": 0}, "nick": "x", "tags": [], "extra": {}, "none": null}"#,
                r#"{"name": "x", "age": 3, "ok": true, "kind": "cow", "v": 2, "dim": {"w": 1.5, "h": 0}, "nick": "x", "tags": [], "extra": {}, "none": null}"#,
                r#"{"name": "x", "age": 3, "ok": true, "kind": "dog", "v": 3, "dim": {"w": 1.5, "h": 0}, "nick": "x", "tags": [], "extra": {}, "none": null}"#,
            ],
        ),
        case(
            "chat fields, any JSON",
            chat(vec![
                ("args", FieldType::dict(FieldType::Any)),
                ("value", FieldType::Any),
            ]),
            &[
                &fields(&[("args", "{}"), ("value", "null")]),
                &fields(&[
                    (
                        "args",
                        r#"{"q": "x", "n": [1, -2.5, {"deep": [true, false, null]}], "e": {}}"#,
                    ),
                    ("value", r#""text""#),
                ]),
                &fields(&[
                    ("args", r#"{"a":[],"b": [[]]}"#),
                    ("value", "[0, {\"k\": \"v\"}]"),
                ]),
                &fields(&[("args", r#"{"s": "\u00e9"}"#), ("value", "-0.25")]),
            ],
            &[
                &fields(&[("args", "[]"), ("value", "1")]),
                &fields(&[("args", r#"{"a": nul}"#), ("value", "1")]),
                &fields(&[("args", r#"{"a": True}"#), ("value", "1")]),
                &fields(&[("args", r#"{"a": 1e3}"#), ("value", "1")]),
                &fields(&[("args", r#"{'a': 1}"#), ("value", "1")]),
                &fields(&[("args", "{}"), ("value", "text")]),
                &fields(&[("args", "{}"), ("value", "01")]),
            ],
        ),
        case(
            "ReAct step: the tool named decides its arguments",
            OutputConstraint::ChatFieldsByChoice {
                fields: vec![
                    ("next_thought".into(), FieldType::Str),
                    (
                        "next_tool_name".into(),
                        FieldType::Literal {
                            choices: vec!["add".into(), "addr".into(), "finish".into()],
                        },
                    ),
                    ("next_tool_args".into(), FieldType::dict(FieldType::Any)),
                ],
                choice: "next_tool_name".into(),
                args: "next_tool_args".into(),
                cases: vec![
                    (
                        "add".into(),
                        json!({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}}),
                    ),
                    (
                        "addr".into(),
                        json!({"type": "object", "properties": {"street": {"type": "string"}}}),
                    ),
                    (
                        "finish".into(),
                        json!({"type": "object", "properties": {}, "additionalProperties": false}),
                    ),
                ],
            },
            &[
                &fields(&[
                    ("next_thought", "Add them."),
                    ("next_tool_name", "add"),
                    ("next_tool_args", r#"{"a": 2, "b": -40}"#),
                ]),
                &fields(&[
                    ("next_thought", "Look it up.\nThen answer."),
                    ("next_tool_name", "addr"),
                    ("next_tool_args", r#"{"street": "Main"}"#),
                ]),
                &fields(&[
                    ("next_thought", "Done."),
                    ("next_tool_name", "finish"),
                    ("next_tool_args", "{}"),
                ]),
            ],
            &[
                &fields(&[
                    ("next_thought", "x"),
                    ("next_tool_name", "add"),
                    ("next_tool_args", r#"{"street": "Main"}"#),
                ]),
                &fields(&[
                    ("next_thought", "x"),
                    ("next_tool_name", "addr"),
                    ("next_tool_args", r#"{"a": 2, "b": 3}"#),
                ]),
                &fields(&[
                    ("next_thought", "x"),
                    ("next_tool_name", "add"),
                    ("next_tool_args", r#"{"a": "2", "b": 3}"#),
                ]),
                &fields(&[
                    ("next_thought", "x"),
                    ("next_tool_name", "finish"),
                    ("next_tool_args", r#"{"a": 1}"#),
                ]),
                &fields(&[
                    ("next_thought", "x"),
                    ("next_tool_name", "search"),
                    ("next_tool_args", "{}"),
                ]),
                &fields(&[("next_thought", "x"), ("next_tool_name", "finish")]),
            ],
        ),
        case(
            "JSON schema, a map of anything",
            schema(json!({"type": "object", "additionalProperties": true})),
            &[
                "{}",
                r#"{"a": {"b": [1, "c"]}}"#,
                r#"{"x": null, "y": false}"#,
            ],
            &["", "[]", r#"{"a"}"#, r#"{"a": }"#, r#"{"a": [1,]}"#],
        ),
        case(
            "JSON schema, a bare array",
            schema(json!({"type": "array", "items": {"type": "integer"}})),
            &["[]", "[1]", "[1, -2,3]", "[0,0]"],
            &[
                "", "[", "[1, ]", "[1,,2]", "[01]", "[1.0]", " []", "[] ", "[1 ,2]",
            ],
        ),
    ]
}

fn matcher_accepts(g: &Grammar, s: &str) -> bool {
    let mut st = g.start();
    st.feed(s) && st.accepting()
}

fn matcher_viable(g: &Grammar, s: &str) -> bool {
    g.start().feed(s)
}

/// One-character edits of `s`: each character deleted, doubled, or replaced by a
/// character that often changes the meaning.
fn edits(s: &str) -> Vec<String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    for i in 0..chars.len() {
        let (before, after) = (&chars[..i], &chars[i + 1..]);
        let join = |mid: &[char]| before.iter().chain(mid).chain(after).collect::<String>();
        out.push(join(&[]));
        out.push(join(&[chars[i], chars[i]]));
        for r in [' ', '\n', '"', '0', '[', ',', '\\'] {
            if r != chars[i] {
                out.push(join(&[r]));
            }
        }
    }
    out
}

#[test]
fn the_gbnf_printer_and_the_engine_matcher_accept_the_same_strings() {
    let mut checked = 0usize;
    for case in corpus() {
        let name = case.name;
        let gbnf_text = gbnf_grammar(&case.constraint).unwrap_or_else(|e| panic!("{name}: {e}"));
        let gbnf = Gbnf::parse(&gbnf_text).unwrap_or_else(|e| panic!("{name}: {e}\n{gbnf_text}"));
        let matcher = Grammar::compile(&case.constraint).unwrap();
        let expected = case
            .accept
            .iter()
            .map(|s| (s, true))
            .chain(case.reject.iter().map(|s| (s, false)));
        for (s, want) in expected {
            assert_eq!(gbnf.accepts(s), want, "{name}: GBNF on {s:?}\n{gbnf_text}");
            assert_eq!(
                matcher_accepts(&matcher, s),
                want,
                "{name}: matcher on {s:?}"
            );
            // Every prefix: both agree whether it can still be completed, and the
            // matcher's shortest completion of a live prefix is in the grammar.
            let cuts = s.char_indices().map(|(i, _)| i).chain([s.len()]);
            for cut in cuts {
                let p = &s[..cut];
                let live = matcher_viable(&matcher, p);
                assert_eq!(gbnf.accepts_prefix(p), live, "{name}: prefix {p:?}");
                if live {
                    let mut st = matcher.start();
                    st.feed(p);
                    let done = format!("{p}{}", st.completion());
                    assert!(gbnf.accepts(&done), "{name}: completion {done:?}");
                    assert!(matcher_accepts(&matcher, &done), "{name}: {done:?}");
                }
                checked += 1;
            }
        }
        for s in &case.accept {
            for e in edits(s) {
                assert_eq!(
                    gbnf.accepts(&e),
                    matcher_accepts(&matcher, &e),
                    "{name}: the two disagree on the edit {e:?}"
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 5_000, "{checked}");
}

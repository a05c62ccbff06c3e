use super::*;
use serde_json::json;

#[test]
fn floats_render_like_python() {
    let cases = [
        (1.0, "1.0"),
        (0.5, "0.5"),
        (1e-05, "1e-05"),
        (0.0001, "0.0001"),
        (1e16, "1e+16"),
        (1e15, "1000000000000000.0"),
        (123.456, "123.456"),
        (-0.0, "-0.0"),
        (0.0, "0.0"),
        (-2.5e-7, "-2.5e-07"),
        (1.5e300, "1.5e+300"),
        (12345678.9, "12345678.9"),
        (0.1 + 0.2, "0.30000000000000004"),
    ];
    for (f, want) in cases {
        assert_eq!(py_float_repr(f), want, "{f}");
    }
}

#[test]
fn json_matches_python_dumps() {
    let v = json!({"a": [1, 2.0, "x\"y\n"], "b": {}, "c": [], "d": null, "e": true, "ü": "\u{1}"});
    assert_eq!(
        py_json(&v, None),
        r#"{"a": [1, 2.0, "x\"y\n"], "b": {}, "c": [], "d": null, "e": true, "ü": "\u0001"}"#
    );
    assert_eq!(
        py_json(&json!({"a": [1], "b": {}}), Some(2)),
        "{\n  \"a\": [\n    1\n  ],\n  \"b\": {}\n}"
    );
}

#[test]
fn str_lists_are_numbered() {
    let ty = FieldType::Str;
    assert_eq!(format_field_value(&ty, &json!([])), "N/A");
    assert_eq!(format_field_value(&ty, &json!(["one"])), "«one»");
    assert_eq!(
        format_field_value(&ty, &json!(["a", "b\nc"])),
        "[1] «a»\n[2] «««\n    b\n    c\n»»»"
    );
    assert_eq!(
        format_field_value(&FieldType::list(FieldType::Str), &json!(["a"])),
        r#"["a"]"#
    );
    assert_eq!(format_field_value(&ty, &json!(null)), "None");
    assert_eq!(format_field_value(&FieldType::Bool, &json!(false)), "False");
}

#[test]
fn text_helpers_follow_python() {
    assert_eq!(
        py_splitlines("a\r\nb\rc\n\nd\n"),
        vec!["a", "b", "c", "", "d"]
    );
    assert!(py_splitlines("").is_empty());
    assert_eq!(dedent("  a\n   b\n\t\n"), "a\n b\n\n");
    assert_eq!(dedent("    x\n\ty"), "    x\n\ty");
    assert_eq!(py_strip("\u{1c} x \n"), "x");
    assert_eq!(
        cleandoc("    Answer.\n      Be concise.\n\n    One word.\n"),
        "Answer.\n  Be concise.\n\nOne word."
    );
    assert_eq!(cleandoc("\n\n  a\n\tb\n   \n"), "a\n      b\n ");
    assert_eq!(cleandoc(""), "");
    assert_eq!(cleandoc("x\n  é\n y"), "x\n é\ny");
}

#[test]
fn type_names_and_literals() {
    assert_eq!(
        py_type_name(&FieldType::optional(FieldType::list(FieldType::Int))),
        "Union[list[int], NoneType]"
    );
    assert_eq!(
        py_type_name(&FieldType::literal([
            "a",
            "don't",
            "say \"hi\"",
            "it's \"x\""
        ])),
        r#"Literal['a', "don't", 'say "hi"', 'it\'s "x"']"#
    );
}

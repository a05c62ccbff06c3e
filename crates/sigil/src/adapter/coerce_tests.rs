use super::*;
use serde_json::json;

fn p(text: &str, ty: &FieldType) -> Result<Value, String> {
    parse_text(text, ty)
}

#[test]
fn scalars() {
    assert_eq!(p(" 42 ", &FieldType::Int), Ok(json!(42)));
    assert_eq!(p("\"42\"", &FieldType::Int), Ok(json!(42)));
    assert_eq!(p("42.0", &FieldType::Int), Ok(json!(42)));
    assert_eq!(p("The answer is 42.", &FieldType::Int), Ok(json!(42)));
    assert_eq!(p("1,234", &FieldType::Int), Ok(json!(1234)));
    assert_eq!(p("-7", &FieldType::Int), Ok(json!(-7)));
    assert!(p("42.5", &FieldType::Int).is_err());
    assert!(p("3 or 4", &FieldType::Int).is_err());
    assert!(p("no number", &FieldType::Int).is_err());
    assert!(p("", &FieldType::Int).is_err());
    assert_eq!(p("3", &FieldType::Float), Ok(json!(3.0)));
    assert_eq!(p("~3.5 approx", &FieldType::Float), Ok(json!(3.5)));
    assert_eq!(p("2.5e3", &FieldType::Float), Ok(json!(2500.0)));
    assert_eq!(p("True", &FieldType::Bool), Ok(json!(true)));
    assert_eq!(p("'false'", &FieldType::Bool), Ok(json!(false)));
    assert_eq!(p("Yes.", &FieldType::Bool), Ok(json!(true)));
    assert!(p("maybe", &FieldType::Bool).is_err());
    assert_eq!(
        p("  keep  spaces ", &FieldType::Str),
        Ok(json!("  keep  spaces "))
    );
}

#[test]
fn literals() {
    let ty = FieldType::literal(["positive", "negative", "don't know"]);
    assert_eq!(p("positive", &ty), Ok(json!("positive")));
    assert_eq!(p("'negative'", &ty), Ok(json!("negative")));
    assert_eq!(p("Literal['positive']", &ty), Ok(json!("positive")));
    assert_eq!(p("Positive.", &ty), Ok(json!("positive")));
    assert_eq!(p("\"don't know\"", &ty), Ok(json!("don't know")));
    assert!(p("neutral", &ty).is_err());
    assert_eq!(
        coerce(&json!(1), &FieldType::literal(["1", "2"])),
        Ok(json!("1"))
    );
    let ambiguous = FieldType::literal(["A", "a"]);
    assert_eq!(p("a", &ambiguous), Ok(json!("a")));
    assert!(p("a.", &FieldType::literal(["A", "a."])).is_ok());
}

#[test]
fn containers() {
    let ints = FieldType::list(FieldType::Int);
    assert_eq!(p("[1, 2,]", &ints), Ok(json!([1, 2])));
    assert_eq!(p("[1, \"2\"]", &ints), Ok(json!([1, 2])));
    assert_eq!(p("```json\n[1,2]\n```", &ints), Ok(json!([1, 2])));
    assert_eq!(p("Answer: [1, 2]", &ints), Ok(json!([1, 2])));
    assert!(p("[1, \"x\"]", &ints).is_err());
    assert!(p("1, 2", &ints).is_err());
    let strs = FieldType::list(FieldType::Str);
    assert_eq!(p("['a', 'b']", &strs), Ok(json!(["a", "b"])));
    assert_eq!(p("- a\n- b", &strs), Ok(json!(["a", "b"])));
    assert_eq!(p("[1] «a»\n[2] «b»", &strs), Ok(json!(["a", "b"])));
    assert_eq!(p("1. x\n2. y", &strs), Ok(json!(["x", "y"])));
    assert_eq!(p("[1, 2]", &strs), Ok(json!(["1", "2"])));
    let d = FieldType::dict(FieldType::Int);
    assert_eq!(p("{'a': 1, \"b\": \"2\"}", &d), Ok(json!({"a": 1, "b": 2})));
    assert!(p("[1]", &d).is_err());
    assert!(p("garbage {", &d).is_err());
    assert_eq!(p("\"[1, 2]\"", &ints), Ok(json!([1, 2])));
}

#[test]
fn optionals() {
    let oi = FieldType::optional(FieldType::Int);
    assert_eq!(p("None", &oi), Ok(json!(null)));
    assert_eq!(p("null", &oi), Ok(json!(null)));
    assert_eq!(p("", &oi), Ok(json!(null)));
    assert_eq!(p("5", &oi), Ok(json!(5)));
    assert!(p("five", &oi).is_err());
    let os = FieldType::optional(FieldType::Str);
    assert_eq!(p("None", &os), Ok(json!(null)));
    assert_eq!(p("", &os), Ok(json!("")));
    assert_eq!(p("text", &os), Ok(json!("text")));
    assert_eq!(coerce(&json!(null), &oi), Ok(json!(null)));
    assert_eq!(coerce(&json!("None"), &oi), Ok(json!(null)));
    assert_eq!(coerce(&json!("hello"), &os), Ok(json!("hello")));
    assert!(coerce(&json!(null), &FieldType::Int).is_err());
}

#[test]
fn objects_follow_their_schema() {
    let schema = json!({
        "$defs": {"Address": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "age": {"type": "integer"},
            "address": {"anyOf": [{"$ref": "#/$defs/Address"}, {"type": "null"}], "default": null}
        },
        "required": ["name", "age"]
    });
    let ty = FieldType::Object {
        name: "Person".into(),
        schema,
    };
    assert_eq!(
        p("{\"name\": \"Ann\", \"age\": \"30\"}", &ty),
        Ok(json!({"name": "Ann", "age": 30, "address": null}))
    );
    assert_eq!(
        coerce(
            &json!({"name": "Ann", "age": 30, "address": {"city": "X"}}),
            &ty
        ),
        Ok(json!({"name": "Ann", "age": 30, "address": {"city": "X"}}))
    );
    assert!(coerce(&json!({"name": "Ann"}), &ty).is_err());
    // Undeclared keys are dropped, as pydantic ignores them.
    assert_eq!(
        coerce(&json!({"zzz": 1, "age": 1, "name": "Ann"}), &ty),
        Ok(json!({"name": "Ann", "age": 1, "address": null}))
    );
    assert!(coerce(&json!({"name": "Ann", "age": 1, "address": {}}), &ty).is_err());
    assert!(coerce(&json!({"name": "Ann", "age": "old"}), &ty).is_err());
    assert!(coerce(&json!([1]), &ty).is_err());
    let people = FieldType::list(ty);
    assert_eq!(
        p("[{'name': 'B', 'age': 2, 'address': None}]", &people),
        Ok(json!([{"name": "B", "age": 2, "address": null}]))
    );
    // A schema that refers to itself does not loop forever.
    let looping = FieldType::Object {
        name: "L".into(),
        schema: json!({"$defs": {"L": {"$ref": "#/$defs/L"}}, "$ref": "#/$defs/L"}),
    };
    assert!(coerce(&json!({}), &looping).is_err());
}

#[test]
fn garbage_never_panics() {
    let types = [
        FieldType::Str,
        FieldType::Int,
        FieldType::Float,
        FieldType::Bool,
        FieldType::list(FieldType::optional(FieldType::Int)),
        FieldType::dict(FieldType::list(FieldType::Str)),
        FieldType::literal(["a"]),
        FieldType::Object {
            name: "X".into(),
            schema: json!({"type": "object", "properties": {"a": {"type": "integer"}}}),
        },
    ];
    let inputs = [
        "", "-", "--1", "1e", "1e+", "é9", "9é", "[[[[", "{{{", "{'a':", "\"", "'", "«»", "```",
        "```json", ",123", "1,23", "0x1F", "١٢٣",
    ];
    for ty in &types {
        for text in inputs {
            let _ = parse_text(text, ty);
            let _ = coerce(&Value::String(text.into()), ty);
        }
    }
}

use serde_json::json;

use super::*;

#[test]
fn demos_with_nulls_and_any_key_order_round_trip_through_toml() {
    let ex = Example::new()
        .input("question", "q")
        .input("context", json!(["a", null]))
        .set("answer", json!({"z": 1, "a": [1.5, true]}))
        .set("missing", Value::Null);
    let d = DemoEntry::from_example(&ex, true);
    assert_eq!(d.order, ["question", "context", "answer", "missing"]);
    assert!(d.json.contains_key("context") && d.json.contains_key("missing"));
    let text = toml::to_string(&d).unwrap();
    let back: DemoEntry = toml::from_str(&text).unwrap();
    assert_eq!(back.to_example().unwrap(), ex);
    assert!(back.augmented);

    // Sorted, null-free demos need neither `order` nor `json`.
    let plain = DemoEntry::from_example(&Example::new().input("a", 1).set("b", "x"), false);
    assert!(plain.order.is_empty() && plain.json.is_empty());
}

#[test]
fn demo_entries_that_do_not_add_up_are_errors() {
    let mut d = DemoEntry::from_example(&Example::new().input("b", "1").set("a", "2"), false);
    d.order.push("c".into());
    assert!(d.to_example().unwrap_err().contains("`c`"));
    let mut d = DemoEntry::from_example(&Example::new().input("a", "1"), false);
    d.inputs.push("zz".into());
    assert!(d.to_example().unwrap_err().contains("input key `zz`"));
}

#[test]
fn types_that_the_string_form_cannot_hold_keep_their_json() {
    let object = FieldType::Object {
        name: "Person".into(),
        schema: json!({"type": "object", "properties": {"name": {"type": "string"}}}),
    };
    let odd = FieldType::literal(["a, b", "c]"]);
    for ty in [
        object,
        odd,
        FieldType::optional(FieldType::list(FieldType::Int)),
    ] {
        let e = FieldEntry::from_field(FieldKind::Output, &Field::new("x", ty.clone()));
        assert_eq!(e.field_type().unwrap(), ty, "{e:?}");
    }
    let plain = FieldEntry::from_field(
        FieldKind::Input,
        &Field::new("x", FieldType::dict(FieldType::Float)),
    );
    assert_eq!(plain.ty, "dict[str, float]");
    assert!(plain.type_json.is_none());
}

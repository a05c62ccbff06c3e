use std::time::Duration;

use serde_json::json;

use super::*;

#[derive(serde::Deserialize, schemars::JsonSchema)]
struct Add {
    a: i64,
    #[serde(default = "one")]
    b: i64,
}

fn one() -> i64 {
    1
}

fn add() -> Tool {
    Tool::from_fn(
        "add",
        "Add two integers.\nReturns their sum.",
        |x: Add| async move { Ok::<_, String>(x.a + x.b) },
    )
}

#[tokio::test]
async fn a_typed_tool_derives_its_schema_and_converts_arguments() {
    let t = add();
    assert_eq!(t.required(), vec!["a"]);
    assert_eq!(t.args()["a"]["type"], "integer");
    assert_eq!(t.args()["b"]["default"], 1);
    assert_eq!(t.call(json!({"a": 2, "b": 40})).await, Ok(json!(42)));
    // A number written as a string is converted; a default fills a missing argument.
    assert_eq!(t.call(json!({"a": "41"})).await, Ok(json!(42)));
}

#[test]
fn a_tool_prints_as_dspy_lists_it() {
    let t = Tool::new(
        "odd_tool",
        "",
        json!({
            "mode": {"enum": ["fast", "it's slow"], "type": "string", "description": "How \"fast\""},
            "flag": {"type": "boolean", "default": true},
            "ratio": {"type": "number", "default": 0.5},
            "nothing": {"default": null},
        }),
        |_| async { Ok::<_, String>(json!(null)) },
    );
    assert_eq!(
        t.to_string(),
        r#"odd_tool. It takes arguments {'mode': {'enum': ['fast', "it's slow"], 'type': 'string', 'description': 'How "fast"'}, 'flag': {'type': 'boolean', 'default': True}, 'ratio': {'type': 'number', 'default': 0.5}, 'nothing': {'default': None}}."#
    );
    let t = Tool::new(
        "search",
        "Search\nthe web.",
        json!({"q": {"type": "string"}}),
        |_| async { Ok::<_, String>("x") },
    );
    assert_eq!(
        t.to_string(),
        "search, whose description is <desc>Search  the web.</desc>. It takes arguments {'q': {'type': 'string'}}."
    );
}

#[tokio::test]
async fn bad_arguments_are_typed_errors() {
    let t = add();
    assert_eq!(
        t.call(json!({"a": 1, "c": 2})).await,
        Err(ToolError::UnknownArg {
            tool: "add".into(),
            arg: "c".into()
        })
    );
    assert!(matches!(
        t.call(json!({"a": "many"})).await,
        Err(ToolError::InvalidArg { arg, .. }) if arg == "a"
    ));
    assert_eq!(
        t.call(json!({"b": 2})).await,
        Err(ToolError::MissingArg {
            tool: "add".into(),
            arg: "a".into()
        })
    );
    assert!(matches!(
        t.call(json!([1, 2])).await,
        Err(ToolError::NotAnObject { .. })
    ));
    assert_eq!(
        ToolError::UnknownArg {
            tool: "add".into(),
            arg: "c".into()
        }
        .to_string(),
        "Arg c is not in the tool's args."
    );
}

#[tokio::test]
async fn errors_panics_and_timeouts_are_errors_not_crashes() {
    let failing = Tool::new("f", "fails", json!({}), |_| async {
        Err::<Value, _>("disk full")
    });
    assert_eq!(
        failing.call(json!({})).await,
        Err(ToolError::Failed {
            tool: "f".into(),
            message: "disk full".into()
        })
    );
    let panicking = Tool::new("p", "panics", json!({}), |_| async {
        if true {
            panic!("boom");
        }
        Ok::<Value, String>(json!(1))
    });
    assert_eq!(
        panicking.call(json!({})).await,
        Err(ToolError::Panicked {
            tool: "p".into(),
            message: "boom".into()
        })
    );
    let slow = Tool::new("s", "hangs", json!({}), |_| async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
        Ok::<_, String>(json!(1))
    })
    .with_timeout(Duration::from_millis(20));
    assert_eq!(
        slow.call(json!({})).await,
        Err(ToolError::TimedOut {
            tool: "s".into(),
            after: Duration::from_millis(20)
        })
    );
}

#[test]
fn the_function_spec_is_dspys() {
    assert_eq!(
        add().function_spec(),
        json!({
            "type": "function",
            "function": {
                "name": "add",
                "description": "Add two integers.\nReturns their sum.",
                "parameters": {
                    "type": "object",
                    "properties": add().args().clone(),
                    "required": ["a"],
                }
            }
        })
    );
}

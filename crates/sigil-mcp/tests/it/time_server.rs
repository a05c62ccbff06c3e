//! PyPI's `mcp-server-time` over stdio: its tools listed as Sigil tools, with their
//! argument schemas, and a call through one.

use serde_json::json;
use sigil_mcp::McpClient;

use crate::servers;

pub async fn time_server() -> McpClient {
    McpClient::stdio(
        servers::python(),
        ["-m", "mcp_server_time", "--local-timezone", "UTC"],
    )
    .await
    .expect("mcp-server-time starts")
}

#[tokio::test]
async fn tools_are_listed_with_schemas_and_called() {
    let server = time_server().await;
    let tools = server.tools().await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name()).collect();
    assert!(names.contains(&"get_current_time"), "{names:?}");
    assert!(names.contains(&"convert_time"), "{names:?}");
    let convert = tools.iter().find(|t| t.name() == "convert_time").unwrap();
    assert!(convert.desc().is_some_and(|d| !d.is_empty()));
    let mut required = convert.required();
    required.sort();
    assert_eq!(required, ["source_timezone", "target_timezone", "time"]);
    assert_eq!(convert.args()["time"]["type"], "string");
    // UTC to Tokyo (no daylight saving): +9 hours.
    let out = convert
        .call(json!({"source_timezone": "UTC", "time": "12:00", "target_timezone": "Asia/Tokyo"}))
        .await
        .unwrap();
    let text = out.as_str().expect("a text result");
    let parsed: serde_json::Value =
        serde_json::from_str(text).expect("the server answers JSON text");
    assert!(
        parsed["target"]["datetime"]
            .as_str()
            .unwrap()
            .contains("T21:00:00"),
        "{parsed}"
    );
    // The tool checks arguments before calling the server.
    let e = convert.call(json!({"time": "12:00"})).await.unwrap_err();
    assert!(
        e.to_string().contains("missing the required argument"),
        "{e}"
    );
    server.close().await;
}

#[tokio::test]
async fn a_server_side_error_is_the_tools_error() {
    let server = time_server().await;
    let tools = server.tools().await.unwrap();
    let convert = tools.iter().find(|t| t.name() == "convert_time").unwrap();
    let e = convert
        .call(json!({"source_timezone": "Nowhere/Atlantis", "time": "12:00", "target_timezone": "UTC"}))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("Failed to call a MCP tool"), "{e}");
    server.close().await;
}

//! Servers that misbehave: one that never starts, exits at once, speaks something other
//! than MCP, crashes in the middle of a call, hangs, or returns an error result. Each
//! is a clear error, at connect time or as the tool's error.

use std::time::Duration;

use serde_json::json;
use sigil::tool::ToolError;
use sigil_mcp::{McpClient, McpError};

use crate::servers;

async fn misbehaving() -> McpClient {
    McpClient::stdio(servers::python(), [servers::misbehaving()])
        .await
        .expect("the misbehaving server starts")
        .with_call_timeout(Duration::from_secs(2))
}

#[tokio::test]
async fn a_missing_command_is_a_spawn_error() {
    let e = McpClient::stdio("/nonexistent/mcp-server", ["x"])
        .await
        .err()
        .unwrap();
    assert!(matches!(e, McpError::Spawn { .. }), "{e}");
    assert!(e.to_string().contains("/nonexistent/mcp-server x"), "{e}");
}

#[tokio::test]
async fn a_server_that_exits_or_is_not_mcp_fails_the_handshake() {
    let e = McpClient::stdio(
        servers::python(),
        [
            "-c",
            "import sys; sys.stderr.write('bad config\\n'); sys.exit(3)",
        ],
    )
    .await
    .err()
    .unwrap();
    assert!(matches!(e, McpError::Handshake { .. }), "{e}");
    assert!(
        e.to_string().contains("bad config"),
        "the server's stderr is in the error: {e}"
    );
    let mut cmd = tokio::process::Command::new(servers::python());
    cmd.args([
        "-c",
        "import time; print('hello, not json-rpc', flush=True); time.sleep(30)",
    ]);
    let e = McpClient::stdio_command(cmd, Duration::from_secs(3))
        .await
        .err()
        .unwrap();
    assert!(
        matches!(
            e,
            McpError::Handshake { .. } | McpError::StartTimeout { .. }
        ),
        "{e}"
    );
}

#[tokio::test]
async fn crash_hang_and_error_results_are_tool_errors() {
    let server = misbehaving().await;
    let tools = server.tools().await.unwrap();
    let tool = |n: &str| tools.iter().find(|t| t.name() == n).unwrap().clone();
    assert_eq!(
        tool("ok").call(json!({"text": "hi"})).await.unwrap(),
        json!("ok: hi")
    );
    let e = tool("fail").call(json!({})).await.unwrap_err();
    // The Python SDK reports the failure without the exception's text.
    assert!(
        e.to_string()
            .starts_with("Failed to call a MCP tool: Error executing tool fail"),
        "{e}"
    );
    let e = tool("hang").call(json!({})).await.unwrap_err();
    assert!(matches!(e, ToolError::TimedOut { .. }), "{e}");
    let e = tool("crash").call(json!({})).await.unwrap_err();
    assert!(matches!(e, ToolError::Failed { .. }), "{e}");
    // After the crash, calls fail cleanly instead of hanging.
    let e = tool("ok").call(json!({"text": "again"})).await.unwrap_err();
    assert!(
        matches!(e, ToolError::Failed { .. } | ToolError::TimedOut { .. }),
        "{e}"
    );
}

/// A server that answers a call with a line that is not JSON-RPC and stays up: the
/// call is the tool's clear error within its time limit, not a hang. (rmcp drops the
/// unreadable line, so today this arrives as the call's timeout.)
#[tokio::test]
async fn malformed_json_rpc_mid_session_is_a_tool_error() {
    let script = servers::misbehaving().with_file_name("garbage_midway.py");
    let server = McpClient::stdio(servers::python(), [script])
        .await
        .expect("the handshake is fine")
        .with_call_timeout(Duration::from_secs(3));
    let tools = server.tools().await.unwrap();
    assert_eq!(tools.len(), 1);
    let start = std::time::Instant::now();
    let e = tools[0].call(json!({})).await.unwrap_err();
    assert!(
        matches!(e, ToolError::Failed { .. } | ToolError::TimedOut { .. }),
        "{e}"
    );
    assert!(start.elapsed() < Duration::from_secs(10));
}

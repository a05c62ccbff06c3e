//! npm's `@modelcontextprotocol/server-everything`, over stdio and streamable HTTP:
//! text results, structured results, and the same tools on both transports.

use std::time::Duration;

use serde_json::json;
use sigil_mcp::{McpClient, ResultMode};

use crate::servers;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn stdio_text_and_structured_results() {
    let server = McpClient::stdio("node", [servers::everything(), "stdio".into()])
        .await
        .expect("server-everything starts");
    let tools = server.tools().await.unwrap();
    let sum = tools
        .iter()
        .find(|t| t.name() == "get-sum")
        .expect("get-sum");
    assert_eq!(sum.args()["a"]["type"], "number");
    let out = sum.call(json!({"a": 2, "b": 40})).await.unwrap();
    assert!(out.as_str().unwrap().contains("42"), "{out}");
    let echo = tools.iter().find(|t| t.name() == "echo").expect("echo");
    assert!(
        echo.call(json!({"message": "hé"}))
            .await
            .unwrap()
            .as_str()
            .unwrap()
            .contains("hé")
    );
    let server = server.with_result_mode(ResultMode::Structured);
    let tools = server.tools().await.unwrap();
    let weather = tools
        .iter()
        .find(|t| t.name() == "get-structured-content")
        .expect("get-structured-content");
    let location = weather.args()["location"]["enum"][0].clone();
    let out = weather.call(json!({"location": location})).await.unwrap();
    assert!(out.is_object(), "structured content is JSON: {out}");
    assert!(out.get("temperature").is_some(), "{out}");
    server.close().await;
}

#[tokio::test]
async fn streamable_http() {
    let port = free_port();
    let mut child = tokio::process::Command::new("node")
        .arg(servers::everything())
        .arg("streamableHttp")
        .env("PORT", port.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("node starts");
    let url = format!("http://127.0.0.1:{port}/mcp");
    let mut server = None;
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            server = Some(McpClient::http(&url).await.expect("connects over HTTP"));
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let server = server.expect("the HTTP server listens");
    let out = server
        .call("get-sum", json!({"a": 1.5, "b": 2}))
        .await
        .unwrap();
    assert!(out.as_str().unwrap().contains("3.5"), "{out}");
    assert!(
        server
            .tools()
            .await
            .unwrap()
            .iter()
            .any(|t| t.name() == "echo")
    );
    server.close().await;
    let _ = child.kill().await;
}

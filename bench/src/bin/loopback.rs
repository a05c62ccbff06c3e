//! A loopback OpenAI-compatible chat-completions server that answers every request
//! after a fixed delay (default 20 ms) with the same ChatAdapter-formatted answer, so
//! both Sigil and Python DSPy parse it. The throughput benchmark points both
//! frameworks at it; with a fixed latency the ideal wall time of N examples at
//! concurrency C is N x delay / C.
//!
//! Usage: loopback [PORT] [DELAY_MS]. Prints `listening on http://127.0.0.1:PORT/v1`
//! once it accepts connections. HTTP/1.1 with keep-alive, no chunked request bodies.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const ANSWER: &str = "[[ ## answer ## ]]\nParis\n\n[[ ## completed ## ]]";

fn response_body() -> String {
    serde_json::json!({
        "id": "chatcmpl-loopback",
        "object": "chat.completion",
        "created": 0,
        "model": "loopback",
        "choices": [{
            "index": 0,
            "message": {"role": "assistant", "content": ANSWER},
            "finish_reason": "stop"
        }],
        "usage": {"prompt_tokens": 50, "completion_tokens": 10, "total_tokens": 60}
    })
    .to_string()
}

/// Position just past the blank line ending the headers, if it has arrived.
fn header_end(buf: &[u8]) -> Option<usize> {
    buf.windows(4).position(|w| w == b"\r\n\r\n").map(|p| p + 4)
}

fn content_length(head: &str) -> usize {
    head.lines()
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0)
}

async fn serve(mut stream: TcpStream, delay: Duration, body: &str) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut chunk = [0u8; 8192];
    loop {
        // Read one request: headers, then Content-Length bytes of body.
        let end = loop {
            if let Some(end) = header_end(&buf) {
                break end;
            }
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..end]).into_owned();
        let need = end + content_length(&head);
        while buf.len() < need {
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Ok(());
            }
            buf.extend_from_slice(&chunk[..n]);
        }
        buf.drain(..need);
        let first = head.lines().next().unwrap_or_default().to_string();
        let (status, payload) = if first.starts_with("GET") && first.contains("/models") {
            (
                "200 OK",
                r#"{"object":"list","data":[{"id":"loopback","object":"model"}]}"#.to_string(),
            )
        } else if first.starts_with("POST") {
            // A thread sleep is precise to ~0.1 ms; tokio's timer rounds up to whole ms.
            let _ = tokio::task::spawn_blocking(move || std::thread::sleep(delay)).await;
            ("200 OK", body.to_string())
        } else {
            ("404 Not Found", r#"{"error":"not found"}"#.to_string())
        };
        let close = head.to_ascii_lowercase().contains("connection: close");
        let reply = format!(
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: {}\r\n\r\n{payload}",
            payload.len(),
            if close { "close" } else { "keep-alive" }
        );
        stream.write_all(reply.as_bytes()).await?;
        if close {
            return Ok(());
        }
    }
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let port: u16 = args.next().and_then(|s| s.parse().ok()).unwrap_or(0);
    let delay_ms: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(20);
    let listener = match TcpListener::bind(("127.0.0.1", port)).await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("loopback: cannot bind 127.0.0.1:{port}: {e}");
            std::process::exit(1);
        }
    };
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(port);
    println!("listening on http://127.0.0.1:{port}/v1");
    let body: &'static str = Box::leak(response_body().into_boxed_str());
    let delay = Duration::from_millis(delay_ms);
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(async move {
                    let _ = serve(stream, delay, body).await;
                });
            }
            Err(e) => eprintln!("loopback: accept failed: {e}"),
        }
    }
}

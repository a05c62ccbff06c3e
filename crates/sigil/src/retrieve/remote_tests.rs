//! The remote clients against a tiny HTTP server run inside the test.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::*;

/// Serves every connection with `status` and `body`, recording each raw request.
async fn serve(status: u16, body: String) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            // Read the head, then as much body as Content-Length says.
            loop {
                let n = sock.read(&mut chunk).await.unwrap_or(0);
                if n == 0 {
                    break;
                }
                buf.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&buf).to_string();
                if let Some(head_end) = text.find("\r\n\r\n") {
                    let len = text[..head_end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if buf.len() >= head_end + 4 + len {
                        break;
                    }
                }
            }
            log.lock()
                .unwrap()
                .push(String::from_utf8_lossy(&buf).to_string());
            let reply = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(reply.as_bytes()).await;
            let _ = sock.shutdown().await;
        }
    });
    (format!("http://{addr}"), seen)
}

/// A port nothing listens on.
async fn dead_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    format!("http://{addr}")
}

fn colbert_body() -> String {
    json!({"topk": [
        {"text": "Eldermoor | A river town.", "pid": 17, "rank": 1, "score": 21.5, "prob": 0.7},
        {"text": "Port Wren | A harbour.", "pid": 3, "rank": 2, "score": 19.0, "prob": 0.2},
        {"text": "Greyfen | Hills.", "pid": 9, "rank": 3, "score": 12.0, "prob": 0.1}
    ]})
    .to_string()
}

#[tokio::test]
async fn colbert_get_sends_query_and_k_and_parses_topk() {
    let (url, seen) = serve(200, colbert_body()).await;
    let colbert = ColBertV2::new(format!("{url}/wiki"));
    let passages = colbert.retrieve("river town", 2).await.unwrap();
    assert_eq!(passages.len(), 2);
    assert_eq!(passages[0].id, "17");
    assert_eq!(passages[0].text, "Eldermoor | A river town.");
    assert_eq!(passages[0].score, 21.5);
    assert_eq!(passages[0].metadata["prob"], json!(0.7));
    assert_eq!(passages[0].metadata["rank"], json!(1));
    assert!(!passages[0].metadata.contains_key("text"));
    let request = seen.lock().unwrap()[0].clone();
    assert!(
        request.starts_with("GET /wiki?query=river+town&k=2 HTTP/1.1"),
        "{request}"
    );
}

#[tokio::test]
async fn colbert_post_sends_a_json_body() {
    let (url, seen) = serve(200, colbert_body()).await;
    let colbert = ColBertV2::new(url).post_requests(true);
    let passages = colbert.retrieve("hills", 3).await.unwrap();
    assert_eq!(passages.len(), 3);
    let request = seen.lock().unwrap()[0].clone();
    assert!(request.starts_with("POST / HTTP/1.1"), "{request}");
    assert!(request.ends_with(r#"{"query":"hills","k":3}"#), "{request}");
}

#[tokio::test]
async fn colbert_server_error_message_is_reported() {
    let (url, _) = serve(
        200,
        json!({"error": true, "message": "index not loaded"}).to_string(),
    )
    .await;
    let err = ColBertV2::new(url).retrieve("q", 3).await.unwrap_err();
    assert!(matches!(err, RetrieveError::Remote { .. }));
    assert!(err.to_string().contains("index not loaded"), "{err}");
}

#[tokio::test]
async fn colbert_http_error_and_bad_json_are_reported() {
    let (url, _) = serve(500, "boom".into()).await;
    let err = ColBertV2::new(url).retrieve("q", 3).await.unwrap_err();
    assert!(err.to_string().contains("HTTP 500"), "{err}");
    let (url, _) = serve(200, "not json".into()).await;
    let err = ColBertV2::new(url).retrieve("q", 3).await.unwrap_err();
    assert!(err.to_string().contains("not JSON"), "{err}");
    let (url, _) = serve(200, json!({"hits": []}).to_string()).await;
    let err = ColBertV2::new(url).retrieve("q", 3).await.unwrap_err();
    assert!(err.to_string().contains("no `topk`"), "{err}");
}

#[tokio::test]
async fn colbert_unreachable_server_is_a_clear_error() {
    let url = dead_url().await;
    let err = ColBertV2::new(url.clone())
        .retrieve("q", 3)
        .await
        .unwrap_err();
    let RetrieveError::Remote { url: u, reason } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(u, &url);
    assert!(reason.contains("unreachable"), "{reason}");
}

#[tokio::test]
async fn colbert_k_above_100_is_refused_before_any_request() {
    let err = ColBertV2::new(dead_url().await)
        .retrieve("q", 101)
        .await
        .unwrap_err();
    assert!(matches!(err, RetrieveError::Query(_)), "{err:?}");
}

#[tokio::test]
async fn openai_embeddings_are_ordered_by_index_and_normalised() {
    let body = json!({"object": "list", "model": "m", "data": [
        {"object": "embedding", "index": 1, "embedding": [0.0, 2.0]},
        {"object": "embedding", "index": 0, "embedding": [3.0, 4.0]}
    ]})
    .to_string();
    let (url, seen) = serve(200, body).await;
    let e = OpenAiEmbedder::new(format!("{url}/v1/"), "m", 2).api_key("sk-test");
    let v = e.embed(&["a".into(), "b".into()]).await.unwrap();
    assert_eq!(v, vec![vec![0.6, 0.8], vec![0.0, 1.0]]);
    assert_eq!(e.model_id(), "m");
    let request = seen.lock().unwrap()[0].clone();
    assert!(
        request.starts_with("POST /v1/embeddings HTTP/1.1"),
        "{request}"
    );
    assert!(
        request.contains("authorization: Bearer sk-test"),
        "{request}"
    );
    assert!(
        request.ends_with(r#"{"model":"m","input":["a","b"]}"#),
        "{request}"
    );
    assert!(!format!("{e:?}").contains("sk-test"));
}

#[tokio::test]
async fn openai_embeddings_batches_requests() {
    let body = json!({"data": [{"index": 0, "embedding": [1.0, 0.0]}]}).to_string();
    let (url, seen) = serve(200, body).await;
    let e = OpenAiEmbedder::new(url, "m", 2).batch_size(1);
    let v = e
        .embed(&["a".into(), "b".into(), "c".into()])
        .await
        .unwrap();
    assert_eq!(v.len(), 3);
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn openai_embeddings_wrong_dimension_or_count_is_an_error() {
    let body = json!({"data": [{"index": 0, "embedding": [1.0, 0.0, 0.0]}]}).to_string();
    let (url, _) = serve(200, body).await;
    let err = OpenAiEmbedder::new(url, "m", 2)
        .embed(&["a".into()])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("dimension 3, expected 2"), "{err}");
    let body = json!({"data": []}).to_string();
    let (url, _) = serve(200, body).await;
    let err = OpenAiEmbedder::new(url, "m", 2)
        .embed(&["a".into()])
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("asked for 1 embeddings, got 0"),
        "{err}"
    );
}

#[tokio::test]
async fn openai_embeddings_server_error_and_unreachable() {
    let (url, _) = serve(400, r#"{"error":{"message":"input is too long"}}"#.into()).await;
    let err = OpenAiEmbedder::new(url, "m", 2)
        .embed(&["a".into()])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("HTTP 400"), "{err}");
    assert!(err.to_string().contains("input is too long"), "{err}");
    let err = OpenAiEmbedder::new(dead_url().await, "m", 2)
        .embed(&["a".into()])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unreachable"), "{err}");
}

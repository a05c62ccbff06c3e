//! A loopback OpenAI-compatible chat-completions server that answers every request
//! after a fixed delay (default 20 ms) with the same ChatAdapter-formatted answer, so
//! both Sigil and Python DSPy parse it. The throughput benchmark points both
//! frameworks at it; with a fixed latency the ideal wall time of N examples at
//! concurrency C is N x delay / C.
//!
//! Usage: loopback [PORT] [DELAY_MS]. Prints `listening on http://127.0.0.1:PORT/v1`
//! once it accepts connections. HTTP/1.1 with keep-alive, no chunked request bodies.
//!
//! The delay is kept by one timer thread for all requests: each request hands it a
//! deadline and waits for its signal. A thread's timed wait is precise to about 0.1 ms,
//! where tokio's timer rounds up to whole milliseconds. The server also measures how
//! late each answer really leaves (from the deadline to the end of its write, which
//! includes the timer's wake-up and the hand-over to the connection's task) and fires
//! that much earlier, as a moving average, so that answers leave 20 ms after their
//! request's last byte on average instead of always a little late. One thread for all
//! pending requests (rather than a blocking task each) keeps the server's own CPU per
//! request small, so that at concurrency 64 the server steals little from the client
//! it measures on a 2-core machine.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

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

/// A request waiting for its deadline.
struct Pending {
    deadline: Instant,
    seq: u64,
    done: tokio::sync::oneshot::Sender<()>,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.seq) == (other.deadline, other.seq)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.deadline, self.seq).cmp(&(other.deadline, other.seq))
    }
}

/// How much earlier than its deadline the timer fires (ns): the moving average of how
/// late answers left, measured by the connections after each write.
#[derive(Clone, Default)]
struct Lead(Arc<AtomicI64>);

/// The lead never goes past this (a stalled machine must not make answers early).
const MAX_LEAD_NS: i64 = 2_000_000;

impl Lead {
    fn get(&self) -> Duration {
        Duration::from_nanos(self.0.load(Ordering::Relaxed).clamp(0, MAX_LEAD_NS) as u64)
    }
    /// An answer left `late_ns` after its deadline (negative: early).
    fn observe(&self, late_ns: i64) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |lead| {
                Some((lead + late_ns.clamp(-MAX_LEAD_NS, MAX_LEAD_NS) / 16).clamp(0, MAX_LEAD_NS))
            });
    }
}

/// Runs the timer thread; send it `(deadline, signal)` pairs.
fn start_timer(lead: Lead) -> mpsc::Sender<(Instant, tokio::sync::oneshot::Sender<()>)> {
    let (tx, rx) = mpsc::channel::<(Instant, tokio::sync::oneshot::Sender<()>)>();
    std::thread::spawn(move || {
        let mut heap: BinaryHeap<Reverse<Pending>> = BinaryHeap::new();
        let mut seq = 0u64;
        let mut push = |heap: &mut BinaryHeap<Reverse<Pending>>, (deadline, done)| {
            seq += 1;
            heap.push(Reverse(Pending {
                deadline,
                seq,
                done,
            }));
        };
        loop {
            let now = Instant::now();
            let lead = lead.get();
            while heap.peek().is_some_and(|p| p.0.deadline <= now + lead) {
                if let Some(Reverse(p)) = heap.pop() {
                    let _ = p.done.send(());
                }
            }
            let next = match heap.peek() {
                None => rx.recv().map_err(|_| ()),
                Some(p) => {
                    let wake_at = p.0.deadline - lead;
                    match rx.recv_timeout(wake_at.saturating_duration_since(now)) {
                        Ok(v) => Ok(v),
                        Err(mpsc::RecvTimeoutError::Timeout) => continue,
                        Err(mpsc::RecvTimeoutError::Disconnected) => Err(()),
                    }
                }
            };
            let Ok(first) = next else { return };
            push(&mut heap, first);
            // Take every request already queued before sleeping again.
            while let Ok(more) = rx.try_recv() {
                push(&mut heap, more);
            }
        }
    });
    tx
}

type Timer = mpsc::Sender<(Instant, tokio::sync::oneshot::Sender<()>)>;

async fn serve(
    mut stream: TcpStream,
    delay: Duration,
    body: &str,
    timer: Timer,
    lead: Lead,
) -> std::io::Result<()> {
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
        let mut deadline = None;
        let (status, payload) = if first.starts_with("GET") && first.contains("/models") {
            (
                "200 OK",
                r#"{"object":"list","data":[{"id":"loopback","object":"model"}]}"#.to_string(),
            )
        } else if first.starts_with("POST") {
            let (done, wait) = tokio::sync::oneshot::channel();
            let due = Instant::now() + delay;
            deadline = Some(due);
            if timer.send((due, done)).is_ok() {
                let _ = wait.await;
            }
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
        if let Some(due) = deadline {
            let now = Instant::now();
            let late = if now >= due {
                (now - due).as_nanos() as i64
            } else {
                -((due - now).as_nanos() as i64)
            };
            lead.observe(late);
        }
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
    let lead = Lead::default();
    let timer = start_timer(lead.clone());
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let (timer, lead) = (timer.clone(), lead.clone());
                tokio::spawn(async move {
                    let _ = serve(stream, delay, body, timer, lead).await;
                });
            }
            Err(e) => eprintln!("loopback: accept failed: {e}"),
        }
    }
}

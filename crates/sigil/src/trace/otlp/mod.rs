//! OTLP export over HTTP/protobuf to any OpenTelemetry collector or backend (Arize
//! Phoenix, Langfuse, Jaeger, Grafana Tempo, ...).
//!
//! Configured by the standard variables: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` (used as
//! is) or `OTEL_EXPORTER_OTLP_ENDPOINT` (+ `/v1/traces`; default
//! `http://localhost:4318`), `OTEL_EXPORTER_OTLP[_TRACES]_HEADERS` (`k=v,k2=v2`, values
//! percent-decoded; e.g. Langfuse's `Authorization=Basic ...`),
//! `OTEL_EXPORTER_OTLP[_TRACES]_TIMEOUT` (ms, default 10000),
//! `OTEL_EXPORTER_OTLP[_TRACES]_PROTOCOL` (only `http/protobuf`), `OTEL_SERVICE_NAME`
//! and `OTEL_RESOURCE_ATTRIBUTES`. `PHOENIX_PROJECT_NAME` sets Phoenix's project.
//!
//! Every span carries three attribute vocabularies: its own (Sigil's and the
//! OpenTelemetry GenAI names, [`keys`](super::keys)) plus the OpenInference and
//! Langfuse names, so each backend shows LM calls, token counts, inputs and outputs
//! natively.
//!
//! Export runs on its own thread with a bounded queue: a slow or unreachable
//! collector never slows the program; failures are reported once on stderr and
//! batches that cannot be sent are dropped (after retries) and counted.
//!
//! Why hand-written protobuf: the export request is a small, stable schema, and
//! encoding it directly (≈100 lines in `proto.rs`) adds no dependency and no build
//! step to the core crate; `reqwest` is already there for the LM clients.

mod proto;
pub(crate) mod vocab;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub(crate) use vocab::export_attributes;

use super::collector::{SinkError, SpanSink};
use super::span::{AttrValue, Span, SpanKind, SpanStatus};
use proto::Writer;

/// Exporter configuration problems.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OtlpError {
    /// The protocol variable names something other than `http/protobuf`.
    #[error("OTLP: unsupported protocol `{0}` (Sigil exports http/protobuf)")]
    Protocol(String),
    /// The endpoint is not an http:// or https:// URL.
    #[error("OTLP: bad endpoint `{0}` (expected http:// or https:// URL)")]
    Endpoint(String),
    /// A variable could not be read.
    #[error("OTLP: bad {var}: {message}")]
    Config {
        /// The variable.
        var: String,
        /// What is wrong with its value.
        message: String,
    },
    /// The HTTP client or the exporter's thread could not be started.
    #[error("OTLP: cannot start the exporter: {0}")]
    Start(String),
}

/// Where and how to send spans.
#[derive(Clone, PartialEq)]
pub struct OtlpConfig {
    /// The full traces URL, e.g. `http://127.0.0.1:6006/v1/traces`.
    pub endpoint: String,
    /// Extra HTTP headers (often credentials: never printed).
    pub headers: Vec<(String, String)>,
    /// Per export request.
    pub timeout: Duration,
    /// Resource attributes (`service.name` and friends).
    pub resource: BTreeMap<String, String>,
}

impl std::fmt::Debug for OtlpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(k, _)| k.as_str()).collect();
        f.debug_struct("OtlpConfig")
            .field("endpoint", &self.endpoint)
            .field("headers", &format_args!("{names:?} (values hidden)"))
            .field("timeout", &self.timeout)
            .field("resource", &self.resource)
            .finish()
    }
}

impl OtlpConfig {
    /// Sends to `endpoint` (a full traces URL), `service.name = sigil`.
    pub fn new(endpoint: impl Into<String>) -> Self {
        let mut resource = BTreeMap::new();
        resource.insert("service.name".to_string(), "sigil".to_string());
        OtlpConfig {
            endpoint: endpoint.into(),
            headers: Vec::new(),
            timeout: Duration::from_secs(10),
            resource,
        }
    }

    /// Reads the `OTEL_EXPORTER_OTLP_*` variables (see the module docs).
    pub fn from_env() -> Result<Self, OtlpError> {
        Self::from_vars(|k| std::env::var(k).ok())
    }

    /// Like [`OtlpConfig::from_env`], from any variable lookup.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, OtlpError> {
        let get = |specific: &str, general: &str| {
            var(specific)
                .filter(|v| !v.trim().is_empty())
                .or_else(|| var(general).filter(|v| !v.trim().is_empty()))
        };
        match get(
            "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
            "OTEL_EXPORTER_OTLP_PROTOCOL",
        ) {
            Some(p) if p.trim() != "http/protobuf" => return Err(OtlpError::Protocol(p)),
            _ => {}
        }
        let endpoint =
            match var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").filter(|v| !v.trim().is_empty()) {
                Some(e) => e.trim().to_string(),
                None => {
                    let base = var("OTEL_EXPORTER_OTLP_ENDPOINT")
                        .filter(|v| !v.trim().is_empty())
                        .unwrap_or_else(|| "http://localhost:4318".into());
                    format!("{}/v1/traces", base.trim().trim_end_matches('/'))
                }
            };
        if !(endpoint.starts_with("http://") || endpoint.starts_with("https://")) {
            return Err(OtlpError::Endpoint(endpoint));
        }
        let mut cfg = OtlpConfig::new(endpoint);
        if let Some(h) = get(
            "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
            "OTEL_EXPORTER_OTLP_HEADERS",
        ) {
            cfg.headers = parse_pairs(&h).map_err(|message| OtlpError::Config {
                var: "OTEL_EXPORTER_OTLP_HEADERS".into(),
                message,
            })?;
        }
        if let Some(t) = get(
            "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
            "OTEL_EXPORTER_OTLP_TIMEOUT",
        ) {
            let ms: u64 = t.trim().parse().map_err(|_| OtlpError::Config {
                var: "OTEL_EXPORTER_OTLP_TIMEOUT".into(),
                message: format!("`{t}` is not a number of milliseconds"),
            })?;
            cfg.timeout = Duration::from_millis(ms);
        }
        if let Some(r) = var("OTEL_RESOURCE_ATTRIBUTES").filter(|v| !v.trim().is_empty()) {
            let pairs = parse_pairs(&r).map_err(|message| OtlpError::Config {
                var: "OTEL_RESOURCE_ATTRIBUTES".into(),
                message,
            })?;
            cfg.resource.extend(pairs);
        }
        if let Some(n) = var("OTEL_SERVICE_NAME").filter(|v| !v.trim().is_empty()) {
            cfg.resource.insert("service.name".into(), n);
        }
        if let Some(p) = var("PHOENIX_PROJECT_NAME").filter(|v| !v.trim().is_empty()) {
            cfg.resource.insert("openinference.project.name".into(), p);
        }
        Ok(cfg)
    }

    /// Adds an HTTP header sent with every request.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
    /// Sets a resource attribute.
    pub fn resource_attribute(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.resource.insert(key.into(), value.into());
        self
    }
}

/// `k=v,k2=v2` with percent-encoded values (the OTel list format).
fn parse_pairs(s: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((k, v)) = part.split_once('=') else {
            return Err(format!("`{part}` is not key=value"));
        };
        out.push((percent_decode(k.trim()), percent_decode(v.trim())));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(v) = hex {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The protobuf body of an `ExportTraceServiceRequest` for `spans`.
pub(crate) fn encode_request(spans: &[Span], resource: &BTreeMap<String, String>) -> Vec<u8> {
    let mut w = Writer::default();
    // ExportTraceServiceRequest.resource_spans = 1
    w.message(1, |rs| {
        // ResourceSpans.resource = 1
        rs.message(1, |r| {
            for (k, v) in resource {
                r.key_value(1, k, &AttrValue::Str(v.clone()));
            }
        });
        // ResourceSpans.scope_spans = 2
        rs.message(2, |ss| {
            ss.message(1, |scope| {
                scope.string(1, "sigil");
                scope.string(2, env!("CARGO_PKG_VERSION"));
            });
            for span in spans {
                ss.message(2, |sp| encode_span(sp, span));
            }
        });
    });
    w.buf
}

fn encode_span(w: &mut Writer, span: &Span) {
    w.bytes(1, &span.trace_id.to_bytes());
    w.bytes(2, &span.span_id.to_bytes());
    if let Some(p) = span.parent_id {
        w.bytes(4, &p.to_bytes());
    }
    w.string(5, &span.name);
    // SpanKind: INTERNAL = 1, CLIENT = 3 (an LM call leaves the process).
    w.uint(6, if span.kind == SpanKind::Lm { 3 } else { 1 });
    w.fixed64(7, span.start_ns);
    w.fixed64(8, span.end_ns);
    for (k, v) in export_attributes(span) {
        w.key_value(9, &k, &v);
    }
    for e in &span.events {
        w.message(11, |ev| {
            ev.fixed64(1, e.time_ns);
            ev.string(2, &e.name);
            for (k, v) in &e.attributes {
                ev.key_value(3, k, v);
            }
        });
    }
    // Status { message = 2; code = 3 (OK = 1, ERROR = 2) }
    w.message(15, |st| match &span.status {
        SpanStatus::Ok => st.uint(3, 1),
        SpanStatus::Error(m) => {
            st.string(2, m);
            st.uint(3, 2);
        }
        SpanStatus::Cancelled => st.string(2, "cancelled"),
    });
}

enum Job {
    Batch(Vec<u8>),
    Flush(SyncSender<()>),
}

/// Sends spans to an OTLP/HTTP endpoint; use as a [`SpanSink`] of a
/// [`super::SpanCollector`].
pub struct OtlpExporter {
    config: OtlpConfig,
    jobs: Mutex<Option<SyncSender<Job>>>,
    stats: Arc<ExportStats>,
    handle: Mutex<Option<std::thread::JoinHandle<()>>>,
}

#[derive(Default)]
struct ExportStats {
    sent: AtomicU64,
    failed: AtomicU64,
    reported: std::sync::atomic::AtomicBool,
}

impl OtlpExporter {
    /// An exporter configured from the `OTEL_EXPORTER_OTLP_*` variables.
    pub fn from_env() -> Result<Self, OtlpError> {
        Self::new(OtlpConfig::from_env()?)
    }

    /// Starts the exporter's thread.
    pub fn new(config: OtlpConfig) -> Result<Self, OtlpError> {
        let (tx, rx) = sync_channel::<Job>(64);
        let stats = Arc::new(ExportStats::default());
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .map_err(|e| OtlpError::Start(e.to_string()))?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| OtlpError::Start(e.to_string()))?;
        let (cfg, st) = (config.clone(), stats.clone());
        let handle = std::thread::Builder::new()
            .name("sigil-otlp".into())
            .spawn(move || run(rx, client, runtime, cfg, st))
            .map_err(|e| OtlpError::Start(e.to_string()))?;
        Ok(OtlpExporter {
            config,
            jobs: Mutex::new(Some(tx)),
            stats,
            handle: Mutex::new(Some(handle)),
        })
    }

    /// The configuration it sends with.
    pub fn config(&self) -> &OtlpConfig {
        &self.config
    }
    /// Batches sent successfully.
    pub fn sent_batches(&self) -> u64 {
        self.stats.sent.load(Ordering::Relaxed)
    }
    /// Batches given up on (collector unreachable or refusing them).
    pub fn failed_batches(&self) -> u64 {
        self.stats.failed.load(Ordering::Relaxed)
    }

    fn sender(&self) -> Option<SyncSender<Job>> {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for OtlpExporter {
    fn drop(&mut self) {
        // Closing the channel lets the thread send what is queued and stop.
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(h) = self.handle.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = h.join();
        }
    }
}

fn run(
    rx: Receiver<Job>,
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
    cfg: OtlpConfig,
    stats: Arc<ExportStats>,
) {
    while let Ok(job) = rx.recv() {
        match job {
            Job::Flush(done) => {
                let _ = done.send(());
            }
            Job::Batch(body) => {
                let result = runtime.block_on(send(&client, &cfg, body));
                match result {
                    Ok(()) => {
                        stats.sent.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => {
                        stats.failed.fetch_add(1, Ordering::Relaxed);
                        if !stats.reported.swap(true, Ordering::Relaxed) {
                            eprintln!(
                                "sigil: cannot export spans to {}: {e}; the program continues, spans not sent are \
                                 dropped (reported once)",
                                cfg.endpoint
                            );
                        }
                    }
                }
            }
        }
    }
}

/// One POST, retried on 429/5xx and connection errors with a short backoff.
async fn send(client: &reqwest::Client, cfg: &OtlpConfig, body: Vec<u8>) -> Result<(), String> {
    let mut last = String::new();
    for attempt in 0..3u32 {
        if attempt > 0 {
            tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(attempt))).await;
        }
        let mut req = client
            .post(&cfg.endpoint)
            .header("content-type", "application/x-protobuf")
            .body(body.clone());
        for (k, v) in &cfg.headers {
            req = req.header(k.as_str(), v.as_str());
        }
        match req.send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => {
                let status = r.status().as_u16();
                last = format!("HTTP {status}");
                if !(status == 429 || status >= 500) {
                    return Err(last);
                }
            }
            // reqwest's messages name the URL, never the headers.
            Err(e) => last = e.to_string(),
        }
    }
    Err(last)
}

impl SpanSink for OtlpExporter {
    fn export(&self, spans: &[Span]) -> Result<(), SinkError> {
        let Some(tx) = self.sender() else {
            return Ok(());
        };
        let body = encode_request(spans, &self.config.resource);
        match tx.try_send(Job::Batch(body)) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => {
                self.stats.failed.fetch_add(1, Ordering::Relaxed);
                Err(SinkError(format!(
                    "OTLP export to {} is backed up; dropping a batch",
                    self.config.endpoint
                )))
            }
            Err(TrySendError::Disconnected(_)) => Err(SinkError("OTLP exporter stopped".into())),
        }
    }

    /// Waits (up to the timeout, times the retries) until queued batches are sent.
    fn flush(&self) -> Result<(), SinkError> {
        let Some(tx) = self.sender() else {
            return Ok(());
        };
        let (done_tx, done_rx) = sync_channel(1);
        tx.send(Job::Flush(done_tx))
            .map_err(|_| SinkError("OTLP exporter stopped".into()))?;
        done_rx
            .recv_timeout(self.config.timeout * 4 + Duration::from_secs(2))
            .map_err(|_| SinkError(format!("OTLP flush to {} timed out", self.config.endpoint)))
    }

    fn name(&self) -> &str {
        "otlp"
    }
}

#[cfg(test)]
mod tests;

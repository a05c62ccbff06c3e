//! Remote retrievers: a ColBERTv2 server (DSPy's protocol) and any OpenAI-compatible
//! `/v1/embeddings` endpoint as an [`Embedder`].

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Embedder, Passage, RetrieveError, Retriever};

/// The hosted ColBERTv2 servers serve at most this many passages per query.
const COLBERT_MAX_K: usize = 100;

/// A ColBERTv2 search server, spoken to as DSPy's `dspy.ColBERTv2` does:
/// `GET {url}?query=...&k=...` (or a JSON `POST` of the same two fields) answering
/// `{"topk": [{"text", "pid", "rank", "score", "prob", ...}]}`, or
/// `{"error": true, "message": ...}`.
///
/// Passage ids are the server's `pid`; every other field of a hit except `text` and
/// `score` lands in the passage's metadata.
#[derive(Clone, Debug)]
pub struct ColBertV2 {
    url: String,
    post: bool,
    client: reqwest::Client,
}

impl ColBertV2 {
    /// A client for the server at `url` (e.g. `http://host:2017/wiki17_abstracts`),
    /// with a 10-second timeout, as in DSPy.
    pub fn new(url: impl Into<String>) -> Self {
        ColBertV2 {
            url: url.into(),
            post: false,
            client: client(Duration::from_secs(10)),
        }
    }

    /// Sends the query as a JSON POST body instead of GET parameters.
    pub fn post_requests(mut self, post: bool) -> Self {
        self.post = post;
        self
    }

    /// Replaces the request timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.client = client(timeout);
        self
    }

    fn remote(&self, reason: impl Into<String>) -> RetrieveError {
        RetrieveError::Remote {
            url: self.url.clone(),
            reason: reason.into(),
        }
    }
}

fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .unwrap_or_default()
}

/// Describes a transport failure without the noise of reqwest's source chain.
fn transport_reason(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "unreachable (connection failed)".into()
    } else {
        let mut s = e.to_string();
        let mut source = std::error::Error::source(e);
        while let Some(inner) = source {
            s.push_str(": ");
            s.push_str(&inner.to_string());
            source = inner.source();
        }
        s
    }
}

/// Reads a response body, turning HTTP errors into a reason that quotes the body.
async fn body_json(resp: reqwest::Response) -> Result<Value, String> {
    let status = resp.status();
    let text = resp.text().await.map_err(|e| transport_reason(&e))?;
    if !status.is_success() {
        let snippet: String = text.chars().take(300).collect();
        return Err(format!("HTTP {status}: {snippet}"));
    }
    serde_json::from_str(&text).map_err(|e| {
        let snippet: String = text.chars().take(200).collect();
        format!("the response is not JSON ({e}): {snippet}")
    })
}

#[async_trait]
impl Retriever for ColBertV2 {
    fn name(&self) -> &str {
        "colbertv2"
    }

    async fn retrieve(&self, query: &str, k: usize) -> Result<Vec<Passage>, RetrieveError> {
        if k > COLBERT_MAX_K {
            return Err(RetrieveError::Query(format!(
                "k = {k}, but ColBERTv2 servers serve at most {COLBERT_MAX_K} passages"
            )));
        }
        let request = if self.post {
            self.client
                .post(&self.url)
                .json(&json!({"query": query, "k": k}))
        } else {
            self.client
                .get(&self.url)
                .query(&[("query", query), ("k", &k.to_string())])
        };
        let resp = request
            .send()
            .await
            .map_err(|e| self.remote(transport_reason(&e)))?;
        let body = body_json(resp).await.map_err(|r| self.remote(r))?;
        parse_colbert(&body, k).map_err(|r| self.remote(r))
    }
}

/// Parses a ColBERTv2 answer into at most `k` passages.
fn parse_colbert(body: &Value, k: usize) -> Result<Vec<Passage>, String> {
    if body
        .get("error")
        .is_some_and(|e| e.as_bool() != Some(false))
    {
        let message = body
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("unknown error");
        return Err(format!("the server returned an error: {message}"));
    }
    let topk = body
        .get("topk")
        .and_then(Value::as_array)
        .ok_or_else(|| "the response has no `topk` list".to_string())?;
    let mut out = Vec::new();
    for (i, hit) in topk.iter().take(k).enumerate() {
        let obj = hit
            .as_object()
            .ok_or_else(|| format!("topk[{i}] is not an object"))?;
        let text = obj
            .get("text")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("topk[{i}] has no `text` string"))?;
        let id = match obj.get("pid") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            _ => format!("rank{}", i + 1),
        };
        let score = obj.get("score").and_then(Value::as_f64).unwrap_or(0.0) as f32;
        let metadata: Map<String, Value> = obj
            .iter()
            .filter(|(key, _)| !matches!(key.as_str(), "text" | "score"))
            .map(|(key, v)| (key.clone(), v.clone()))
            .collect();
        out.push(Passage {
            id,
            text: text.to_string(),
            score,
            metadata,
        });
    }
    Ok(out)
}

/// Dense vectors from any OpenAI-compatible `POST {base_url}/embeddings` endpoint
/// (OpenAI, llama.cpp's server with `--embeddings`, vLLM, TEI, ...).
///
/// Vectors are L2-normalised on arrival, so cosine similarity is a dot product. The
/// API key, if any, is sent as a bearer token and never logged or stored.
#[derive(Clone)]
pub struct OpenAiEmbedder {
    base_url: String,
    model: String,
    dim: usize,
    api_key: Option<String>,
    batch: usize,
    client: reqwest::Client,
}

impl std::fmt::Debug for OpenAiEmbedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiEmbedder")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("dim", &self.dim)
            .finish_non_exhaustive()
    }
}

impl OpenAiEmbedder {
    /// `base_url` ends before `/embeddings` (e.g. `http://127.0.0.1:8080/v1`); `dim`
    /// is the model's vector size, checked against every answer.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>, dim: usize) -> Self {
        OpenAiEmbedder {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            model: model.into(),
            dim,
            api_key: None,
            batch: 64,
            client: client(Duration::from_secs(60)),
        }
    }

    /// Sends `Authorization: Bearer <key>`.
    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = Some(key.into());
        self
    }

    /// Texts per request (default 64).
    pub fn batch_size(mut self, batch: usize) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// Replaces the request timeout (default 60 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.client = client(timeout);
        self
    }

    fn url(&self) -> String {
        format!("{}/embeddings", self.base_url)
    }

    fn remote(&self, reason: impl Into<String>) -> RetrieveError {
        RetrieveError::Remote {
            url: self.url(),
            reason: reason.into(),
        }
    }

    async fn embed_batch(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, RetrieveError> {
        let mut request = self
            .client
            .post(self.url())
            .json(&json!({"model": self.model, "input": texts}));
        if let Some(key) = &self.api_key {
            request = request.bearer_auth(key);
        }
        let resp = request
            .send()
            .await
            .map_err(|e| self.remote(transport_reason(&e)))?;
        let body = body_json(resp).await.map_err(|r| self.remote(r))?;
        parse_embeddings(&body, texts.len(), self.dim).map_err(|r| self.remote(r))
    }
}

#[derive(Deserialize)]
struct EmbeddingsResponse {
    data: Vec<EmbeddingItem>,
}

#[derive(Deserialize)]
struct EmbeddingItem {
    #[serde(default)]
    index: Option<usize>,
    embedding: Vec<f32>,
}

/// Parses `{"data": [{"index", "embedding"}]}`, in `index` order, normalised.
fn parse_embeddings(body: &Value, n: usize, dim: usize) -> Result<Vec<Vec<f32>>, String> {
    let parsed: EmbeddingsResponse = serde_json::from_value(body.clone())
        .map_err(|e| format!("unexpected embeddings response: {e}"))?;
    if parsed.data.len() != n {
        return Err(format!(
            "asked for {n} embeddings, got {}",
            parsed.data.len()
        ));
    }
    let mut out: Vec<Option<Vec<f32>>> = vec![None; n];
    for (pos, item) in parsed.data.into_iter().enumerate() {
        let i = item.index.unwrap_or(pos);
        if i >= n || out[i].is_some() {
            return Err(format!("embedding index {i} is out of range or repeated"));
        }
        if item.embedding.len() != dim {
            return Err(format!(
                "embedding {i} has dimension {}, expected {dim}",
                item.embedding.len()
            ));
        }
        out[i] = Some(normalize(item.embedding));
    }
    Ok(out.into_iter().flatten().collect())
}

fn normalize(mut v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    if norm > 0.0 {
        v.iter_mut().for_each(|x| *x /= norm);
    }
    v
}

#[async_trait]
impl Embedder for OpenAiEmbedder {
    fn model_id(&self) -> &str {
        &self.model
    }

    fn dim(&self) -> usize {
        self.dim
    }

    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, RetrieveError> {
        let mut out = Vec::with_capacity(texts.len());
        for chunk in texts.chunks(self.batch) {
            out.extend(self.embed_batch(chunk).await?);
        }
        Ok(out)
    }
}

#[cfg(test)]
#[path = "remote_tests.rs"]
mod tests;

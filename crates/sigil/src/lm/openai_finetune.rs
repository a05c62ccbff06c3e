//! OpenAI's fine-tuning API as a [`Finetuner`]: upload the chat JSONL through the
//! Files API (`purpose=fine-tune`), create a fine-tuning job, poll it with backoff
//! until it ends, and return the model it made.
//!
//! The same endpoints serve any provider that copies them. Sigil's tests run it
//! against a local server speaking those endpoints (`sigil-testkit`'s
//! `FinetuneApiServer`), the only stand-in the real API allows here.

use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::{Value, json};

use super::config::ApiKey;
use super::openai::OPENAI_BASE_URL;
use crate::optimize::{FinetuneError, FinetuneJob, FinetunedModel, Finetuner};

/// Fine-tunes through OpenAI's `/files` and `/fine_tuning/jobs` endpoints.
#[derive(Clone, Debug)]
pub struct OpenAiFinetuner {
    base_url: String,
    api_key: Option<ApiKey>,
    first_poll: Duration,
    max_poll: Duration,
    timeout: Duration,
    http: reqwest::Client,
}

const PROVIDER: &str = "openai fine-tuning";

impl OpenAiFinetuner {
    /// A finetuner for the API at `base_url` (`https://api.openai.com/v1`).
    pub fn new(base_url: impl Into<String>) -> Self {
        OpenAiFinetuner {
            base_url: base_url.into().trim_end_matches('/').to_string(),
            api_key: None,
            first_poll: Duration::from_secs(2),
            max_poll: Duration::from_secs(60),
            timeout: Duration::from_secs(6 * 3600),
            http: reqwest::Client::new(),
        }
    }
    /// OpenAI's API with `OPENAI_API_KEY`, at `OPENAI_BASE_URL` if that is set.
    pub fn from_env() -> Self {
        let url = std::env::var("OPENAI_BASE_URL").unwrap_or_else(|_| OPENAI_BASE_URL.into());
        let mut f = OpenAiFinetuner::new(url);
        if let Ok(key) = std::env::var("OPENAI_API_KEY") {
            f.api_key = Some(ApiKey::new(key));
        }
        f
    }
    /// Sets the API key.
    pub fn api_key(mut self, key: impl Into<ApiKey>) -> Self {
        self.api_key = Some(key.into());
        self
    }
    /// Polls the job first after `first`, then 1.5 times longer each time up to `max`.
    pub fn poll_interval(mut self, first: Duration, max: Duration) -> Self {
        self.first_poll = first;
        self.max_poll = max.max(first);
        self
    }
    /// Gives up on a job that has not ended after this long (default 6 hours).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let r = self
            .http
            .request(method, format!("{}{path}", self.base_url));
        match &self.api_key {
            Some(k) => r.bearer_auth(k.expose()),
            None => r,
        }
    }

    /// Sends a request and reads a JSON body, mapping every failure to a typed error.
    async fn send(
        &self,
        what: &'static str,
        request: reqwest::RequestBuilder,
    ) -> Result<Value, FinetuneError> {
        let transport = |e: reqwest::Error| FinetuneError::Transport {
            provider: PROVIDER.into(),
            message: format!("{what}: {e}"),
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(transport)?;
        if !(200..300).contains(&status) {
            let body = serde_json::from_str::<Value>(&text)
                .ok()
                .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
                .unwrap_or(text);
            return Err(FinetuneError::Http {
                provider: PROVIDER.into(),
                what,
                status,
                body: body.chars().take(500).collect(),
            });
        }
        serde_json::from_str(&text).map_err(|e| FinetuneError::Transport {
            provider: PROVIDER.into(),
            message: format!("{what}: the answer is not JSON ({e})"),
        })
    }
}

fn field<'a>(v: &'a Value, key: &str, what: &str) -> Result<&'a str, FinetuneError> {
    v[key].as_str().ok_or_else(|| FinetuneError::Transport {
        provider: PROVIDER.into(),
        message: format!("{what}: the answer has no `{key}`"),
    })
}

#[async_trait]
impl Finetuner for OpenAiFinetuner {
    fn name(&self) -> &str {
        "openai"
    }

    async fn finetune(&self, job: FinetuneJob<'_>) -> Result<FinetunedModel, FinetuneError> {
        if job.examples.is_empty() {
            return Err(FinetuneError::NoData);
        }
        let mut jsonl = String::new();
        for e in job.examples {
            jsonl.push_str(&e.jsonl_line());
            jsonl.push('\n');
        }
        let part = reqwest::multipart::Part::text(jsonl)
            .file_name("train.jsonl")
            .mime_str("application/jsonl")
            .map_err(|e| FinetuneError::Config(e.to_string()))?;
        let form = reqwest::multipart::Form::new()
            .text("purpose", "fine-tune")
            .part("file", part);
        let file = self
            .send(
                "file upload",
                self.request(reqwest::Method::POST, "/files")
                    .multipart(form),
            )
            .await?;
        let file_id = field(&file, "id", "file upload")?.to_string();

        let s = job.settings;
        let mut hyper = serde_json::Map::new();
        if let Some(n) = s.epochs {
            hyper.insert("n_epochs".into(), n.into());
        }
        if let Some(n) = s.batch_size {
            hyper.insert("batch_size".into(), n.into());
        }
        if let Some(lr) = s.learning_rate {
            hyper.insert("learning_rate_multiplier".into(), lr.into());
        }
        let mut body = json!({"training_file": file_id, "model": job.base_model});
        if !hyper.is_empty() {
            body["hyperparameters"] = Value::Object(hyper);
        }
        if let Some(seed) = s.seed {
            body["seed"] = seed.into();
        }
        if let Some(suffix) = &s.suffix {
            body["suffix"] = suffix.clone().into();
        }
        let created = self
            .send(
                "job creation",
                self.request(reqwest::Method::POST, "/fine_tuning/jobs")
                    .json(&body),
            )
            .await?;
        let job_id = field(&created, "id", "job creation")?.to_string();

        let start = Instant::now();
        let mut wait = self.first_poll;
        let mut state = created;
        loop {
            let status = field(&state, "status", "job status")?.to_string();
            match status.as_str() {
                "succeeded" => {
                    let model_id = field(&state, "fine_tuned_model", "job status")?.to_string();
                    return Ok(FinetunedModel {
                        model_id,
                        base_model: job.base_model.to_string(),
                        adapter: None,
                        job_id: Some(job_id),
                        trained_tokens: state["trained_tokens"].as_u64(),
                        examples: job.examples.len(),
                        loss_curve: Vec::new(),
                    });
                }
                "failed" | "cancelled" => {
                    let message = state["error"]["message"]
                        .as_str()
                        .unwrap_or("no reason given")
                        .to_string();
                    return Err(FinetuneError::JobFailed {
                        job: job_id,
                        status,
                        message,
                    });
                }
                _ => {}
            }
            if start.elapsed() + wait > self.timeout {
                return Err(FinetuneError::TimedOut {
                    job: job_id,
                    status,
                    waited_s: start.elapsed().as_secs(),
                });
            }
            tokio::time::sleep(wait).await;
            wait = wait.mul_f64(1.5).min(self.max_poll);
            state = self
                .send(
                    "job status",
                    self.request(reqwest::Method::GET, &format!("/fine_tuning/jobs/{job_id}")),
                )
                .await?;
        }
    }
}

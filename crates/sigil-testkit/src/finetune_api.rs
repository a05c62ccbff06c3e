//! A local server speaking OpenAI's fine-tuning endpoints, for testing
//! `sigil::lm::OpenAiFinetuner` where the real API is out of reach (the one stand-in
//! the fine-tuning issue allows).
//!
//! It checks what the real API checks before a job starts: a bearer token when one is
//! required, `purpose=fine-tune`, and a training file whose every line is a chat
//! example (`{"messages": [...]}` with roles and string contents, the assistant
//! last). A job moves `validating_files` → `queued` → `running` → `succeeded` one step
//! per status poll and names its model `ft:<base>:sigil-test:<suffix>:<job>`; a server
//! made with [`FinetuneApiServer::failing_jobs`] ends every job `failed` instead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use serde_json::{Value, json};

#[derive(Default)]
struct Inner {
    files: HashMap<String, String>,
    jobs: HashMap<String, Job>,
    job_bodies: Vec<Value>,
    polls: usize,
}

struct Job {
    model: String,
    suffix: Option<String>,
    step: usize,
    tokens: u64,
}

#[derive(Clone)]
struct App {
    inner: Arc<Mutex<Inner>>,
    token: Option<String>,
    fail: Option<String>,
}

/// The running server. Dropping it stops it.
pub struct FinetuneApiServer {
    url: String,
    app: App,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FinetuneApiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

type Reply = (StatusCode, Json<Value>);

fn error(status: StatusCode, message: impl Into<String>) -> Reply {
    (status, Json(json!({"error": {"message": message.into()}})))
}

impl App {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn authorized(&self, headers: &HeaderMap) -> Result<(), Reply> {
        let Some(token) = &self.token else {
            return Ok(());
        };
        let sent = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if sent == Some(token.as_str()) {
            Ok(())
        } else {
            Err(error(
                StatusCode::UNAUTHORIZED,
                "Incorrect API key provided",
            ))
        }
    }
}

/// Why a training file is refused, if it is.
fn check_training_file(text: &str) -> Result<(), String> {
    let mut lines = 0;
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        lines += 1;
        let v: Value = serde_json::from_str(line).map_err(|e| format!("line {}: {e}", i + 1))?;
        let messages = v["messages"]
            .as_array()
            .ok_or_else(|| format!("line {}: no messages", i + 1))?;
        for m in messages {
            let role = m["role"].as_str().unwrap_or_default();
            if !["system", "user", "assistant"].contains(&role) || !m["content"].is_string() {
                return Err(format!(
                    "line {}: a message needs a role and a string content",
                    i + 1
                ));
            }
        }
        if messages.last().and_then(|m| m["role"].as_str()) != Some("assistant") {
            return Err(format!(
                "line {}: the last message must be the assistant's",
                i + 1
            ));
        }
    }
    if lines == 0 {
        return Err("the training file is empty".into());
    }
    Ok(())
}

async fn upload(State(app): State<App>, headers: HeaderMap, mut form: Multipart) -> Reply {
    if let Err(e) = app.authorized(&headers) {
        return e;
    }
    let (mut purpose, mut file) = (None, None);
    while let Ok(Some(part)) = form.next_field().await {
        let name = part.name().unwrap_or_default().to_string();
        let Ok(text) = part.text().await else {
            return error(StatusCode::BAD_REQUEST, "unreadable form field");
        };
        match name.as_str() {
            "purpose" => purpose = Some(text),
            "file" => file = Some(text),
            _ => {}
        }
    }
    if purpose.as_deref() != Some("fine-tune") {
        return error(StatusCode::BAD_REQUEST, "purpose must be fine-tune");
    }
    let Some(file) = file else {
        return error(StatusCode::BAD_REQUEST, "no file");
    };
    if let Err(e) = check_training_file(&file) {
        return error(
            StatusCode::BAD_REQUEST,
            format!("invalid training file: {e}"),
        );
    }
    let mut inner = app.lock();
    let id = format!("file-{}", inner.files.len() + 1);
    let bytes = file.len();
    inner.files.insert(id.clone(), file);
    (
        StatusCode::OK,
        Json(json!({"id": id, "object": "file", "bytes": bytes, "purpose": "fine-tune"})),
    )
}

async fn create_job(State(app): State<App>, headers: HeaderMap, Json(body): Json<Value>) -> Reply {
    if let Err(e) = app.authorized(&headers) {
        return e;
    }
    let mut inner = app.lock();
    inner.job_bodies.push(body.clone());
    let Some(file) = body["training_file"]
        .as_str()
        .and_then(|f| inner.files.get(f))
    else {
        return error(StatusCode::BAD_REQUEST, "training_file not found");
    };
    let Some(model) = body["model"].as_str() else {
        return error(StatusCode::BAD_REQUEST, "model is required");
    };
    let job = Job {
        model: model.to_string(),
        suffix: body["suffix"].as_str().map(str::to_string),
        step: 0,
        tokens: file.len() as u64 / 4,
    };
    let id = format!("ftjob-{}", inner.jobs.len() + 1);
    inner.jobs.insert(id.clone(), job);
    (
        StatusCode::OK,
        Json(
            json!({"id": id, "object": "fine_tuning.job", "status": "validating_files", "model": model}),
        ),
    )
}

async fn job_status(State(app): State<App>, headers: HeaderMap, Path(id): Path<String>) -> Reply {
    if let Err(e) = app.authorized(&headers) {
        return e;
    }
    let fail = app.fail.clone();
    let mut inner = app.lock();
    inner.polls += 1;
    let Some(job) = inner.jobs.get_mut(&id) else {
        return error(StatusCode::NOT_FOUND, format!("no job {id}"));
    };
    job.step += 1;
    let status = match (job.step, &fail) {
        (1, _) => "queued",
        (2, _) => "running",
        (_, Some(_)) => "failed",
        _ => "succeeded",
    };
    let mut v =
        json!({"id": id, "object": "fine_tuning.job", "status": status, "model": job.model});
    if status == "succeeded" {
        let suffix = job.suffix.clone().unwrap_or_default();
        v["fine_tuned_model"] = format!("ft:{}:sigil-test:{suffix}:{id}", job.model).into();
        v["trained_tokens"] = job.tokens.into();
    }
    if let (Some(reason), "failed") = (&fail, status) {
        v["error"] = json!({"code": "invalid_training_file", "message": reason});
    }
    (StatusCode::OK, Json(v))
}

impl FinetuneApiServer {
    /// Starts a server on 127.0.0.1 requiring this bearer token (`None`: any).
    pub async fn start(token: Option<&str>) -> Self {
        Self::start_with(token, None).await
    }

    /// Starts a server whose every job fails with `reason`.
    pub async fn failing_jobs(reason: &str) -> Self {
        Self::start_with(None, Some(reason.to_string())).await
    }

    async fn start_with(token: Option<&str>, fail: Option<String>) -> Self {
        let app = App {
            inner: Arc::default(),
            token: token.map(str::to_string),
            fail,
        };
        let router = Router::new()
            .route("/v1/files", post(upload))
            .route("/v1/fine_tuning/jobs", post(create_job))
            .route("/v1/fine_tuning/jobs/{id}", get(job_status))
            .with_state(app.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1");
        let url = format!("http://{}/v1", listener.local_addr().expect("address"));
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, router).await;
        });
        FinetuneApiServer { url, app, task }
    }

    /// The API's base URL (`http://127.0.0.1:PORT/v1`).
    pub fn url(&self) -> &str {
        &self.url
    }
    /// The training files uploaded, in upload order.
    pub fn files(&self) -> Vec<String> {
        let inner = self.app.lock();
        let mut ids: Vec<&String> = inner.files.keys().collect();
        ids.sort_by_key(|id| id.trim_start_matches("file-").parse::<u64>().unwrap_or(0));
        ids.iter().map(|id| inner.files[*id].clone()).collect()
    }
    /// The job-creation bodies received.
    pub fn job_bodies(&self) -> Vec<Value> {
        self.app.lock().job_bodies.clone()
    }
    /// Status polls answered.
    pub fn polls(&self) -> usize {
        self.app.lock().polls
    }
}

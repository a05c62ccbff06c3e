//! The artifacts page: the compiled-program files in the artifacts folder. One is
//! shown as `sigil show` renders it (through [`sigil::artifact`]) and as its raw
//! text; two are compared as `sigil diff` does, and line by line (the page computes
//! the line diff). A file the artifact loader refuses still shows its text, with the
//! loader's error.

use std::path::PathBuf;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use sigil::artifact::{Artifact, ArtifactDiff, RunRecord, ShowOptions, show_text};

use super::AppState;
use super::api::ApiError;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/artifacts", get(list))
        .route("/api/artifact", get(show))
        .route("/api/artifact-diff", get(diff))
}

#[derive(Debug, Serialize)]
struct ArtifactFile {
    name: String,
    bytes: u64,
    modified_epoch_ms: Option<f64>,
}

/// Artifact files are TOML (`*.toml`), or DSPy-style JSON; run records
/// (`*.run.toml`) belong to their artifact and are not listed.
fn is_artifact(name: &str) -> bool {
    (name.ends_with(".toml") || name.ends_with(".json")) && !name.ends_with(".run.toml")
}

#[derive(Debug, Serialize)]
struct ArtifactList {
    dir: String,
    exists: bool,
    files: Vec<ArtifactFile>,
}

async fn list(State(state): State<AppState>) -> Result<Json<ArtifactList>, ApiError> {
    let dir = state.artifacts.clone();
    let list = tokio::task::spawn_blocking(move || -> Result<ArtifactList, ApiError> {
        let shown = dir.display().to_string();
        let entries = match std::fs::read_dir(dir.as_path()) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(ArtifactList {
                    dir: shown,
                    exists: false,
                    files: Vec::new(),
                });
            }
            Err(e) => return Err(ApiError::Internal(format!("cannot list {shown}: {e}"))),
        };
        let mut files = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Ok(meta) = entry.metadata() else { continue };
            if !meta.is_file() || !is_artifact(&name) {
                continue;
            }
            let modified_epoch_ms = meta
                .modified()
                .ok()
                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                .map(|d| d.as_secs_f64() * 1000.0);
            files.push(ArtifactFile {
                name,
                bytes: meta.len(),
                modified_epoch_ms,
            });
        }
        files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(ArtifactList {
            dir: shown,
            exists: true,
            files,
        })
    })
    .await
    .map_err(|e| ApiError::Internal(format!("listing task failed: {e}")))??;
    Ok(Json(list))
}

#[derive(Debug, Deserialize)]
struct ShowQuery {
    name: String,
}

#[derive(Debug, Serialize)]
struct ArtifactText {
    name: String,
    text: String,
    /// `sigil show`'s rendering, when the file loads as an artifact.
    rendered: Option<String>,
    /// Why it does not load, when it does not.
    load_error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct DiffQuery {
    a: String,
    b: String,
}

#[derive(Debug, Serialize)]
struct ArtifactDiffView {
    a: ArtifactText,
    b: ArtifactText,
    /// `sigil diff`'s comparison, when both files load.
    summary: Option<String>,
    prompts_identical: Option<bool>,
}

fn read_text(path: &std::path::Path, name: &str) -> Result<String, ApiError> {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|e| {
            ApiError::BadRequest(format!(
                "{name} is not UTF-8 text (first bad byte at offset {})",
                e.utf8_error().valid_up_to()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            Err(ApiError::NotFound(format!("no artifact {name}")))
        }
        Err(e) => Err(ApiError::Internal(format!("cannot read {name}: {e}"))),
    }
}

/// Reads one file and, for TOML artifacts, loads it through the artifact API.
fn load(dir: &std::path::Path, name: &str) -> Result<(ArtifactText, Option<Artifact>), ApiError> {
    let path = resolve(dir, name)?;
    let text = read_text(&path, name)?;
    let (artifact, load_error) = if name.ends_with(".toml") {
        match Artifact::from_toml_str(&text, name) {
            Ok(a) => (Some(a), None),
            Err(e) => (None, Some(e.to_string())),
        }
    } else {
        (
            None,
            Some("not a Sigil artifact (TOML); shown as text".to_string()),
        )
    };
    let rendered = artifact.as_ref().map(|a| {
        let run = RunRecord::load_beside(&path).ok().flatten();
        show_text(a, run.as_ref(), ShowOptions { color: false })
    });
    Ok((
        ArtifactText {
            name: name.to_string(),
            text,
            rendered,
            load_error,
        },
        artifact,
    ))
}

async fn show(
    State(state): State<AppState>,
    Query(q): Query<ShowQuery>,
) -> Result<Json<ArtifactText>, ApiError> {
    let dir = state.artifacts.clone();
    let (view, _) = tokio::task::spawn_blocking(move || load(&dir, &q.name))
        .await
        .map_err(|e| ApiError::Internal(format!("read task failed: {e}")))??;
    Ok(Json(view))
}

async fn diff(
    State(state): State<AppState>,
    Query(q): Query<DiffQuery>,
) -> Result<Json<ArtifactDiffView>, ApiError> {
    let dir = state.artifacts.clone();
    let view = tokio::task::spawn_blocking(move || -> Result<ArtifactDiffView, ApiError> {
        let (a, aa) = load(&dir, &q.a)?;
        let (b, ab) = load(&dir, &q.b)?;
        let compared = match (&aa, &ab) {
            (Some(x), Some(y)) => Some(ArtifactDiff::new(&q.a, x, &q.b, y)),
            _ => None,
        };
        Ok(ArtifactDiffView {
            summary: compared
                .as_ref()
                .map(|d| d.to_text(ShowOptions { color: false })),
            prompts_identical: compared.as_ref().map(ArtifactDiff::prompts_identical),
            a,
            b,
        })
    })
    .await
    .map_err(|e| ApiError::Internal(format!("diff task failed: {e}")))??;
    Ok(Json(view))
}

/// Only plain file names inside the artifacts folder: no separators, no `..`.
fn resolve(dir: &std::path::Path, name: &str) -> Result<PathBuf, ApiError> {
    let plain = !name.is_empty()
        && !name.contains(['/', '\\', '\0'])
        && name != "."
        && name != ".."
        && is_artifact(name);
    if !plain {
        return Err(ApiError::BadRequest(format!(
            "{name:?} is not an artifact file name in the artifacts folder"
        )));
    }
    Ok(dir.join(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_artifact_names_resolve() {
        let dir = std::path::Path::new("/a");
        assert!(resolve(dir, "qa.toml").is_ok());
        assert!(resolve(dir, "qa.json").is_ok());
        for bad in ["../x.toml", "a/b.toml", "qa.run.toml", "", "..", "x.txt"] {
            assert!(resolve(dir, bad).is_err(), "{bad}");
        }
    }
}

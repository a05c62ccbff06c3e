//! The artifacts page: the compiled-program files in the artifacts folder, one shown
//! as its text, two compared line by line (the page computes the diff).

use std::path::PathBuf;

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::api::ApiError;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/artifacts", get(list))
        .route("/api/artifact", get(show))
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

async fn show(
    State(state): State<AppState>,
    Query(q): Query<ShowQuery>,
) -> Result<Json<ArtifactText>, ApiError> {
    let path = resolve(&state.artifacts, &q.name)?;
    let name = q.name.clone();
    let text = tokio::task::spawn_blocking(move || match std::fs::read(&path) {
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
    })
    .await
    .map_err(|e| ApiError::Internal(format!("read task failed: {e}")))??;
    Ok(Json(ArtifactText { name: q.name, text }))
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

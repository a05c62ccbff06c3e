//! The manifest every index directory carries, checked when the index is opened, and
//! the staging directory that makes builds atomic.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::{IndexError, IndexKind};

/// Bumped whenever the on-disk layout changes; an index of another version is refused.
pub const FORMAT_VERSION: u32 = 1;

/// The manifest file's name inside an index directory.
pub const MANIFEST_FILE: &str = "manifest.json";

/// What an index directory holds and how it was built.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `sigil-index`.
    pub format: String,
    pub format_version: u32,
    pub kind: IndexKind,
    /// The embedding model (dense and hybrid indexes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dim: Option<usize>,
    /// `sha256:<hex>` of the corpus file the index was built from.
    pub corpus_hash: String,
    pub documents: usize,
    /// Whether a dense index carries an HNSW graph (else it is searched exactly).
    #[serde(default)]
    pub ann: bool,
    /// `sigil-index <crate version>`.
    pub built_by: String,
}

impl Manifest {
    pub(crate) fn new(kind: IndexKind, corpus_hash: &str, documents: usize) -> Self {
        Manifest {
            format: "sigil-index".into(),
            format_version: FORMAT_VERSION,
            kind,
            model_id: None,
            dim: None,
            corpus_hash: corpus_hash.to_string(),
            documents,
            ann: false,
            built_by: format!("sigil-index {}", env!("CARGO_PKG_VERSION")),
        }
    }

    /// Reads `dir/manifest.json`.
    pub fn read(dir: &Path) -> Result<Manifest, IndexError> {
        let path = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&path).map_err(|e| IndexError::Manifest {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        serde_json::from_str(&text).map_err(|e| IndexError::Manifest {
            path: path.display().to_string(),
            reason: format!("not a sigil-index manifest ({e})"),
        })
    }

    pub(crate) fn write(&self, dir: &Path) -> Result<(), IndexError> {
        let path = dir.join(MANIFEST_FILE);
        let text = serde_json::to_string_pretty(self).map_err(|e| IndexError::io(&path, e))?;
        std::fs::write(&path, text + "\n").map_err(|e| IndexError::io(&path, e))
    }

    /// Refuses a manifest of another format version or kind, or (when given) another
    /// embedding model or dimension.
    pub fn check(
        &self,
        dir: &Path,
        kind: IndexKind,
        model: Option<(&str, usize)>,
    ) -> Result<(), IndexError> {
        let incompatible = |reason: String| IndexError::Incompatible {
            path: dir.display().to_string(),
            reason,
        };
        if self.format != "sigil-index" || self.format_version != FORMAT_VERSION {
            return Err(incompatible(format!(
                "it has format {} version {} ({}), this build reads sigil-index version {FORMAT_VERSION}; rebuild it",
                self.format, self.format_version, self.built_by
            )));
        }
        if self.kind != kind {
            return Err(incompatible(format!(
                "it is a {} index, a {} index was asked for",
                self.kind, kind
            )));
        }
        if let Some((model_id, dim)) = model {
            let built = self.model_id.as_deref().unwrap_or("(none)");
            if built != model_id {
                return Err(incompatible(format!(
                    "it was built with embedding model {built:?}, but the embedder is {model_id:?}; \
                     vectors of different models are not comparable; rebuild it"
                )));
            }
            if self.dim != Some(dim) {
                return Err(incompatible(format!(
                    "its vectors have dimension {:?}, the embedder gives {dim}; rebuild it",
                    self.dim
                )));
            }
        }
        Ok(())
    }
}

/// A build directory beside the target: filled, then renamed over the target in one
/// step by [`Staging::commit`]. Dropped without a commit (an error, a panic, a
/// cancelled future), it deletes itself, so no half-written index is ever left behind.
pub(crate) struct Staging {
    path: PathBuf,
    target: PathBuf,
    committed: bool,
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

fn sibling(target: &Path, tag: &str) -> Result<PathBuf, IndexError> {
    let name = target
        .file_name()
        .ok_or_else(|| IndexError::Config(format!("{} is not a directory path", target.display())))?
        .to_string_lossy()
        .to_string();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    Ok(target.with_file_name(format!(".{name}.{tag}-{}-{n}", std::process::id())))
}

impl Staging {
    pub(crate) fn new(target: &Path) -> Result<Staging, IndexError> {
        if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|e| IndexError::io(parent, e))?;
        }
        let path = sibling(target, "building")?;
        std::fs::create_dir(&path).map_err(|e| IndexError::io(&path, e))?;
        Ok(Staging {
            path,
            target: target.to_path_buf(),
            committed: false,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Moves the finished build to the target, replacing an older index there.
    pub(crate) fn commit(mut self) -> Result<(), IndexError> {
        let old = if self.target.exists() {
            let old = sibling(&self.target, "old")?;
            std::fs::rename(&self.target, &old).map_err(|e| IndexError::io(&self.target, e))?;
            Some(old)
        } else {
            None
        };
        if let Err(e) = std::fs::rename(&self.path, &self.target) {
            // Put the old index back so the target is never left empty.
            if let Some(old) = &old {
                let _ = std::fs::rename(old, &self.target);
            }
            return Err(IndexError::io(&self.target, e));
        }
        self.committed = true;
        if let Some(old) = old {
            let _ = std::fs::remove_dir_all(old);
        }
        Ok(())
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if !self.committed {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Whether `dir` is absent, an empty directory, or holds a sigil index (a manifest):
/// the only places a build may write to.
pub(crate) fn check_replaceable(dir: &Path) -> Result<(), IndexError> {
    if !dir.exists() || dir.join(MANIFEST_FILE).is_file() {
        return Ok(());
    }
    let empty = std::fs::read_dir(dir)
        .map_err(|e| IndexError::io(dir, e))?
        .next()
        .is_none();
    if empty {
        Ok(())
    } else {
        Err(IndexError::NotAnIndex {
            path: dir.display().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn staging_dropped_without_commit_leaves_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("idx");
        {
            let s = Staging::new(&target).unwrap();
            std::fs::write(s.path().join("half"), b"x").unwrap();
        }
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 0);
    }

    #[test]
    fn commit_replaces_the_old_index() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("idx");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("old"), b"x").unwrap();
        let s = Staging::new(&target).unwrap();
        std::fs::write(s.path().join("new"), b"y").unwrap();
        s.commit().unwrap();
        assert!(target.join("new").exists());
        assert!(!target.join("old").exists());
        assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_foreign_directory_is_not_replaceable() {
        let tmp = tempfile::tempdir().unwrap();
        assert!(check_replaceable(&tmp.path().join("absent")).is_ok());
        assert!(check_replaceable(tmp.path()).is_ok());
        std::fs::write(tmp.path().join("thesis.tex"), b"x").unwrap();
        assert!(matches!(
            check_replaceable(tmp.path()),
            Err(IndexError::NotAnIndex { .. })
        ));
    }

    #[test]
    fn check_refuses_other_versions_kinds_and_models() {
        let dir = Path::new("idx");
        let mut m = Manifest::new(IndexKind::Dense, "sha256:0", 3);
        m.model_id = Some("all-MiniLM-L6-v2".into());
        m.dim = Some(384);
        assert!(
            m.check(dir, IndexKind::Dense, Some(("all-MiniLM-L6-v2", 384)))
                .is_ok()
        );
        let e = m
            .check(dir, IndexKind::Dense, Some(("bge-small", 384)))
            .unwrap_err();
        assert!(
            e.to_string()
                .contains("built with embedding model \"all-MiniLM-L6-v2\""),
            "{e}"
        );
        let e = m
            .check(dir, IndexKind::Dense, Some(("all-MiniLM-L6-v2", 768)))
            .unwrap_err();
        assert!(e.to_string().contains("dimension"), "{e}");
        let e = m.check(dir, IndexKind::Bm25, None).unwrap_err();
        assert!(
            e.to_string().contains("it is a dense index, a bm25 index"),
            "{e}"
        );
        m.format_version = FORMAT_VERSION + 1;
        let e = m.check(dir, IndexKind::Dense, None).unwrap_err();
        assert!(e.to_string().contains("rebuild it"), "{e}");
    }
}

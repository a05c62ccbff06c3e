//! The checkpoint file: every finished step of a run (a bootstrap, a proposal, a
//! scored trial) by key, rewritten atomically after each step.
//!
//! Optimizers are deterministic given their seed and the results of their steps, so a
//! resumed run replays the recorded steps without LM calls and continues exactly where
//! the interrupted run stopped: it ends with the same result as an uninterrupted run.

use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{OptimizeError, Spend};

const VERSION: u32 = 1;

#[derive(Debug, Default, Serialize, Deserialize)]
struct CheckpointFile {
    version: u32,
    optimizer: String,
    /// Hash of the optimizer settings, seed, program and data: a checkpoint only
    /// resumes the run it was written by.
    fingerprint: String,
    /// Spend up to the last recorded step.
    spend: Spend,
    steps: IndexMap<String, Value>,
}

#[derive(Debug)]
pub(crate) struct Checkpoint {
    path: Option<PathBuf>,
    file: CheckpointFile,
    resumed: usize,
}

fn err(path: &Path, reason: impl Into<String>) -> OptimizeError {
    OptimizeError::Checkpoint {
        path: path.display().to_string(),
        reason: reason.into(),
    }
}

impl Checkpoint {
    /// Opens the checkpoint at `path`: read back when `resume` and the file exists,
    /// else started empty (an existing file is replaced at the first step).
    pub(crate) fn open(
        path: Option<&Path>,
        resume: bool,
        optimizer: &str,
        fingerprint: &str,
    ) -> Result<Self, OptimizeError> {
        let fresh = CheckpointFile {
            version: VERSION,
            optimizer: optimizer.to_string(),
            fingerprint: fingerprint.to_string(),
            ..CheckpointFile::default()
        };
        let Some(path) = path else {
            return Ok(Checkpoint {
                path: None,
                file: fresh,
                resumed: 0,
            });
        };
        if !(resume && path.exists()) {
            return Ok(Checkpoint {
                path: Some(path.to_path_buf()),
                file: fresh,
                resumed: 0,
            });
        }
        let text = std::fs::read_to_string(path).map_err(|e| err(path, e.to_string()))?;
        let file: CheckpointFile =
            serde_json::from_str(&text).map_err(|e| err(path, format!("unreadable: {e}")))?;
        if file.version != VERSION {
            return Err(err(
                path,
                format!("version {} (this build writes {VERSION})", file.version),
            ));
        }
        if file.optimizer != optimizer || file.fingerprint != fingerprint {
            return Err(err(
                path,
                format!(
                    "written by a different run ({} {}); the settings, seed, program or data changed",
                    file.optimizer, file.fingerprint
                ),
            ));
        }
        let resumed = file.steps.len();
        Ok(Checkpoint {
            path: Some(path.to_path_buf()),
            file,
            resumed,
        })
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        self.file.steps.get(key)
    }

    pub(crate) fn spend(&self) -> Spend {
        self.file.spend
    }

    pub(crate) fn resumed_steps(&self) -> usize {
        self.resumed
    }

    /// Records a finished step and rewrites the file.
    pub(crate) fn put(
        &mut self,
        key: &str,
        value: Value,
        spend: Spend,
    ) -> Result<(), OptimizeError> {
        self.file.steps.insert(key.to_string(), value);
        self.set_spend(spend)
    }

    /// Records the spend so far (also that of an unfinished step, so a resumed run
    /// counts it against its budget) and rewrites the file: written to a temporary
    /// file, then renamed, so a crash never leaves a half-written checkpoint.
    pub(crate) fn set_spend(&mut self, spend: Spend) -> Result<(), OptimizeError> {
        self.file.spend = spend;
        let Some(path) = &self.path else {
            return Ok(());
        };
        let text = serde_json::to_string(&self.file).map_err(|e| err(path, e.to_string()))?;
        let mut tmp = path.clone().into_os_string();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| err(path, e.to_string()))?;
        }
        std::fs::write(&tmp, text).map_err(|e| err(&tmp, e.to_string()))?;
        std::fs::rename(&tmp, path).map_err(|e| err(path, e.to_string()))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steps_survive_a_reopen_and_a_mismatch_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/run.ckpt");
        let mut c = Checkpoint::open(Some(&path), true, "opt", "fp").unwrap();
        assert_eq!(c.resumed_steps(), 0);
        c.put(
            "a",
            serde_json::json!(1),
            Spend {
                lm_calls: 3,
                ..Spend::default()
            },
        )
        .unwrap();
        let c2 = Checkpoint::open(Some(&path), true, "opt", "fp").unwrap();
        assert_eq!(c2.get("a"), Some(&serde_json::json!(1)));
        assert_eq!(c2.spend().lm_calls, 3);
        assert_eq!(c2.resumed_steps(), 1);
        assert!(Checkpoint::open(Some(&path), true, "opt", "other").is_err());
        let fresh = Checkpoint::open(Some(&path), false, "opt", "other").unwrap();
        assert!(fresh.get("a").is_none());
    }
}

//! The `.run.toml` sidecar: what one compile run spent and when, which the clock and
//! the cache decide and so stays out of the artifact body.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::{ArtifactError, write_atomic};
use crate::optimize::Spend;

/// One compile run: when it finished, how long it took, and what the provider billed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunRecord {
    /// Seconds since the Unix epoch when the run finished.
    pub finished_unix: u64,
    /// How long the run took.
    pub wall_time_secs: f64,
    /// Calls the provider answered (cache hits excluded).
    pub provider_calls: u64,
    /// Calls the request cache answered.
    pub cache_hits: u64,
    /// Input tokens billed.
    pub input_tokens: u64,
    /// Output tokens billed.
    pub output_tokens: u64,
    /// What the run cost in US dollars.
    pub cost_usd: f64,
}

impl RunRecord {
    /// A record of a run that just finished after `wall_time`.
    pub fn now(wall_time: Duration, spend: &Spend) -> Self {
        RunRecord {
            finished_unix: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0),
            wall_time_secs: wall_time.as_secs_f64(),
            provider_calls: spend.lm_calls,
            cache_hits: spend.cache_hits,
            input_tokens: spend.input_tokens,
            output_tokens: spend.output_tokens,
            cost_usd: spend.cost_usd,
        }
    }

    /// The sidecar path of an artifact: `qa.sigil.toml` -> `qa.sigil.toml.run.toml`.
    pub fn path_for(artifact: &Path) -> PathBuf {
        let mut s = artifact.as_os_str().to_os_string();
        s.push(".run.toml");
        PathBuf::from(s)
    }

    /// Writes the sidecar beside `artifact` (atomically).
    pub fn save_beside(&self, artifact: impl AsRef<Path>) -> Result<(), ArtifactError> {
        let path = Self::path_for(artifact.as_ref());
        let text = toml::to_string_pretty(self)
            .map_err(|e| ArtifactError::Build(format!("cannot write TOML: {e}")))?;
        write_atomic(&path, text.as_bytes())
    }

    /// Reads the sidecar beside `artifact`; `Ok(None)` when there is none.
    pub fn load_beside(artifact: impl AsRef<Path>) -> Result<Option<RunRecord>, ArtifactError> {
        let path = Self::path_for(artifact.as_ref());
        let file = path.display().to_string();
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(ArtifactError::Io {
                    file,
                    message: format!("cannot read: {e}"),
                });
            }
        };
        toml::from_str(&text)
            .map(Some)
            .map_err(|e| ArtifactError::Syntax {
                file,
                message: e.message().trim().to_string(),
            })
    }
}

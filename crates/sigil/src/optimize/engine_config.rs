//! [`EngineConfig`]: the settings every optimizer shares.

use std::path::PathBuf;
use std::sync::Arc;

use super::Budget;
use super::observer::OptimizerObserver;
use crate::lm::ResponseCache;

/// Settings every optimizer shares: seed, concurrency, budget, checkpoint, progress
/// and observers.
///
/// ```
/// use sigil::optimize::{Budget, EngineConfig};
/// let config = EngineConfig::new().seed(7).concurrency(4).budget(Budget::unlimited().max_calls(500))
///     .checkpoint("runs/bfs.ckpt").resume(true);
/// # let _ = config;
/// ```
#[derive(Clone)]
pub struct EngineConfig {
    pub(crate) seed: u64,
    pub(crate) concurrency: usize,
    pub(crate) budget: Budget,
    pub(crate) checkpoint: Option<PathBuf>,
    pub(crate) resume: bool,
    pub(crate) progress: bool,
    pub(crate) observers: Vec<Arc<dyn OptimizerObserver>>,
    pub(crate) cache: Option<Arc<ResponseCache>>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            seed: 0,
            concurrency: 8,
            budget: Budget::unlimited(),
            checkpoint: None,
            resume: false,
            progress: true,
            observers: Vec::new(),
            cache: None,
        }
    }
}

impl std::fmt::Debug for EngineConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EngineConfig")
            .field("seed", &self.seed)
            .field("concurrency", &self.concurrency)
            .field("budget", &self.budget)
            .field("checkpoint", &self.checkpoint)
            .field("resume", &self.resume)
            .field("progress", &self.progress)
            .field("observers", &self.observers.len())
            .field("cache", &self.cache.is_some())
            .finish()
    }
}

impl EngineConfig {
    /// Seed 0, 8 concurrent rollouts, no budget, no checkpoint, a progress bar on terminals.
    pub fn new() -> Self {
        Self::default()
    }
    /// The seed of every random choice: the same seed gives the same result.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Examples run at once in an evaluation (at least 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }
    /// Limits on what the run may spend.
    pub fn budget(mut self, budget: Budget) -> Self {
        self.budget = budget;
        self
    }
    /// Writes a checkpoint to `path` after every step.
    pub fn checkpoint(mut self, path: impl Into<PathBuf>) -> Self {
        self.checkpoint = Some(path.into());
        self
    }
    /// Reads the checkpoint back (when it exists) and replays its steps.
    pub fn resume(mut self, resume: bool) -> Self {
        self.resume = resume;
        self
    }
    /// `false` never draws a progress bar; `true` draws one on a terminal outside CI.
    pub fn progress(mut self, show: bool) -> Self {
        self.progress = show;
        self
    }
    /// Adds an observer of the run's events.
    pub fn observer(mut self, observer: Arc<dyn OptimizerObserver>) -> Self {
        self.observers.push(observer);
        self
    }
    /// Puts this request cache in front of the budget: repeated requests (a resumed
    /// run, a candidate scored again) are answered from it without touching the budget.
    pub fn request_cache(mut self, cache: Arc<ResponseCache>) -> Self {
        self.cache = Some(cache);
        self
    }
}

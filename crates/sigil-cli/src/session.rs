//! What the program-running commands share: flags for the LM and the store, building a
//! program file into a runnable program with tracing on, and printing scores.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use sigil::evaluate::EvalReport;
use sigil::module::Ctx;
use sigil::trace::{ProgramInfo, SpanCollector};

use crate::program::{Built, LmOverrides, Pipeline, ProgramFile, build_ctx, build_program};

/// LM and store flags of `run`, `eval`, `compile` and `promote`.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct LmFlags {
    /// Use this model instead of the file's `lm.model` (`local`, `openai/MODEL`, ...).
    #[arg(long)]
    pub model: Option<String>,
    /// Use this OpenAI-compatible server instead of the file's `lm.base_url`.
    #[arg(long)]
    pub base_url: Option<String>,
    /// The trace store (SQLite).
    #[arg(long, default_value = ".sigil/traces.db")]
    pub store: PathBuf,
    /// Do not record traces.
    #[arg(long)]
    pub no_trace: bool,
}

/// A program file made runnable: the program, its LM context (traced), and the collector.
pub struct Session {
    pub file: ProgramFile,
    pub program: Pipeline,
    pub built: Built,
    pub collector: Option<Arc<SpanCollector>>,
    /// The react steps' MCP servers: held so they stay connected while the session lives.
    _mcp: crate::mcp_tools::McpTools,
}

impl Session {
    /// Loads `path`, builds the LM and the program, and turns tracing on.
    pub async fn open(
        path: &Path,
        flags: &LmFlags,
        cache: Option<bool>,
    ) -> anyhow::Result<Session> {
        let file = ProgramFile::load(path)?;
        Self::from_file(file, flags, cache).await
    }

    pub async fn from_file(
        file: ProgramFile,
        flags: &LmFlags,
        cache: Option<bool>,
    ) -> anyhow::Result<Session> {
        let overrides = LmOverrides {
            model: flags.model.clone(),
            base_url: flags.base_url.clone(),
            cache,
        };
        // The LM first: a missing model fails before any index is built.
        let mut built = build_ctx(&file, &overrides).await?;
        let retrievers = crate::retrievers::Retrievers::open_all(&file).await?;
        let mcp = crate::mcp_tools::McpTools::open_all(&file).await?;
        let program = build_program(&file, &|pf, step| retrievers.for_step(pf, step), &|step| {
            mcp.for_step(step)
        })?;
        let collector = if flags.no_trace {
            None
        } else {
            if let Some(dir) = flags.store.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
            }
            let (collector, problems) = sigil_store::standard_collector(Some(&flags.store));
            for p in problems {
                eprintln!("sigil: {p}");
            }
            built.ctx = built.ctx.with_hook(collector.clone());
            Some(collector)
        };
        Ok(Session {
            file,
            program,
            built,
            collector,
            _mcp: mcp,
        })
    }

    /// The context for running the program, stamped with what it is (and whether compiled).
    pub fn ctx(&self, info: ProgramInfo) -> Ctx {
        let info = info.describe(&self.program, &self.built.ctx);
        self.built.ctx.with_program(info)
    }

    /// Writes every pending span to the store.
    pub fn flush(&self) {
        if let Some(c) = &self.collector {
            c.flush();
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.flush();
    }
}

/// `61.7% (95% CI 50.0-73.3), n=30, 0 errors`
pub fn score_line(r: &EvalReport) -> String {
    format!(
        "{:.1}% (95% CI {:.1}-{:.1}), n={}, {} errors, {} parse fallbacks",
        r.mean * 100.0,
        r.ci95.0 * 100.0,
        r.ci95.1 * 100.0,
        r.len(),
        r.errors,
        r.fallbacks
    )
}

/// The same as JSON, for `--json`.
pub fn score_json(r: &EvalReport) -> serde_json::Value {
    serde_json::json!({
        "metric": r.metric,
        "mean": r.mean,
        "ci95": [r.ci95.0, r.ci95.1],
        "n": r.len(),
        "errors": r.errors,
        "parse_fallbacks": r.fallbacks,
        "lm_calls": r.lm_calls,
        "input_tokens": r.usage.input_tokens,
        "output_tokens": r.usage.output_tokens,
        "wall_time_s": r.wall_time.as_secs_f64(),
        // Per example, in dataset order: for paired comparisons outside Sigil.
        "scores": r.scores(),
    })
}

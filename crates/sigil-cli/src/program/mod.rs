//! Program files: a declarative Sigil program in TOML, for users who write no Rust.
//!
//! ```toml
//! name = "support_intents"
//! [lm]
//! model = "local"                 # the embedded SmolLM2; or "openai/gpt-4o-mini", ...
//! temperature = 0.0
//! [[step]]
//! name = "classify"
//! module = "predict"              # or "chain_of_thought", "retrieve"
//! signature = "text -> intent: enum[billing, lost_item, other]"
//! instructions = "Classify the support message."
//! [data]
//! path = "support.jsonl"          # relative to this file
//! inputs = ["text"]
//! split = { train = 20, val = 20, test = 30, seed = 7 }
//! [metric]
//! kind = "exact_match"
//! field = "intent"
//! [optimizer]
//! kind = "random_search"
//! budget = { max_calls = 600 }
//! ```
//!
//! Every error names the file, the line and the key.

pub mod build;
mod judge;
mod pipeline;
pub mod spec;
mod validate;
pub mod weights;

pub use build::{
    Built, LmOverrides, build_ctx, build_metric, build_optimizer, build_program, load_data,
    load_examples,
};
pub use pipeline::Pipeline;
pub use spec::ProgramSpec;

use std::ops::Range;
use std::path::{Path, PathBuf};

/// Why a program file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ProgramError {
    #[error("{file}: cannot read: {source}")]
    Read {
        file: String,
        source: std::io::Error,
    },
    #[error("{file}:{line}:{col}: {message}")]
    Syntax {
        file: String,
        line: usize,
        col: usize,
        message: String,
    },
    #[error("{file}:{line}: `{key}`: {message}")]
    Invalid {
        file: String,
        line: usize,
        key: String,
        message: String,
    },
}

/// A program file, read and checked.
#[derive(Clone, Debug)]
pub struct ProgramFile {
    /// The file as given.
    pub path: PathBuf,
    /// The file's text, kept for artifacts (the program travels with its compiled prompts).
    pub source: String,
    pub spec: ProgramSpec,
}

impl ProgramFile {
    /// Reads, parses and validates a program file.
    pub fn load(path: &Path) -> Result<ProgramFile, ProgramError> {
        let source = std::fs::read_to_string(path).map_err(|source| ProgramError::Read {
            file: path.display().to_string(),
            source,
        })?;
        Self::parse(path, source)
    }

    /// Parses and validates `source` as the program file at `path` (relative paths
    /// inside it resolve against `path`'s folder).
    pub fn parse(path: &Path, source: String) -> Result<ProgramFile, ProgramError> {
        let file = path.display().to_string();
        let spec: ProgramSpec = toml::from_str(&source).map_err(|e| {
            let (line, col) = e
                .span()
                .map(|s| line_col(&source, s.start))
                .unwrap_or((1, 1));
            ProgramError::Syntax {
                file: file.clone(),
                line,
                col,
                message: e.message().trim().to_string(),
            }
        })?;
        let pf = ProgramFile {
            path: path.to_path_buf(),
            source,
            spec,
        };
        validate::validate(&pf)?;
        Ok(pf)
    }

    /// A path written in the file, resolved against the file's folder.
    pub fn resolve(&self, written: &str) -> PathBuf {
        let p = Path::new(written);
        if p.is_absolute() {
            return p.to_path_buf();
        }
        self.path.parent().unwrap_or_else(|| Path::new(".")).join(p)
    }

    /// An error at `span` of this file.
    pub(crate) fn err(
        &self,
        span: Range<usize>,
        key: &str,
        message: impl Into<String>,
    ) -> ProgramError {
        ProgramError::Invalid {
            file: self.path.display().to_string(),
            line: line_col(&self.source, span.start).0,
            key: key.to_string(),
            message: message.into(),
        }
    }

    /// An error about a key that is missing from a table starting near `span`.
    pub(crate) fn err_at_line(
        &self,
        line: usize,
        key: &str,
        message: impl Into<String>,
    ) -> ProgramError {
        ProgramError::Invalid {
            file: self.path.display().to_string(),
            line,
            key: key.to_string(),
            message: message.into(),
        }
    }

    /// The line of the first occurrence of a table header (`[data]`), or 1.
    pub(crate) fn header_line(&self, header: &str) -> usize {
        self.source
            .lines()
            .position(|l| l.trim_start().starts_with(header))
            .map(|i| i + 1)
            .unwrap_or(1)
    }
}

/// 1-based line and column of a byte offset.
pub(crate) fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(source.len());
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let col = before
        .rsplit('\n')
        .next()
        .map(|l| l.chars().count())
        .unwrap_or(0)
        + 1;
    (line, col)
}

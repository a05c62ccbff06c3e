//! Compiled programs as files a person can read, diff, review and promote.
//!
//! An [`Artifact`] holds, for each predictor path, the signature (fields, types,
//! descriptions, prefixes), the instructions, the demos and the exact messages the
//! LM receives for a placeholder input (`{question}` for each input field), rendered
//! by the real adapter. Around them sits the provenance: optimizer, settings and
//! seed, hashes and sizes of the datasets, model and LM parameters, adapter, Sigil
//! version, validation and held-out scores with CIs, and what compiling cost.
//!
//! # Why TOML
//!
//! A reviewer reads these files in a diff. TOML writes long prompt text as
//! multi-line strings, so an edited instruction shows as the lines that changed, not
//! as one changed line of escaped `\n`s as in JSON; every key sits on its own line
//! under a section header (`[[predictors]]`, `[scores.test]`), so a hunk says what it
//! belongs to; and the key order is fixed by the data model ([`Artifact`] and its
//! sections), so the same compile writes the same bytes.
//!
//! # Determinism
//!
//! Recompiling with the same seed and cached LM responses writes a byte-identical
//! file: nothing in the body depends on the clock or the cache. The cost section
//! counts requests including cache hits and the tokens of the scored trials (a cache
//! hit carries its original usage). What does depend on them (wall time, the date,
//! provider calls vs cache hits, money) goes to a sidecar, `<file>.run.toml`
//! ([`RunRecord`]), which `sigil show` prints too.
//!
//! # Loading
//!
//! [`Artifact::load`] reads, migrates older format versions, refuses newer ones,
//! and validates every predictor before returning, so a program is never half
//! loaded. [`Artifact::check_against`] lists every structural difference from a
//! program, and only then is [`Artifact::overlay`] meant to be used.
//!
//! ```no_run
//! # fn demo(program: &dyn sigil::module::Module, ctx: &sigil::module::Ctx) -> Result<(), sigil::artifact::ArtifactError> {
//! use sigil::artifact::Artifact;
//! let artifact = Artifact::load("qa.sigil.toml")?;
//! artifact.check_against(program)?;
//! let compiled_ctx = ctx.with_overlay(Some(std::sync::Arc::new(artifact.overlay())));
//! # let _ = compiled_ctx; Ok(()) }
//! ```
//!
//! Python DSPy's `program.save("x.json")` files are read and written by [`dspy`].

mod build;
mod check;
mod diff;
pub mod dspy;
mod format;
mod load;
mod render;
mod run;

pub use build::{Provenance, file_sha256};
pub use check::Difference;
pub use diff::{ArtifactDiff, FieldChange, PredictorDiff};
pub use format::{
    Artifact, CostSection, DataSection, DatasetInfo, DemoEntry, FORMAT_VERSION, FieldEntry,
    FinetunedSection, ImportSection, LmSection, OptimizerSection, PredictorEntry, RenderedMessage,
    Scores, TestScores,
};
pub use render::{ShowOptions, show_text};
pub use run::RunRecord;

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::module::{Overlay, PredictorState};

/// Why an artifact could not be read, written or applied. Every variant names the
/// file and the place in it.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ArtifactError {
    /// The file could not be read or written.
    #[error("{file}: {message}")]
    Io {
        /// The file.
        file: String,
        /// What failed.
        message: String,
    },
    /// The file is not UTF-8.
    #[error("{file}: not UTF-8 text (first bad byte at offset {offset}); the file is corrupt")]
    NotUtf8 {
        /// The file.
        file: String,
        /// The offset of the first bad byte.
        offset: usize,
    },
    /// The file is not valid TOML.
    #[error("{file}: {message}")]
    Syntax {
        /// The file.
        file: String,
        /// The parser's message, with the line and column.
        message: String,
    },
    /// The file has no `format_version`.
    #[error("{file}: no `format_version` key; this is not a Sigil artifact")]
    MissingVersion {
        /// The file.
        file: String,
    },
    /// The file was written by a newer Sigil.
    #[error(
        "{file}: format_version {found} is newer than this Sigil ({sigil}) reads (1 to {supported}); upgrade Sigil"
    )]
    UnknownVersion {
        /// The file.
        file: String,
        /// The file's `format_version`.
        found: i64,
        /// The newest version this Sigil reads ([`FORMAT_VERSION`]).
        supported: u32,
        /// This Sigil's version.
        sigil: &'static str,
    },
    /// The TOML reads but a value is wrong (a bad type, a demo that does not read back).
    #[error("{file}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// What is wrong, and where.
        message: String,
    },
    /// The artifact does not fit the program ([`Artifact::check_against`]).
    #[error("{}", mismatch_message(.program, .differences))]
    Mismatch {
        /// Which program.
        program: String,
        /// Every difference found.
        differences: Vec<Difference>,
    },
    /// A DSPy file could not be imported.
    #[error("{file}: {message}")]
    Dspy {
        /// The file.
        file: String,
        /// What is wrong, and where.
        message: String,
    },
    /// An artifact could not be built or rendered.
    #[error("cannot build the artifact: {0}")]
    Build(String),
}

fn mismatch_message(program: &str, differences: &[Difference]) -> String {
    let mut s = format!(
        "the artifact does not fit {program} ({} difference{}):",
        differences.len(),
        if differences.len() == 1 { "" } else { "s" }
    );
    for d in differences {
        s.push_str("\n  - ");
        s.push_str(&d.to_string());
    }
    s
}

impl Artifact {
    /// Reads, migrates and validates an artifact file.
    pub fn load(path: impl AsRef<Path>) -> Result<Artifact, ArtifactError> {
        let path = path.as_ref();
        let file = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|e| ArtifactError::Io {
            file: file.clone(),
            message: format!("cannot read: {e}"),
        })?;
        load::from_bytes(&bytes, &file)
    }

    /// Parses an artifact from its text (`file` names it in errors).
    pub fn from_toml_str(text: &str, file: &str) -> Result<Artifact, ArtifactError> {
        load::from_bytes(text.as_bytes(), file)
    }

    /// The file's text. The same artifact always gives the same bytes.
    pub fn to_toml_string(&self) -> Result<String, ArtifactError> {
        let body = toml::to_string_pretty(self)
            .map_err(|e| ArtifactError::Build(format!("cannot write TOML: {e}")))?;
        Ok(format!(
            "# A compiled Sigil program. Review it like code; `sigil show` prints it readably.\n{body}"
        ))
    }

    /// Writes the file atomically: a temporary file beside it, then a rename.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<(), ArtifactError> {
        let text = self.to_toml_string()?;
        write_atomic(path.as_ref(), text.as_bytes())
    }

    /// SHA-256 (hex) of the file's text.
    pub fn content_hash(&self) -> Result<String, ArtifactError> {
        Ok(hex::encode(Sha256::digest(
            self.to_toml_string()?.as_bytes(),
        )))
    }

    /// Instructions and demos per predictor path, to run the program with
    /// ([`crate::module::Ctx::with_overlay`]). Call [`Artifact::check_against`] first.
    pub fn overlay(&self) -> Overlay {
        let mut overlay = Overlay::default();
        for p in &self.predictors {
            // `load` validated every demo, so this only skips entries of an unvalidated artifact.
            let demos = p.examples().unwrap_or_default();
            overlay.predictors.insert(
                p.path.clone(),
                PredictorState {
                    instructions: Some(p.instructions.clone()),
                    demos: Some(demos),
                },
            );
        }
        overlay
    }

    /// The predictor at `path`.
    pub fn predictor(&self, path: &str) -> Option<&PredictorEntry> {
        self.predictors.iter().find(|p| p.path == path)
    }
}

/// Writes `bytes` to a temporary file in `path`'s directory, syncs it and renames it
/// over `path`, so readers see the old file or the new one, never half of one.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), ArtifactError> {
    use std::io::Write;
    let file = path.display().to_string();
    let io = |what: &str, e: std::io::Error| ArtifactError::Io {
        file: file.clone(),
        message: format!("{what}: {e}"),
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "artifact".into());
    let tmp = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| {
        let mut f = std::fs::File::create(&tmp).map_err(|e| io("cannot create temp file", e))?;
        f.write_all(bytes).map_err(|e| io("cannot write", e))?;
        f.sync_all().map_err(|e| io("cannot sync", e))?;
        std::fs::rename(&tmp, path).map_err(|e| io("cannot rename into place", e))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

//! What program a trace ran, and whether it was compiled, so compiled and uncompiled
//! traffic can be told apart and compared.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Stamped on every root span (and stored per trace).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProgramInfo {
    /// The program's name (as `sigil` commands and the store show it).
    pub name: String,
    /// Whether the program runs with compiled prompts (an artifact or an overlay).
    pub compiled: bool,
    /// The compiled artifact's content hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_hash: Option<String>,
    /// The optimizer that compiled it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub optimizer: Option<String>,
    /// Demos per predictor path, as the program runs (overlay applied).
    #[serde(default)]
    pub demos_per_predictor: BTreeMap<String, usize>,
    /// The LM's model id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
}

impl ProgramInfo {
    /// An uncompiled program.
    pub fn uncompiled(name: impl Into<String>) -> Self {
        ProgramInfo {
            name: name.into(),
            ..Default::default()
        }
    }

    /// A compiled program, from its artifact's hash and optimizer.
    pub fn compiled(
        name: impl Into<String>,
        artifact_hash: impl Into<String>,
        optimizer: impl Into<String>,
    ) -> Self {
        ProgramInfo {
            name: name.into(),
            compiled: true,
            artifact_hash: Some(artifact_hash.into()),
            optimizer: Some(optimizer.into()),
            ..Default::default()
        }
    }
}

//! Modules: the units a program is built from.
//!
//! [`Predict`] is the only module that calls an LM. Programs are ordinary structs that
//! hold modules and implement [`Module`]; they name their sub-modules with
//! [`crate::submodules!`], which gives every predictor a stable path (`generate`,
//! `hop2.refine`) through which optimizers read and set instructions and demos.

mod chain_of_thought;
mod ctx;
mod predict;

pub use chain_of_thought::ChainOfThought;
pub use ctx::{Ctx, Overlay, PredictorState, TraceEntry, TraceRecorder};
pub use predict::Predict;

use async_trait::async_trait;

use crate::adapter::{FormatError, ParseError};
use crate::data::{Example, Prediction};
use crate::lm::LmError;

/// Why a module call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ModuleError {
    #[error("at predictor `{path}`: {source}")]
    Format { path: String, source: FormatError },
    #[error("at predictor `{path}`: {source}")]
    Parse { path: String, source: ParseError },
    #[error("at predictor `{path}`: {source}")]
    Lm { path: String, source: LmError },
    #[error("{0}")]
    Other(String),
}

impl ModuleError {
    /// The raw completion, when the failure was a parse error.
    pub fn raw_completion(&self) -> Option<&str> {
        match self {
            ModuleError::Parse { source, .. } => Some(&source.raw),
            _ => None,
        }
    }
}

/// A step of an LM program.
///
/// Dyn-compatible, and its futures are `Send`, so programs can be boxed and run from
/// many tasks at once. `forward` takes `&self`: a module holds no per-call state, and
/// everything scoped to a call (the LM, an optimizer's candidate overlay, a trace
/// recorder) travels in the [`Ctx`].
#[async_trait]
pub trait Module: Send + Sync {
    /// Runs the module on `inputs`.
    async fn forward(&self, ctx: &Ctx, inputs: Example) -> Result<Prediction, ModuleError>;

    /// Every predictor inside this module with its path relative to this module.
    fn named_predictors(&self) -> Vec<(String, &Predict)>;
}

#[async_trait]
impl<M: Module + ?Sized> Module for Box<M> {
    async fn forward(&self, ctx: &Ctx, inputs: Example) -> Result<Prediction, ModuleError> {
        (**self).forward(ctx, inputs).await
    }
    fn named_predictors(&self) -> Vec<(String, &Predict)> {
        (**self).named_predictors()
    }
}

#[async_trait]
impl<M: Module + ?Sized> Module for std::sync::Arc<M> {
    async fn forward(&self, ctx: &Ctx, inputs: Example) -> Result<Prediction, ModuleError> {
        (**self).forward(ctx, inputs).await
    }
    fn named_predictors(&self) -> Vec<(String, &Predict)> {
        (**self).named_predictors()
    }
}

/// Joins a parent path and a child path (`hop2` + `refine` = `hop2.refine`).
pub fn join_path(parent: &str, child: &str) -> String {
    match (parent.is_empty(), child.is_empty()) {
        (true, _) => child.to_string(),
        (_, true) => parent.to_string(),
        _ => format!("{parent}.{child}"),
    }
}

/// Tells every predictor in `program` its path, so overlays and trace capture find it.
/// Evaluate and the optimizers call this; call it yourself before a bare `forward`
/// if you use overlays or recording directly.
pub fn bind_paths(program: &dyn Module) {
    for (path, p) in program.named_predictors() {
        p.set_path(&path);
    }
}

/// Implements [`Module::named_predictors`] for a struct from the names of its
/// module fields.
///
/// ```ignore
/// impl Module for Rag {
///     sigil::submodules!(retrieve_query, generate);
///     async fn forward(&self, ctx: &Ctx, inputs: Example) -> Result<Prediction, ModuleError> { ... }
/// }
/// ```
#[macro_export]
macro_rules! submodules {
    ($($field:ident),* $(,)?) => {
        fn named_predictors(&self) -> ::std::vec::Vec<(::std::string::String, &$crate::module::Predict)> {
            let mut out = ::std::vec::Vec::new();
            $(
                for (path, p) in $crate::module::Module::named_predictors(&self.$field) {
                    out.push(($crate::module::join_path(stringify!($field), &path), p));
                }
            )*
            out
        }
    };
}

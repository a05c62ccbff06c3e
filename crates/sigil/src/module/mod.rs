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

use std::sync::Arc;

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
    /// A short name of the failure's kind (`format`, `parse`, `lm`, `other`).
    pub fn kind(&self) -> &'static str {
        match self {
            ModuleError::Format { .. } => "format",
            ModuleError::Parse { .. } => "parse",
            ModuleError::Lm { .. } => "lm",
            ModuleError::Other(_) => "other",
        }
    }

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

    /// The name traces show for this module; defaults to the type's name.
    fn name(&self) -> &str {
        short_type_name(std::any::type_name::<Self>())
    }

    /// Runs `forward` inside a module span (when the ctx has trace hooks), so the
    /// spans of sub-modules nest under it. Call sub-modules with `call` to get one
    /// span per module; a sub-module called with `forward` still traces its LM calls,
    /// one level up. Without hooks this is `forward`.
    async fn call(&self, ctx: &Ctx, inputs: Example) -> Result<Prediction, ModuleError> {
        if !ctx.is_tracing() {
            return self.forward(ctx, inputs).await;
        }
        let span = ctx.start_span(self.name(), || crate::trace::StartData::Module {
            inputs: Arc::new(inputs.clone()),
        });
        let inner = ctx.child(&span);
        let result = self.forward(&inner, inputs).await;
        span.end_with(|| crate::trace::module_end(&result, None));
        result
    }
}

/// `my_crate::rag::Rag<T>` -> `Rag`.
fn short_type_name(full: &'static str) -> &'static str {
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

#[async_trait]
impl<M: Module + ?Sized> Module for Box<M> {
    async fn forward(&self, ctx: &Ctx, inputs: Example) -> Result<Prediction, ModuleError> {
        (**self).forward(ctx, inputs).await
    }
    fn named_predictors(&self) -> Vec<(String, &Predict)> {
        (**self).named_predictors()
    }
    fn name(&self) -> &str {
        (**self).name()
    }
    async fn call(&self, ctx: &Ctx, inputs: Example) -> Result<Prediction, ModuleError> {
        (**self).call(ctx, inputs).await
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
    fn name(&self) -> &str {
        (**self).name()
    }
    async fn call(&self, ctx: &Ctx, inputs: Example) -> Result<Prediction, ModuleError> {
        (**self).call(ctx, inputs).await
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
/// ```
/// use sigil::prelude::*;
///
/// struct TwoStep {
///     draft: Predict,
///     polish: ChainOfThought,
/// }
///
/// #[async_trait::async_trait]
/// impl Module for TwoStep {
///     sigil::submodules!(draft, polish);
///
///     async fn forward(&self, ctx: &Ctx, inputs: Example) -> Result<Prediction, ModuleError> {
///         let d = self.draft.forward(ctx, inputs).await?;
///         let text = d.get_str("draft").unwrap_or_default();
///         self.polish.forward(ctx, Example::new().input("draft", text)).await
///     }
/// }
///
/// let program = TwoStep {
///     draft: Predict::parse("topic -> draft").unwrap(),
///     polish: ChainOfThought::parse("draft -> text").unwrap(),
/// };
/// let paths: Vec<String> = program.named_predictors().into_iter().map(|(p, _)| p).collect();
/// assert_eq!(paths, ["draft", "polish"]);
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

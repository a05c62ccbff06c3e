//! Modules: the units a program is built from.
//!
//! [`Predict`] is the only module that calls an LM. Programs are ordinary structs that
//! hold modules and implement [`Module`]; they name their sub-modules with
//! [`crate::submodules!`], which gives every predictor a stable path (`generate`,
//! `hop2.refine`) through which optimizers read and set instructions and demos.

mod chain_of_thought;
mod ctx;
mod predict;
mod react;

pub use chain_of_thought::ChainOfThought;
pub use ctx::{Ctx, Overlay, PredictorState};

pub use predict::{ArgsByChoice, Predict};
pub use react::{DEFAULT_MAX_ITERS, ReAct, ReActError};

use std::sync::Arc;

use async_trait::async_trait;

use crate::adapter::{FormatError, ParseError};
use crate::data::{Example, Prediction};
use crate::lm::LmError;

/// Why a module call failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ModuleError {
    /// The inputs did not fit a predictor's signature.
    #[error("at predictor `{path}`: {source}")]
    Format {
        /// The predictor's path.
        path: String,
        /// What did not fit.
        source: FormatError,
    },
    /// A completion did not parse (after the fallback, if any).
    #[error("at predictor `{path}`: {source}")]
    Parse {
        /// The predictor's path.
        path: String,
        /// The parse error, with the raw completion.
        source: ParseError,
    },
    /// The LM call failed.
    #[error("at predictor `{path}`: {source}")]
    Lm {
        /// The predictor's path.
        path: String,
        /// The LM's error.
        source: LmError,
    },
    /// Any other failure (a program's own).
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

    /// The failure as spans record it: its kind and message.
    pub(crate) fn to_error_info(&self) -> crate::trace::ErrorInfo {
        crate::trace::ErrorInfo::new(self.kind(), self.to_string())
    }

    /// The raw completion, when the failure was a parse error.
    pub fn raw_completion(&self) -> Option<&str> {
        match self {
            ModuleError::Parse { source, .. } => Some(&source.raw),
            _ => None,
        }
    }
}

/// The ctx a module's [`Module::forward`] runs under. Only [`Module::call`] makes one,
/// so `call` is the one way to run a module: a module cannot be run around it, and
/// so cannot skip its span or the predictor paths `call` derives. Dereferences to
/// [`Ctx`]: pass it on to sub-modules' `call` as `self.step.call(ctx, inputs)`.
pub struct CallCtx<'a>(&'a Ctx);

impl std::ops::Deref for CallCtx<'_> {
    type Target = Ctx;
    fn deref(&self) -> &Ctx {
        self.0
    }
}

impl CallCtx<'_> {
    /// An owned copy of the ctx (to move into a spawned task).
    pub fn to_ctx(&self) -> Ctx {
        self.0.clone()
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
    /// What the module does with `inputs`. Implement it; run a module with
    /// [`Module::call`], which is what calls this.
    async fn forward(&self, ctx: &CallCtx<'_>, inputs: Example) -> Result<Prediction, ModuleError>;

    /// Every predictor inside this module with its path relative to this module.
    fn named_predictors(&self) -> Vec<(String, &Predict)>;

    /// The name traces show for this module; defaults to the type's name.
    fn name(&self) -> &str {
        short_type_name(std::any::type_name::<Self>())
    }

    /// Runs the module: **the** way to call one, from a program's `forward` (for its
    /// sub-modules) or from outside.
    ///
    /// On a ctx that runs no program yet ([`Ctx::has_program`]), this module is the
    /// program: its predictor paths are derived from the module tree first, so
    /// overlays and traces find every predictor. When the ctx has trace hooks, the
    /// module gets its own span (a `Predict` opens its own), and the spans of
    /// sub-modules nest under it. Implement [`Module::forward`]; do not override this.
    async fn call(&self, ctx: &Ctx, inputs: Example) -> Result<Prediction, ModuleError> {
        let bound;
        let ctx = if ctx.has_program() {
            ctx
        } else {
            bound = ctx.with_paths(self.named_predictors());
            &bound
        };
        if !ctx.is_tracing() || self.opens_own_span() {
            return self.forward(&CallCtx(ctx), inputs).await;
        }
        let span = ctx.start_span(self.name(), || crate::trace::StartData::Module {
            inputs: Arc::new(inputs.clone()),
        });
        let inner = ctx.child(&span);
        let result = self.forward(&CallCtx(&inner), inputs).await;
        span.end_with(|| module_end(&result));
        result
    }

    /// Whether `forward` opens this module's span itself (`Predict` and the modules
    /// that are one `Predict`), so [`Module::call`] adds none.
    #[doc(hidden)]
    fn opens_own_span(&self) -> bool {
        false
    }
}

/// The end event of a module call from its result.
pub(crate) fn module_end(result: &Result<Prediction, ModuleError>) -> crate::trace::EndData {
    crate::trace::EndData::Module(match result {
        Ok(p) => Ok(crate::trace::ModuleOutput {
            outputs: Arc::new(p.values().clone()),
            usage: p.usage,
            lm_calls: p.lm_calls,
            fallbacks: p.fallbacks,
        }),
        Err(e) => Err(e.to_error_info()),
    })
}

impl crate::trace::ProgramInfo {
    /// Fills demos per predictor (under `ctx`'s overlay) and the model from a live
    /// program and ctx.
    pub fn describe(mut self, program: &dyn Module, ctx: &Ctx) -> Self {
        let ctx = ctx.for_program(program);
        for (path, p) in program.named_predictors() {
            let (_, demos) = p.effective(&ctx);
            self.demos_per_predictor.insert(path, demos.len());
        }
        self.model = Some(ctx.lm().model_id());
        self
    }
}

/// `my_crate::rag::Rag<T>` -> `Rag`.
fn short_type_name(full: &'static str) -> &'static str {
    let base = full.split('<').next().unwrap_or(full);
    base.rsplit("::").next().unwrap_or(base)
}

#[async_trait]
impl<M: Module + ?Sized> Module for Box<M> {
    async fn forward(&self, ctx: &CallCtx<'_>, inputs: Example) -> Result<Prediction, ModuleError> {
        (**self).forward(ctx, inputs).await
    }
    fn opens_own_span(&self) -> bool {
        (**self).opens_own_span()
    }
    fn named_predictors(&self) -> Vec<(String, &Predict)> {
        (**self).named_predictors()
    }
    fn name(&self) -> &str {
        (**self).name()
    }
}

#[async_trait]
impl<M: Module + ?Sized> Module for std::sync::Arc<M> {
    async fn forward(&self, ctx: &CallCtx<'_>, inputs: Example) -> Result<Prediction, ModuleError> {
        (**self).forward(ctx, inputs).await
    }
    fn opens_own_span(&self) -> bool {
        (**self).opens_own_span()
    }
    fn named_predictors(&self) -> Vec<(String, &Predict)> {
        (**self).named_predictors()
    }
    fn name(&self) -> &str {
        (**self).name()
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
///     async fn forward(&self, ctx: &CallCtx<'_>, inputs: Example) -> Result<Prediction, ModuleError> {
///         let d = self.draft.call(ctx, inputs).await?;
///         let text = d.get_str("draft").unwrap_or_default();
///         self.polish.call(ctx, Example::new().input("draft", text)).await
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

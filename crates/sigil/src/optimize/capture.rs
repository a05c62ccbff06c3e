//! Demo capture: the optimizers' consumer of the trace events.
//!
//! Bootstrapping needs what each predictor was given and answered in a teacher run.
//! That is exactly what a `Predict` call's module span carries, so capture is a
//! [`Hook`] on the same events the store and the exporters are built from, not a
//! second trace model. It sees every call whatever the trace sampling: sampling
//! thins traffic traces, never a compile's demos.

use std::sync::{Arc, Mutex};

use crate::adapter::Fields;
use crate::data::Example;
use crate::trace::{Hook, HookError, SpanEnd, SpanStart};

/// One successful predictor call seen by a [`DemoCapture`].
#[derive(Clone, Debug, PartialEq)]
pub struct CapturedCall {
    /// The predictor's path in the program (`""` for a bare predictor).
    pub path: String,
    /// The call's inputs.
    pub inputs: Example,
    /// The fields it produced.
    pub outputs: Fields,
}

impl CapturedCall {
    /// The call as a demo: its inputs (marked as inputs) and its outputs as labels.
    pub fn demo(&self) -> Example {
        let mut demo = self.inputs.inputs();
        for (k, v) in &self.outputs {
            demo.insert(k.clone(), v.clone());
        }
        demo
    }
}

/// Collects every successful `Predict` call made under the ctx it is registered on
/// (`ctx.with_hook(capture.clone())`), in the order the calls ended.
///
/// ```
/// # async fn demo(ctx: &sigil::module::Ctx) -> Result<(), sigil::module::ModuleError> {
/// use sigil::prelude::*;
/// use sigil::optimize::DemoCapture;
///
/// let capture = DemoCapture::new();
/// let qa = Predict::parse("question -> answer").unwrap();
/// qa.call(&ctx.with_hook(capture.clone()), Example::new().input("question", "2+2?")).await?;
/// for call in capture.take() {
///     println!("{} -> {:?}", call.path, call.outputs);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Default)]
pub struct DemoCapture {
    calls: Mutex<Vec<CapturedCall>>,
}

impl DemoCapture {
    /// An empty capture, shared so it can be registered as a hook and read afterwards.
    pub fn new() -> Arc<Self> {
        Arc::new(DemoCapture::default())
    }
    /// The calls captured so far, leaving none.
    pub fn take(&self) -> Vec<CapturedCall> {
        std::mem::take(&mut *self.lock())
    }
    /// A copy of the calls captured so far.
    pub fn snapshot(&self) -> Vec<CapturedCall> {
        self.lock().clone()
    }
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<CapturedCall>> {
        // A poisoned lock only means another push panicked midway; the data is usable.
        self.calls.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Hook for DemoCapture {
    fn on_end(&self, start: &SpanStart<'_>, end: &SpanEnd<'_>) -> Result<(), HookError> {
        let (Some(path), Some(inputs)) = (start.predictor_path(), start.inputs()) else {
            return Ok(());
        };
        if !end.is_ok() {
            return Ok(());
        }
        if let Some(outputs) = end.fields() {
            self.lock().push(CapturedCall {
                path: path.to_string(),
                inputs: inputs.clone(),
                outputs: outputs.clone(),
            });
        }
        Ok(())
    }

    fn sees_unsampled_calls(&self) -> bool {
        true
    }
}

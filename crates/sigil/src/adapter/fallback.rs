//! The adapter `Predict` falls back to when the primary adapter's parse fails
//! ([`super::FallbackPolicy::Json`]).

use std::sync::{Arc, OnceLock};

use super::{Adapter, JsonAdapter, ToolCalling};

/// The JSON adapter to fall back to from an adapter with this tool calling: it keeps
/// the primary's (as DSPy's fallback keeps `use_native_function_calling`). Usually the
/// one shared handle, so a fallback attempt allocates nothing.
pub(crate) fn json_fallback(calling: &ToolCalling) -> Arc<dyn Adapter> {
    static JSON: OnceLock<Arc<dyn Adapter>> = OnceLock::new();
    let shared = JSON.get_or_init(|| Arc::new(JsonAdapter));
    if *calling == shared.tool_calling() {
        return shared.clone();
    }
    let mut adapter = JsonAdapter.native_function_calling(calling.native);
    if let Some(choice) = &calling.tool_choice {
        adapter = adapter.tool_choice(choice.clone());
    }
    Arc::new(adapter)
}

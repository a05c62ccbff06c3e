//! The adapter `Predict` falls back to when the primary adapter's parse fails
//! ([`super::FallbackPolicy::Json`]).

use std::sync::{Arc, OnceLock};

use super::{Adapter, JsonAdapter};

/// The JSON adapter as one shared handle, so a fallback attempt allocates nothing.
pub(crate) fn json_fallback() -> &'static Arc<dyn Adapter> {
    static JSON: OnceLock<Arc<dyn Adapter>> = OnceLock::new();
    JSON.get_or_init(|| Arc::new(JsonAdapter))
}

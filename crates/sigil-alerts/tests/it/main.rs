//! The integration tests of `sigil-alerts`, one binary: each module is one behaviour
//! (named for it); the `*_support`/`*_common` modules are shared helpers.

mod alerts;
mod alerts_embedding_drift;

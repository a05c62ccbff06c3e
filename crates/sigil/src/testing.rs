//! The test doubles of `sigil-testkit`, for this crate's unit tests only.
//!
//! Unit tests cannot take the testkit as a dev-dependency: it depends on `sigil`, so
//! they would get a second copy of this crate whose types are not the ones under
//! test. Integration and doc tests link the same `sigil` as the testkit and use it
//! directly. So the testkit's self-contained files are compiled in here too, from
//! their one source, rather than copied.

// Not every builder option is needed by this crate's own tests.
#[allow(dead_code)]
#[path = "../../sigil-testkit/src/completion.rs"]
mod completion;
#[path = "../../sigil-testkit/src/lm.rs"]
mod lm;

pub(crate) use completion::{OpenAiBody, chat};
pub(crate) use lm::ScriptedLm;

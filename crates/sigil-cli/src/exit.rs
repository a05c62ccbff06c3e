//! Exit codes. `main` maps any error to 1, except a [`Failure`], which carries its own
//! code (a promotion gate that fails, an alert that fires, ...).
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success |
//! | 1 | an error (bad input, missing file, unreachable LM, ...) |
//! | 2 | bad command line (clap's own code) |
//! | 3 | a check ran and failed: `promote` refused, an alert fired |

/// An error that sets the process's exit code.
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub message: String,
}

impl Failure {
    pub fn new(code: u8, message: impl Into<String>) -> Self {
        Failure {
            code,
            message: message.into(),
        }
    }

    /// A check that ran and failed (exit code 3).
    pub fn check_failed(message: impl Into<String>) -> Self {
        Failure::new(3, message)
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// True when colour is allowed: stdout/stderr is a terminal and `NO_COLOR` is unset or empty.
pub fn color_enabled() -> bool {
    use std::io::IsTerminal;
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && std::io::stderr().is_terminal()
}

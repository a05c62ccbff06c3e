//! Running a command-line binary the way the CLI tests do: arguments, environment,
//! working directory and stdin in; exit status, stdout and stderr (as text) out.
//!
//! The binary's path comes from the caller: `env!("CARGO_BIN_EXE_sigil")` exists only
//! while compiling `sigil-cli`'s own tests.

use std::ffi::OsStr;
use std::io::Write;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};

/// One run of a binary, set up step by step.
///
/// ```no_run
/// use sigil_testkit::Cli;
/// let out = Cli::new("/path/to/sigil").args(["render", "--help"]).env("NO_COLOR", "1").run();
/// assert!(out.success(), "{out}");
/// ```
pub struct Cli {
    command: Command,
    stdin: Option<Vec<u8>>,
}

/// What a finished run left. `stdout` and `stderr` are decoded leniently (bad UTF-8
/// becomes U+FFFD); [`CliOutput::stdout_utf8`] and [`CliOutput::stderr_utf8`] insist.
#[derive(Clone, Debug)]
pub struct CliOutput {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    raw_stdout: Vec<u8>,
    raw_stderr: Vec<u8>,
}

impl Cli {
    pub fn new(binary: impl AsRef<OsStr>) -> Self {
        Cli {
            command: Command::new(binary),
            stdin: None,
        }
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.command.arg(arg);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command.args(args);
        self
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.command.env(key, value);
        self
    }

    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.command.env_remove(key);
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.command.current_dir(dir);
        self
    }

    /// Bytes written to the child's stdin (which is closed after them). Without this,
    /// stdin is empty, so a binary that reads it never waits for the terminal.
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// Anything else [`Command`] can set (e.g. the user to run as), before running.
    pub fn configure(mut self, f: impl FnOnce(&mut Command)) -> Self {
        f(&mut self.command);
        self
    }

    /// The command as set up so far, for tests that spawn a long-running child
    /// (a server) and talk to it.
    pub fn into_command(self) -> Command {
        self.command
    }

    /// Runs the binary to the end. Panics when it cannot be started: that is a broken
    /// test set-up, not a result.
    pub fn run(mut self) -> CliOutput {
        self.command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let program = self.command.get_program().to_string_lossy().into_owned();
        let mut child = self
            .command
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        let input = self.stdin.take().unwrap_or_default();
        let mut pipe = child.stdin.take().expect("stdin is piped");
        // Written from another thread: a child that fills its stdout before reading
        // all of stdin would otherwise deadlock against us.
        let writer = std::thread::spawn(move || {
            // A child that exits without reading is not an error of the run.
            let _ = pipe.write_all(&input);
        });
        let out = child
            .wait_with_output()
            .unwrap_or_else(|e| panic!("waiting for {program}: {e}"));
        let _ = writer.join();
        CliOutput {
            status: out.status,
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
            raw_stdout: out.stdout,
            raw_stderr: out.stderr,
        }
    }
}

impl CliOutput {
    /// The exit code (`None` when a signal ended the run).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    pub fn success(&self) -> bool {
        self.status.success()
    }

    /// stdout, panicking unless it is valid UTF-8.
    #[track_caller]
    pub fn stdout_utf8(&self) -> String {
        String::from_utf8(self.raw_stdout.clone()).expect("stdout is UTF-8")
    }

    /// stderr, panicking unless it is valid UTF-8.
    #[track_caller]
    pub fn stderr_utf8(&self) -> String {
        String::from_utf8(self.raw_stderr.clone()).expect("stderr is UTF-8")
    }
}

/// Status, stdout and stderr, for assertion messages.
impl std::fmt::Display for CliOutput {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "status {:?}\nstdout:\n{}\nstderr:\n{}",
            self.status.code(),
            self.stdout,
            self.stderr
        )
    }
}

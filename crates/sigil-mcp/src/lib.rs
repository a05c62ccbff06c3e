//! # sigil-mcp: an MCP server's tools as Sigil tools
//!
//! Connects to a Model Context Protocol server, over stdio (a command Sigil starts) or
//! streamable HTTP (a URL), on the official Rust SDK (`rmcp`), and lists its tools as
//! [`sigil::tool::Tool`]s that [`sigil::module::ReAct`] can call.
//!
//! ```no_run
//! # async fn demo() -> Result<(), sigil_mcp::McpError> {
//! let server = sigil_mcp::McpClient::stdio("uvx", ["mcp-server-time"]).await?;
//! let tools = server.tools().await?;
//! # Ok(()) }
//! ```
//!
//! Results follow DSPy's MCP bridge: the text of a result's text blocks (one string, or
//! a list of them), or with [`ResultMode::Structured`] the structured content when the
//! server sends it. A result the server marks as an error, a server that exits during a
//! call, or a call over its time limit is the tool's error, which ReAct shows the LM as
//! the observation. A server that cannot be started or does not complete the MCP
//! handshake is an [`McpError`] when connecting.

use std::collections::VecDeque;
use std::ffi::OsStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::{StreamableHttpClientTransport, TokioChildProcess};
use rmcp::{Peer, RoleClient, ServiceExt};
use serde_json::{Map, Value};
use sigil::tool::{Tool, schema_args};
use tokio::io::AsyncReadExt;

/// How long connecting (start-up and the MCP handshake) may take by default.
pub const DEFAULT_START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one tool call may take by default.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The last bytes of a server's stderr kept for error messages.
const STDERR_TAIL: usize = 4096;

/// Why an MCP server could not be used.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// The server's command could not be started.
    #[error("cannot start the MCP server `{command}`: {source}")]
    Spawn {
        command: String,
        source: std::io::Error,
    },
    /// The server started but the MCP handshake failed (it exited, or spoke something
    /// other than MCP).
    #[error("the MCP server {server} did not complete the handshake: {message}")]
    Handshake { server: String, message: String },
    /// Connecting took longer than the start-up limit.
    #[error("the MCP server {server} did not answer within {after:?}")]
    StartTimeout { server: String, after: Duration },
    /// A request to a connected server failed.
    #[error("the MCP server {server}: {message}")]
    Request { server: String, message: String },
}

/// What a tool returns.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ResultMode {
    /// The result's text blocks: one string, or a list of strings (DSPy's default).
    #[default]
    Text,
    /// The structured content when the server sends it, else as [`ResultMode::Text`].
    Structured,
}

/// A connection to one MCP server.
pub struct McpClient {
    /// Who the server is, for messages: the command line or the URL.
    label: String,
    service: RunningService<RoleClient, ()>,
    stderr: Arc<Mutex<VecDeque<u8>>>,
    call_timeout: Duration,
    mode: ResultMode,
}

impl McpClient {
    /// Starts `command` with `args` and connects to it over stdio.
    pub async fn stdio<I, S>(command: impl AsRef<OsStr>, args: I) -> Result<Self, McpError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = tokio::process::Command::new(command.as_ref());
        cmd.args(args);
        McpClient::stdio_command(cmd, DEFAULT_START_TIMEOUT).await
    }

    /// Connects over stdio to the server `cmd` starts, within `start_timeout`.
    pub async fn stdio_command(
        cmd: tokio::process::Command,
        start_timeout: Duration,
    ) -> Result<Self, McpError> {
        let std = cmd.as_std();
        let label = std::iter::once(std.get_program())
            .chain(std.get_args())
            .map(|s| s.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ");
        let (transport, stderr) = TokioChildProcess::builder(cmd)
            .stderr(std::process::Stdio::piped())
            .spawn()
            .map_err(|source| McpError::Spawn {
                command: label.clone(),
                source,
            })?;
        let tail = Arc::new(Mutex::new(VecDeque::new()));
        if let Some(mut pipe) = stderr {
            let tail = tail.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n) = pipe.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                    let mut t = tail.lock().unwrap_or_else(|e| e.into_inner());
                    t.extend(&buf[..n]);
                    while t.len() > STDERR_TAIL {
                        t.pop_front();
                    }
                }
            });
        }
        McpClient::connect(label, transport, tail, start_timeout).await
    }

    /// Connects to a streamable-HTTP MCP server at `url` (e.g. `http://127.0.0.1:3001/mcp`).
    pub async fn http(url: &str) -> Result<Self, McpError> {
        let transport = StreamableHttpClientTransport::from_uri(url.to_string());
        McpClient::connect(
            url.to_string(),
            transport,
            Arc::default(),
            DEFAULT_START_TIMEOUT,
        )
        .await
    }

    async fn connect<T, E, A>(
        label: String,
        transport: T,
        stderr: Arc<Mutex<VecDeque<u8>>>,
        start_timeout: Duration,
    ) -> Result<Self, McpError>
    where
        T: rmcp::transport::IntoTransport<RoleClient, E, A> + Send + 'static,
        E: std::error::Error + Send + Sync + 'static,
    {
        let service = match tokio::time::timeout(start_timeout, ().serve(transport)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                let mut message = e.to_string();
                let tail = stderr_text(&stderr);
                if !tail.is_empty() {
                    message.push_str(&format!("; its stderr ends: {tail}"));
                }
                return Err(McpError::Handshake {
                    server: label,
                    message,
                });
            }
            Err(_) => {
                return Err(McpError::StartTimeout {
                    server: label,
                    after: start_timeout,
                });
            }
        };
        Ok(McpClient {
            label,
            service,
            stderr,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            mode: ResultMode::Text,
        })
    }

    /// Tools made after this get this time limit per call.
    pub fn with_call_timeout(mut self, timeout: Duration) -> Self {
        self.call_timeout = timeout;
        self
    }

    /// Tools made after this return results this way.
    pub fn with_result_mode(mut self, mode: ResultMode) -> Self {
        self.mode = mode;
        self
    }

    /// The server's command line or URL.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// The server's tools, each calling the server (under the call time limit).
    pub async fn tools(&self) -> Result<Vec<Tool>, McpError> {
        let listed = self
            .service
            .peer()
            .list_all_tools()
            .await
            .map_err(|e| self.request_error(e))?;
        Ok(listed
            .into_iter()
            .map(|t| {
                let schema = Value::Object((*t.input_schema).clone());
                let (args, required) = schema_args(&schema);
                let peer = self.service.peer().clone();
                let name = t.name.to_string();
                let (label, mode, stderr) = (self.label.clone(), self.mode, self.stderr.clone());
                Tool::from_parts(
                    name.clone(),
                    t.description.map(|d| d.to_string()),
                    args,
                    required,
                    move |a| {
                        let (peer, name, label, stderr) =
                            (peer.clone(), name.clone(), label.clone(), stderr.clone());
                        Box::pin(async move { call(&peer, &name, a, mode, &label, &stderr).await })
                    },
                )
                .with_timeout(self.call_timeout)
            })
            .collect())
    }

    /// Calls one tool by name with JSON arguments (no schema check: the server's).
    pub async fn call(&self, name: &str, args: Value) -> Result<Value, McpError> {
        let args = match args {
            Value::Object(m) => m,
            Value::Null => Map::new(),
            other => {
                return Err(McpError::Request {
                    server: self.label.clone(),
                    message: format!("the arguments must be a JSON object, got {other}"),
                });
            }
        };
        call(
            self.service.peer(),
            name,
            args,
            self.mode,
            &self.label,
            &self.stderr,
        )
        .await
        .map_err(|message| McpError::Request {
            server: self.label.clone(),
            message,
        })
    }

    /// Ends the session (and a stdio server's process).
    pub async fn close(self) {
        let _ = self.service.cancel().await;
    }

    fn request_error(&self, e: impl std::fmt::Display) -> McpError {
        let mut message = e.to_string();
        let tail = stderr_text(&self.stderr);
        if !tail.is_empty() {
            message.push_str(&format!("; its stderr ends: {tail}"));
        }
        McpError::Request {
            server: self.label.clone(),
            message,
        }
    }
}

fn stderr_text(tail: &Mutex<VecDeque<u8>>) -> String {
    let t = tail.lock().unwrap_or_else(|e| e.into_inner());
    let bytes: Vec<u8> = t.iter().copied().collect();
    String::from_utf8_lossy(&bytes).trim().to_string()
}

async fn call(
    peer: &Peer<RoleClient>,
    name: &str,
    args: Map<String, Value>,
    mode: ResultMode,
    label: &str,
    stderr: &Mutex<VecDeque<u8>>,
) -> Result<Value, String> {
    let params = CallToolRequestParams::new(name.to_string()).with_arguments(args);
    match peer.call_tool(params).await {
        Ok(result) => convert(result, mode),
        Err(e) => {
            let mut message = format!("the MCP server {label} failed the call: {e}");
            let tail = stderr_text(stderr);
            if !tail.is_empty() {
                message.push_str(&format!("; its stderr ends: {tail}"));
            }
            Err(message)
        }
    }
}

/// A result as DSPy's MCP bridge returns it.
fn convert(result: CallToolResult, mode: ResultMode) -> Result<Value, String> {
    let mut texts = Vec::new();
    let mut others = Vec::new();
    for block in &result.content {
        match block.as_text() {
            Some(t) => texts.push(Value::String(t.text.clone())),
            None => others.push(serde_json::to_value(block).unwrap_or(Value::Null)),
        }
    }
    let text = match texts.len() {
        1 => texts.remove(0),
        _ => Value::Array(texts),
    };
    if result.is_error == Some(true) {
        let shown = match &text {
            Value::String(s) => s.clone(),
            v => v.to_string(),
        };
        return Err(format!("Failed to call a MCP tool: {shown}"));
    }
    if mode == ResultMode::Structured
        && let Some(s) = result.structured_content
    {
        return Ok(s);
    }
    Ok(match text {
        Value::Array(a) if a.is_empty() => Value::Array(others),
        t => t,
    })
}

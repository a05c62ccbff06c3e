//! The integration tests of `sigil-mcp`, one binary, against real MCP servers that
//! `scripts/test` installs (scripts/mcp-env.sh): PyPI's `mcp-server-time` and a small
//! misbehaving server on the official Python SDK (stdio), and npm's
//! `@modelcontextprotocol/server-everything` (stdio and streamable HTTP). Without the
//! set-up these tests fail, never skip.

mod servers;

mod bad_servers;
mod everything_server;
mod react_with_mcp_tools;
mod time_server;

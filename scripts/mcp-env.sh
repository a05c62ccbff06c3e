# The real MCP servers the sigil-mcp tests start. Source after dev-env.sh.
#
#   ensure_mcp_servers  PyPI's mcp-server-time (with the official Python MCP SDK, which
#                       also runs tests/servers/misbehaving.py) in .dev/venv-mcp, and
#                       npm's @modelcontextprotocol/server-everything in
#                       crates/sigil-mcp/tests/servers (npm ci, when package-lock.json is
#                       newer than node_modules). Exports SIGIL_TEST_MCP_PYTHON and
#                       SIGIL_TEST_MCP_EVERYTHING (the server's entry script).
MCP_SERVER_TIME_VERSION=2026.10.19
SIGIL_MCP_SERVERS_DIR="$SIGIL_REPO/crates/sigil-mcp/tests/servers"

ensure_mcp_servers() {
  ensure_venv "$SIGIL_DEV_DIR/venv-mcp" "mcp-server-time==$MCP_SERVER_TIME_VERSION"
  local stamp="$SIGIL_MCP_SERVERS_DIR/node_modules/.package-lock.json"
  if [ ! -f "$stamp" ] || [ "$SIGIL_MCP_SERVERS_DIR/package-lock.json" -nt "$stamp" ]; then
    say "npm ci in $SIGIL_MCP_SERVERS_DIR"
    (cd "$SIGIL_MCP_SERVERS_DIR" && npm ci --no-audit --no-fund --loglevel=error)
  fi
  export SIGIL_TEST_MCP_PYTHON="$SIGIL_DEV_DIR/venv-mcp/bin/python"
  export SIGIL_TEST_MCP_EVERYTHING="$SIGIL_MCP_SERVERS_DIR/node_modules/@modelcontextprotocol/server-everything/dist/index.js"
}

"""An MCP server (on the official Python SDK) whose tools misbehave, for sigil-mcp's
bad-input tests: `crash` kills the server mid-call, `hang` never answers, `fail`
returns an error result, `ok` answers normally.

    python misbehaving.py          # stdio
"""

import os
import time

from mcp.server.mcpserver import MCPServer

server = MCPServer("misbehaving")


@server.tool()
def ok(text: str) -> str:
    """Echoes the text."""
    return f"ok: {text}"


@server.tool()
def crash() -> str:
    """Exits the server process in the middle of the call."""
    os._exit(3)


@server.tool()
def hang() -> str:
    """Never answers."""
    time.sleep(3600)
    return "late"


@server.tool()
def fail() -> str:
    """Raises, which the server returns as an error result."""
    raise RuntimeError("the database is down")


if __name__ == "__main__":
    server.run()

"""A hand-written stdio MCP server that completes the handshake and lists one tool,
then answers the tool call with a line that is not JSON-RPC and stays up: for
sigil-mcp's test of a server that sends malformed JSON-RPC in the middle of a session.
(Written without the SDK on purpose: the SDK cannot be made to send broken frames.)
"""

import json
import sys


def send(msg):
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()


for line in sys.stdin:
    req = json.loads(line)
    method = req.get("method")
    if method == "initialize":
        send({"jsonrpc": "2.0", "id": req["id"], "result": {
            "protocolVersion": req["params"]["protocolVersion"],
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "garbage-midway", "version": "1"},
        }})
    elif method == "tools/list":
        send({"jsonrpc": "2.0", "id": req["id"], "result": {"tools": [{
            "name": "broken",
            "description": "Answers with garbage.",
            "inputSchema": {"type": "object", "properties": {}},
        }]}})
    elif method == "tools/call":
        sys.stdout.write("{this is not json-rpc\n")
        sys.stdout.flush()

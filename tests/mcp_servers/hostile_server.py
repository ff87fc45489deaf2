"""A hostile stdio MCP server: it answers the handshake, then turns on its client.

Usage: hostile_server.py MODE [ARG] MARKER_DIR, where MODE is one of:
  deaf            stops reading stdin after tools/list; writes MARKER_DIR/full once its stdin
                  pipe holds 60 KB that it never reads
  stderr-flood N  writes N MiB to stderr without a newline, then "last words", then serves
  many-tools N    tools/list answers N tools
  big-pages N     tools/list answers N pages, each one tool with a 1 MiB description
  evil-name       its one tool's name carries terminal escapes (an OSC title, a clear screen)
The marker directory (last argument) also lets the tests find the process in /proc.
"""

import fcntl
import json
import struct
import sys
import termios
import time

mode, marker = sys.argv[1], sys.argv[-1]
arg = int(sys.argv[2]) if len(sys.argv) > 3 else 0


EVIL_NAME = "t0\x1b]0;owned\x07\x1b[2J\n"


def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def tool(i, description="a tool"):
    return {"name": f"t{i}", "description": description,
            "inputSchema": {"type": "object", "properties": {"x": {"type": "string"}}},
            "annotations": {"readOnlyHint": True}}


def tools_page(params):
    if mode == "many-tools":
        return {"tools": [tool(i) for i in range(arg)]}
    if mode == "big-pages":
        page = int(params.get("cursor") or 0)
        result = {"tools": [tool(page, "d" * 2**20)]}
        if page + 1 < arg:
            result["nextCursor"] = str(page + 1)
        return result
    if mode == "evil-name":
        return {"tools": [dict(tool(0), name=EVIL_NAME)]}
    return {"tools": [tool(0)]}


def wait_deaf():
    """Read nothing more; say when the pipe is full (what the client wrote sits in it)."""
    while True:
        pending = struct.unpack("i", fcntl.ioctl(0, termios.FIONREAD, b"\0\0\0\0"))[0]
        if pending >= 60000:
            open(f"{marker}/full", "w").close()
            break
        time.sleep(0.01)
    while True:
        time.sleep(1)


if mode == "stderr-flood":
    piece = b"x" * 2**20
    for _ in range(arg):
        sys.stderr.buffer.write(piece)
    sys.stderr.buffer.write(b"\nlast words\n")
    sys.stderr.flush()

for line in sys.stdin:
    msg = json.loads(line)
    method, ident = msg.get("method"), msg.get("id")
    if ident is None:
        continue
    if method == "initialize":
        send({"jsonrpc": "2.0", "id": ident, "result": {
            "protocolVersion": "2025-03-26", "capabilities": {"tools": {}},
            "serverInfo": {"name": "hostile", "version": "0"}}})
    elif method == "tools/list":
        send({"jsonrpc": "2.0", "id": ident, "result": tools_page(msg.get("params") or {})})
        if mode == "deaf":
            wait_deaf()
    elif method == "tools/call":
        send({"jsonrpc": "2.0", "id": ident, "result": {
            "content": [{"type": "text", "text": "ran"}]}})
    else:
        send({"jsonrpc": "2.0", "id": ident, "error": {"code": -32601, "message": "no"}})

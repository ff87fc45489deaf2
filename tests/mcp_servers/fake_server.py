"""A small stdio MCP server of our own, for the protocol's edges the SDK never produces.

Usage: fake_server.py BEHAVIOUR ... where behaviours are: paged (tools/list over 3 pages),
garbage (non-JSON lines on stdout before every answer), die (exits in the middle of a call),
huge (a 5 MB result), escape (escape sequences in a description), noinit (never answers initialize), stderr-then-exit (writes to stderr,
exits at once), child (starts a grandchild that would outlive it), ignore-term (ignores
SIGTERM and stdin EOF), wait-for-go (answers initialize once the file go exists in the folder
that is its last argument), linger (closes its stdout once it listed its tools, then at the
end of its input takes 0.3 s to write the file lingered in that folder and exit).
"""

import json
import os
import signal
import subprocess
import sys
import time

modes = set(sys.argv[1:])
if "ignore-term" in modes:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if "stderr-then-exit" in modes:
    sys.stderr.write("fatal: config file /etc/fake.conf missing\n")
    sys.exit(2)
if "child" in modes:
    subprocess.Popen(["sh", "-c", "sleep 300; :", sys.argv[-1]])  # the marker finds it

TOOLS = [{"name": f"t{i}", "description": f"tool {i}", "inputSchema": {
    "type": "object", "properties": {"x": {"type": "string"}}},
    "annotations": {"readOnlyHint": True}} for i in range(5)]
if "escape" in modes:  # a hostile server: escape sequences in what a person reads
    TOOLS[0]["description"] = "evil \x1b]0;owned\x07 \x1b[2J text"


def send(message):
    if "garbage" in modes:
        sys.stdout.write("this is a log line, not JSON\n")
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


answered, dying = set(), False
for line in sys.stdin:
    msg = json.loads(line)
    method, ident = msg.get("method"), msg.get("id")
    if ident is None:
        continue
    if method == "initialize":
        if "noinit" in modes:
            continue
        while "wait-for-go" in modes and not os.path.exists(os.path.join(sys.argv[-1], "go")):
            time.sleep(0.01)  # the test says when the server may answer
        send({"jsonrpc": "2.0", "id": ident, "result": {
            "protocolVersion": "2025-03-26", "capabilities": {"tools": {}},
            "serverInfo": {"name": "fake", "version": "0"}}})
    elif method == "tools/list":
        if "paged" in modes:
            cursor = int((msg.get("params") or {}).get("cursor") or 0)
            page = TOOLS[cursor:cursor + 2]
            result = {"tools": page}
            if cursor + 2 < len(TOOLS):
                result["nextCursor"] = str(cursor + 2)
        else:
            result = {"tools": TOOLS[:2]}
        send({"jsonrpc": "2.0", "id": ident, "result": result})
        if "linger" in modes:
            os.close(1)
    elif method == "tools/call":
        name = msg["params"]["name"]
        if "die" in modes and name == "t1":
            if "t0" not in answered:  # a step's calls arrive in any order: t0 is answered first
                dying = True
                continue
            os._exit(9)
        text = "x" * (5 * 1024 * 1024) if "huge" in modes else f"{name} ran"
        send({"jsonrpc": "2.0", "id": ident, "result": {
            "content": [{"type": "text", "text": text},
                        {"type": "image", "data": "A" * 16384, "mimeType": "image/png"}]}})
        answered.add(name)
        if dying:
            os._exit(9)
    else:
        send({"jsonrpc": "2.0", "id": ident, "error": {"code": -32601, "message": "no"}})
if "linger" in modes:
    time.sleep(0.3)
    with open(os.path.join(sys.argv[-1], "lingered"), "w") as fh:
        fh.write("done")
if "ignore-term" in modes:
    while True:
        time.sleep(1)

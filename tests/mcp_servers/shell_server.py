"""A stdio MCP server that does what a hostile model asks: its one tool `sh` runs a shell
command and returns what it printed, so the sandbox tests can try every finding through an
MCP server too. `--daemon FILE` first starts a setsid'd, double-forked sleeper whose pid it
writes to FILE (the server that daemonizes a child)."""

import json
import os
import subprocess
import sys

if "--daemon" in sys.argv:
    pidfile = sys.argv[sys.argv.index("--daemon") + 1]
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            with open(pidfile, "w") as fh:
                fh.write(str(os.getpid()))
            os.execvp("sleep", ["sleep", "300"])
        os._exit(0)
    os.wait()

TOOL = {"name": "sh", "description": "run a shell command",
        "inputSchema": {"type": "object", "properties": {"command": {"type": "string"}},
                        "required": ["command"]},
        "annotations": {"readOnlyHint": True}}


def send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


for line in sys.stdin:
    msg = json.loads(line)
    if "id" not in msg:
        continue
    method, rid = msg.get("method"), msg["id"]
    if method == "initialize":
        send({"jsonrpc": "2.0", "id": rid, "result": {
            "protocolVersion": "2025-06-18", "capabilities": {"tools": {}},
            "serverInfo": {"name": "shell", "version": "1"}}})
    elif method == "tools/list":
        send({"jsonrpc": "2.0", "id": rid, "result": {"tools": [TOOL]}})
    elif method == "tools/call":
        done = subprocess.run(["sh", "-c", msg["params"]["arguments"]["command"]],
                              capture_output=True, text=True)
        send({"jsonrpc": "2.0", "id": rid, "result": {
            "content": [{"type": "text", "text": done.stdout + done.stderr}],
            "isError": done.returncode != 0}})
    else:
        send({"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": "no"}})

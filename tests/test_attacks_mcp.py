"""Issue 22, second round against MCP servers (items 13, 15, 16, 17): a hostile server —
one that stops reading, floods its stderr, lists too many tools, or never answers a
notification — cannot hang a run, stretch its timeouts or grow llmrun's memory without bound.
Real subprocesses, a real loopback model server, hostile servers written for these tests."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from server import Reply, sse
from streams import answer_step
from test_mcp import ROOT, alive_with, ask, assert_none_left, env_for, llmrun, servers_file, \
    tool_step

HOSTILE = os.path.join(ROOT, "tests", "mcp_servers", "hostile_server.py")


def hostile(tmp_path, *mode, **more):
    """The server writes its markers into tmp_path/marks, which its sandbox lets it write
    (not tmp_path itself: HOME and llmrun's own folders are in there, and stay unwritable)."""
    marks = tmp_path / "marks"
    marks.mkdir(exist_ok=True)
    return dict({"command": sys.executable, "args": [HOSTILE, *map(str, mode), str(marks)],
                 "sandbox": {"write": [str(marks)]}}, **more)


def wait_for_file(path, limit=60):
    """Wait for a marker a server writes (the limit only keeps a broken test from hanging)."""
    deadline = time.monotonic() + limit
    while not os.path.exists(path):
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


# -- 13: a stdio server that stops reading its stdin -------------------------------------------
def test_a_server_that_stops_reading_cannot_block_a_call_past_its_timeout(server, tmp_path):
    big = "a" * 2**20  # far more than a pipe holds
    server.add(Reply(sse(*tool_step(("t0", {"x": big})))), Reply(sse(*answer_step("done"))))
    proc = ask(tmp_path, server, servers_file(tmp_path, deaf=hostile(tmp_path, "deaf",
                                                                     timeout=1)))
    assert proc.returncode == 0, proc.stderr
    call = json.loads(proc.stdout)["tool_calls"][0]
    assert call["is_error"] and "timed out after 1 s" in call["result"]
    assert os.path.exists(tmp_path / "marks" / "full")  # the server really left the pipe full
    assert_none_left(tmp_path)


def test_sigterm_while_a_deaf_server_holds_a_call_ends_the_run_and_the_server(server, tmp_path):
    server.add(Reply(sse(*tool_step(("t0", {"x": "a" * 2**20})))))
    proc = subprocess.Popen([sys.executable, "-m", "llmrun", "ask", "--json", "--no-stdin",
                             "--base-url", server.url, "-m", "m", "--mcp",
                             servers_file(tmp_path, deaf=hostile(tmp_path, "deaf")), "go"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env_for(tmp_path), cwd=str(tmp_path))
    try:
        wait_for_file(tmp_path / "marks" / "full")  # the call's write is stuck in a full pipe
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 143, err
    assert json.loads(out)["error"]["type"] == "interrupted"
    assert alive_with(str(tmp_path)) == [], "the deaf server outlived llmrun"


# -- 15: a stderr line without a newline --------------------------------------------------------
def test_a_stderr_flood_without_newline_is_read_in_bounded_memory(server, tmp_path):
    """300 MiB of stderr in one "line": llmrun keeps a bounded tail (its peak RSS stays far
    below the flood) and still shows the lines that came after it."""
    mcp = servers_file(tmp_path, flood=hostile(tmp_path, "stderr-flood", 300))
    measure = ("import resource, subprocess, sys; p = subprocess.run(sys.argv[1:], "
               "capture_output=True, text=True); print(p.returncode); print(p.stdout); "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
               "print(p.stderr, file=sys.stderr)")
    server.add(Reply(sse(*tool_step(("t0", {})))), Reply(sse(*answer_step("done"))))
    proc = subprocess.run([sys.executable, "-c", measure, sys.executable, "-m", "llmrun",
                           "ask", "-v", "--json", "--no-stdin", "--base-url", server.url, "-m",
                           "m", "--mcp", mcp, "go"], capture_output=True, text=True,
                          env=env_for(tmp_path), cwd=str(tmp_path), timeout=120)
    code, out = proc.stdout.split("\n", 1)
    peak_kib, err = proc.stderr.split("\n", 1)
    assert code == "0", err
    assert json.loads(out)["tool_calls"][0]["result"] == "ran"
    assert int(peak_kib) < 150 * 1024, f"llmrun grew to {int(peak_kib) // 1024} MiB"
    assert "[flood] last words" in err  # -v shows the server's lines, the flood cut short
    assert_none_left(tmp_path)


# -- 16: a tool list without bound ---------------------------------------------------------------
@pytest.mark.parametrize("mode, words", [(("many-tools", 5000), "more than 1000 tools"),
                                         (("big-pages", 12), "more than 8 MiB")])
def test_a_server_listing_too_much_is_refused_by_name(server, tmp_path, mode, words):
    proc = ask(tmp_path, server, servers_file(tmp_path, greedy=hostile(tmp_path, *mode)))
    assert proc.returncode == 3, proc.stderr
    message = json.loads(proc.stdout)["error"]["message"]
    assert "MCP server 'greedy'" in message and words in message, message
    assert server.requests == []  # refused before any request
    assert_none_left(tmp_path)


# -- 17: Streamable HTTP notifications that are never answered ------------------------------------
class SilentOnNotifications:
    """A Streamable HTTP MCP server that answers requests at once but holds every
    notification's POST open until the test ends; `calls` make `tools/call` hang too."""

    def __init__(self, hang_calls=False):
        self.release = threading.Event()
        self.notifications = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_DELETE(self):
                self._reply(200, b"")

            def do_POST(self):
                msg = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if "id" not in msg or (hang_calls and msg.get("method") == "tools/call"):
                    owner.notifications.append(msg.get("method"))
                    owner.release.wait(60)
                    self._reply(202, b"")
                    return
                if msg["method"] == "initialize":
                    result = {"protocolVersion": "2025-03-26", "capabilities": {"tools": {}},
                              "serverInfo": {"name": "silent", "version": "0"}}
                elif msg["method"] == "tools/list":
                    result = {"tools": [{"name": "t0", "inputSchema": {"type": "object"},
                                         "annotations": {"readOnlyHint": True}}]}
                else:
                    result = {"content": [{"type": "text", "text": "ran"}]}
                self._reply(200, json.dumps({"jsonrpc": "2.0", "id": msg["id"],
                                             "result": result}).encode())

            def _reply(self, status, body):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/mcp"

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def test_an_unanswered_initialized_notification_does_not_hold_up_the_start(server, tmp_path):
    """startup_timeout 20 would let the old client wait 25 s on the notification; the run
    must go on long before the test's own limit."""
    silent = SilentOnNotifications()
    try:
        server.add(Reply(sse(*tool_step(("t0", {})))), Reply(sse(*answer_step("done"))))
        proc = ask(tmp_path, server, servers_file(tmp_path, silent={
            "url": silent.url, "startup_timeout": 20}), timeout=15)
    finally:
        silent.close()
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["tool_calls"][0]["result"] == "ran"
    assert "notifications/initialized" in silent.notifications


def test_an_unanswered_cancellation_does_not_stretch_a_call_past_its_timeout(server, tmp_path):
    """A call with timeout 1 (startup_timeout 30) on a server that answers neither the call
    nor the cancellation: the old client waited 35 s on the cancellation."""
    silent = SilentOnNotifications(hang_calls=True)
    try:
        server.add(Reply(sse(*tool_step(("t0", {})))), Reply(sse(*answer_step("done"))))
        proc = ask(tmp_path, server, servers_file(tmp_path, silent={
            "url": silent.url, "timeout": 1}), timeout=20)
    finally:
        silent.close()
    assert proc.returncode == 0, proc.stderr
    call = json.loads(proc.stdout)["tool_calls"][0]
    assert call["is_error"] and "timed out after 1 s" in call["result"]

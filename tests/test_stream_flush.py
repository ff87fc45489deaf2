"""`--stream` through a pipe: each delta is on stdout while the server still holds the rest
back. Text is flushed once per network read (not per delta), so this checks that the flush
really comes before the next read waits — on chunked responses and on open-ended ones."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest

from server import Reply, sse
from streams import answer_step, text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("mode", ["chunked", "close"])
def test_streamed_delta_is_on_stdout_before_the_server_sends_more(server, mode):
    on_stdout = threading.Event()
    seen_while_held = []

    def action(h):
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Transfer-Encoding" if mode == "chunked" else "Connection",
                      "chunked" if mode == "chunked" else "close")
        h.end_headers()

        def write(data):
            h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if mode == "chunked" else data)
            h.wfile.flush()

        write(sse(text("one "), text("two "), done=False))  # two deltas in one read
        seen_while_held.append(on_stdout.wait(10))  # hold the rest until stdout shows them
        write(sse(*answer_step("three")))
        if mode == "chunked":
            h.wfile.write(b"0\r\n\r\n")
        h.close_connection = True

    server.add(Reply(action=action))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    proc = subprocess.Popen([sys.executable, "-m", "llmrun", "ask", "--stream", "--no-stdin",
                             "-q", "--base-url", server.url, "-m", "test-model", "Hi"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT)
    out = b""
    while b"one two " not in out:
        data = os.read(proc.stdout.fileno(), 4096)
        if not data:
            break
        out += data
    on_stdout.set()
    rest, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert seen_while_held == [True]
    assert (out + rest).decode() == "one two three\n"

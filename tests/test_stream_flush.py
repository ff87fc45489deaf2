"""`--stream` through a pipe: each delta is on stdout while the server still holds the rest
back. Text is flushed once per network read (not per delta), so this checks that the flush
really comes before the next read waits — on chunked responses and on open-ended ones."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import pytest
from server import gated_reply, sse
from streams import answer_step, text

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.mark.parametrize("mode", ["chunked", "close"])
def test_streamed_delta_is_on_stdout_before_the_server_sends_more(server, mode):
    on_stdout = threading.Event()
    # two deltas in one read; the rest is held back until stdout shows them
    reply = gated_reply([(lambda: True, sse(text("one "), text("two "), done=False)),
                         (on_stdout.is_set, sse(*answer_step("three")))], wait=10, mode=mode)
    server.add(reply)
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
    assert reply.opened == [True, True]
    assert (out + rest).decode() == "one two three\n"

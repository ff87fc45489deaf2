"""Ctrl-C and SIGTERM against a real `python -m llmrun` process: the request and any running
tool's whole process group stop, the message says what was interrupted, the exit status is
130 (143 for SIGTERM), no traceback, and --json still prints its one object."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import ROOT
from server import Reply, TestServer, chunk, good_stream, silent, sse

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

CALL = sse({"choices": [{"index": 0, "delta": {"role": "assistant", "tool_calls": [
    {"index": 0, "id": "call_1", "type": "function",
     "function": {"name": "sleepy", "arguments": "{}"}}]}, "finish_reason": None}]},
    chunk(finish="tool_calls"))


def group_members(pgid: int) -> list:
    """Live (non-zombie) processes in process group `pgid`, from /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state not in ("Z", "X"):
            found.append(int(entry))
    return found


def wait_for(check, seconds: float = 10.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.02)
    return check()


def start(tmp_path, url: str, *extra: str) -> subprocess.Popen:
    env = dict(os.environ, LLMRUN_API_KEY="sk-test-key", PYTHONPATH=ROOT)
    env.pop("LLMRUN_DEBUG", None)
    return subprocess.Popen(
        [sys.executable, "-m", "llmrun", "ask", "--no-stdin", "--base-url", url,
         "-m", "test-model", *extra, "Hi"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        cwd=str(tmp_path), preexec_fn=_default_signals)


def _default_signals() -> None:
    """Undo an inherited SIG_IGN (a job started in the background by a non-interactive shell
    ignores SIGINT, and llmrun keeps ignored signals ignored, as nohup users expect)."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)


def sleepy_tool(tmp_path) -> str:
    """A shell tool that records its group id and a child's pid, then sleeps (with the
    child) for much longer than any test waits."""
    path = tmp_path / "sleepy.yaml"
    path.write_text(
        "name: sleepy\ndescription: sleeps\nparameters: {type: object, properties: {}}\n"
        f"shell: 'echo $$ > {tmp_path}/pgid; sleep 60 & echo $! > {tmp_path}/child; wait'\n"
        "timeout: 120\n"
        "sandbox: false  # these tests watch llmrun's own process-group kill; the sandboxed\n"
        "                # path is in test_sandbox_processes.py\n")
    return str(path)


def signal_and_collect(proc, sig: int):
    """Send `sig`, collect the output; a process that does not stop is killed (and fails)."""
    try:
        proc.send_signal(sig)
        return proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def interrupt_tool(tmp_path, sig: int, *extra: str):
    with TestServer([Reply(CALL), Reply(good_stream("never reached"))]) as srv:
        proc = start(tmp_path, srv.url, "-t", sleepy_tool(tmp_path), *extra)
        try:
            assert wait_for(lambda: (tmp_path / "child").exists() and
                            (tmp_path / "child").read_text().strip()), "tool never started"
            pgid = int((tmp_path / "pgid").read_text())
            child = int((tmp_path / "child").read_text())
            assert {pgid, child} <= set(group_members(pgid))  # the tool really runs
        finally:
            out, err = signal_and_collect(proc, sig)
        requests = len(srv.requests)
    return proc.returncode, out.decode(), err.decode(), pgid, requests


def test_sigint_while_a_tool_sleeps_kills_its_process_group(tmp_path):
    code, out, err, pgid, requests = interrupt_tool(tmp_path, signal.SIGINT)
    assert code == 130, err
    assert "Traceback" not in err
    assert "llmrun: error: interrupted by SIGINT while running tool sleepy" in err
    assert f"process group {pgid}" in err
    assert wait_for(lambda: not group_members(pgid), 3.0), "the tool's group survived"
    assert requests == 1  # the run stopped: no follow-up request was sent
    assert out == ""


def test_sigterm_with_json_prints_the_object_and_exits_143(tmp_path):
    code, out, err, pgid, _ = interrupt_tool(tmp_path, signal.SIGTERM, "--json")
    assert code == 143, err
    assert "Traceback" not in err
    assert wait_for(lambda: not group_members(pgid), 3.0), "the tool's group survived"
    assert out.count("\n") == 1
    obj = json.loads(out)
    assert obj["error"]["type"] == "interrupted" and obj["error"]["exit_code"] == 143
    assert "SIGTERM while running tool sleepy" in obj["error"]["message"]
    assert obj["steps"] == 1  # what was gathered before the interrupt is kept


@pytest.mark.parametrize("sig,code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_interrupt_while_waiting_for_the_model(tmp_path, sig, code):
    with TestServer([silent(20)]) as srv:
        proc = start(tmp_path, srv.url, "--json")
        try:
            # the run names what it waits for before it sends: no sleep needed here
            assert wait_for(lambda: srv.requests), "the request never arrived"
        finally:
            out, err = signal_and_collect(proc, sig)
    assert proc.returncode == code, err
    assert "Traceback" not in err.decode()
    message = json.loads(out)["error"]["message"]
    assert message.startswith(f"interrupted by {signal.Signals(sig).name} while waiting for "
                              "the server at 127.0.0.1:")
    assert f"llmrun: error: {message}" in err.decode()


def test_interrupt_mid_stream_keeps_the_text_so_far(tmp_path):
    first = sse(chunk("Hel"), done=False)
    with TestServer([Reply(first + good_stream(), cut_after=len(first), stall=20,
                           split="none")]) as srv:
        proc = start(tmp_path, srv.url, "--json")
        try:
            assert wait_for(lambda: srv.requests)
            time.sleep(0.3)
            proc.send_signal(signal.SIGINT)
            out, err = proc.communicate(timeout=15)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert proc.returncode == 130 and "Traceback" not in err.decode()
    obj = json.loads(out)
    assert obj["answer"] == "Hel"
    assert "while reading the answer stream" in obj["error"]["message"]

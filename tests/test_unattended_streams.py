"""Issue 15, the stream side: what a hostile server or file can do to llmrun, tried through
the CLI as a real subprocess against the loopback server.
"""

import json
import os
import pty
import stat
import subprocess
import sys
import time

import drive
from server import Reply, TestServer, sse
from streams import answer_step, call_args, call_header, chunk, text, usage
from terminal_helpers import read_until_closed

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY = "sk-echoed-secret-0123456789"


def env_for(tmp_path, **extra):
    """The key is one a hostile server echoes back."""
    return drive.env_for(tmp_path, **{"LLMRUN_API_KEY": KEY, **extra})


def ask(tmp_path, server, *args, timeout=60):
    return drive.llmrun(tmp_path, "ask", "--no-stdin", "--base-url", server.url, "-m", "m",
                        *args, "go", env={"LLMRUN_API_KEY": KEY}, timeout=timeout)


# -- the key, echoed back ------------------------------------------------------------------------
def echoing_steps():
    half = len(KEY) // 2
    first = [text("the key is " + KEY[:half]), text(KEY[half:] + "!"),
             chunk({"reasoning": "I saw " + KEY[:5]}), chunk({"reasoning": KEY[5:]}),
             call_header(0, "call_1", "echo"),
             call_args(0, json.dumps({"say": KEY})[:10]), call_args(0, json.dumps({"say": KEY})[10:]),
             chunk(finish="tool_calls"), chunk(usage=usage(), choices=False)]
    return first, answer_step("again: " + KEY)


def test_a_key_echoed_by_the_server_is_never_printed_or_written(tmp_path):
    (tmp_path / "echo.yaml").write_text(
        "name: echo\ndescription: x\nparameters: {type: object, properties: {say: {type: string}}}\n"
        "command: [echo, '{say}']\n")
    cassette = tmp_path / "rec.yaml"
    for args in (["--json", "-v"], ["--stream", "-v"], ["--no-stream"],
                 ["--json", "--record", str(cassette)]):
        with TestServer() as server:
            first, second = echoing_steps()
            server.add(Reply(sse(*first)), Reply(sse(*second)))
            proc = ask(tmp_path, server, "-t", str(tmp_path), *args)
        assert proc.returncode == 0, proc.stderr
        assert KEY not in proc.stdout and KEY not in proc.stderr, args
        assert "[redacted]" in proc.stdout + proc.stderr
    assert KEY not in cassette.read_text()
    assert stat.S_IMODE(os.stat(cassette).st_mode) == 0o600


def test_a_recorded_cassette_is_private_even_when_it_existed(server, tmp_path):
    cassette = tmp_path / "old.yaml"
    cassette.write_text("")
    os.chmod(cassette, 0o644)
    server.add(Reply(sse(*answer_step("hi"))))
    proc = ask(tmp_path, server, "--record", str(cassette))
    assert proc.returncode == 0, proc.stderr
    assert stat.S_IMODE(os.stat(cassette).st_mode) == 0o600


# -- memory and time ----------------------------------------------------------------------------
def endless(h):
    """Text for ever, 64 KiB a chunk, until the client goes away."""
    h.send_response(200)
    h.send_header("Content-Type", "text/event-stream")
    h.send_header("Connection", "close")
    h.end_headers()
    event = b"data: " + json.dumps(text("x" * 65536)).encode() + b"\n\n"
    try:
        for _ in range(100000):
            h.wfile.write(event)
    except OSError:
        pass
    h.close_connection = True


def test_an_endless_stream_stops_at_the_budget_in_bounded_memory(server, tmp_path):
    server.add(Reply(action=endless))
    argv = [sys.executable, "-m", "llmrun", "ask", "--json", "--no-stdin", "--base-url",
            server.url, "-m", "m", "go"]
    out_file, err_file = tmp_path / "out", tmp_path / "err"
    with open(out_file, "wb") as out, open(err_file, "wb") as err:
        proc = subprocess.Popen(argv, stdout=out, stderr=err, env=env_for(tmp_path),
                                cwd=str(tmp_path))
        peak_kib = 0
        while proc.poll() is None:  # VmHWM only grows: the last reading is the peak
            peak_kib = max(peak_kib, _high_water(proc.pid))
            time.sleep(0.02)
    assert proc.returncode == 5, err_file.read_text()
    result = json.loads(out_file.read_text())
    assert result["error"]["type"] == "stream" and "budget of 64 MiB" in result["error"]["message"]
    assert 0 < peak_kib < 400 * 1024, f"peak RSS {peak_kib / 1024:.0f} MiB"


def _high_water(pid):
    """The process's peak resident memory in KiB (VmHWM; ru_maxrss would also count the
    parent that forked it)."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def test_keep_alive_comments_alone_time_out_like_silence(server, tmp_path):
    def comments(h):
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(b"data: " + json.dumps(text("Hel")).encode() + b"\n\n")
        try:
            for _ in range(60):
                h.wfile.write(b": keep-alive\n\n")
                h.wfile.flush()
                time.sleep(0.25)
        except OSError:
            pass

    server.add(Reply(action=comments))
    start = time.monotonic()
    proc = ask(tmp_path, server, "--json", "--timeout", "1.5")
    assert proc.returncode == 5, proc.stderr
    assert "no event for 1.5 s" in json.loads(proc.stdout)["error"]["message"]
    assert time.monotonic() - start < 10


# -- YAML bombs -----------------------------------------------------------------------------------
BOMB = "".join(f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]\n"
               for p, c in zip("abcdefgh", "bcdefghi"))


def test_an_alias_bomb_cassette_is_refused_within_a_second(tmp_path):
    (tmp_path / "bomb.yaml").write_text(
        'a: &a ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n' + BOMB +
        "interactions:\n- request: {url: *i, method: POST, body: ''}\n"
        "  response: {code: 200, body: ''}\n")
    assert len((tmp_path / "bomb.yaml").read_bytes()) < 1000
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "llmrun", "ask", "--replay",
                           str(tmp_path / "bomb.yaml"), "--json", "hi"],
                          capture_output=True, text=True, timeout=30, env=env_for(tmp_path))
    assert time.monotonic() - start < 1.0 + _startup(tmp_path)
    assert proc.returncode == 3 and "aliases" in proc.stderr
    assert json.loads(proc.stdout)["error"]["type"] == "config"


def _startup(tmp_path):
    start = time.monotonic()
    subprocess.run([sys.executable, "-m", "llmrun", "--version"], capture_output=True,
                   env=env_for(tmp_path))
    return time.monotonic() - start


def test_alias_bombs_and_self_references_in_tool_files_and_config(tmp_path):
    (tmp_path / "self.yaml").write_text("name: x\ndescription: &d [*d]\ncommand: [echo]\n")
    (tmp_path / "bomb.yaml").write_text("a: &a [1, 2, 3, 4, 5, 6, 7, 8, 9]\n" + BOMB)
    (tmp_path / "ok.yaml").write_text(
        "tools:\n  - name: a\n    parameters: &p {type: object, properties: {q: {type: string}}}\n"
        "    command: [echo]\n  - name: b\n    parameters: *p\n    command: [echo]\n")
    for name, words in (("self.yaml", "self-reference"), ("bomb.yaml", "alias bomb")):
        proc = subprocess.run([sys.executable, "-m", "llmrun", "tools", "check",
                               str(tmp_path / name)], capture_output=True, text=True,
                              timeout=30, env=env_for(tmp_path))
        assert proc.returncode == 3 and words in proc.stderr, proc.stderr
    proc = subprocess.run([sys.executable, "-m", "llmrun", "tools", "check",
                           str(tmp_path / "ok.yaml")], capture_output=True, text=True,
                          timeout=30, env=env_for(tmp_path))
    assert proc.returncode == 0, proc.stderr  # a few honest anchors are fine
    config = tmp_path / "config.yaml"
    config.write_text("model: &m [*m]\n")
    proc = subprocess.run([sys.executable, "-m", "llmrun", "ask", "--json", "hi"],
                          capture_output=True, text=True, timeout=30,
                          env=env_for(tmp_path, LLMRUN_CONFIG=str(config)))
    assert proc.returncode == 3 and "self-reference" in proc.stderr


# -- odd strings ----------------------------------------------------------------------------------
def test_lone_surrogates_and_deep_arguments_end_in_a_real_exit_code(server, tmp_path):
    (tmp_path / "t.yaml").write_text("name: t\ndescription: x\ncommand: [echo, hi]\n")
    deep = "[" * 2000 + "]" * 2000
    raw = ('data: {"model": "m\\ud800", "choices": [{"index": 0, "delta": {"tool_calls": ['
           '{"index": 0, "id": "call_\\udc00", "type": "function", "function": {"name": "t\\ud800", '
           '"arguments": ""}}]}}]}\n\n'
           'data: {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 1, "id": "c2", '
           '"function": {"name": "t", "arguments": "{\\"a\\": ' + deep + '}"}}]}}]}\n\n'
           'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls\\ud800"}]}\n\n'
           'data: [DONE]\n\n')
    server.add(Reply(raw.encode()), Reply(sse(*answer_step("ok \\ud83d"))))
    proc = ask(tmp_path, server, "--json", "-t", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)  # exactly one object
    calls = result["tool_calls"]
    assert calls[0]["is_error"] and "no tool named 't\ufffd'" in calls[0]["result"]
    assert calls[1]["is_error"] and "nested more than 64 levels" in calls[1]["result"]
    assert calls[0]["id"] == "call_\ufffd"


# -- redirects ------------------------------------------------------------------------------------
def test_a_redirect_from_the_api_is_not_followed(server, tmp_path):
    with TestServer() as elsewhere:
        server.add(Reply(b"", 307, {"Location": elsewhere.url + "/chat/completions"},
                         mode="length"))
        proc = subprocess.run([sys.executable, "-m", "llmrun", "ask", "--json", "--no-stdin",
                               "-p", "openai", "--base-url", server.url, "-m", "m", "hi"],
                              capture_output=True, text=True, timeout=30,
                              env=env_for(tmp_path))
        assert elsewhere.requests == []
    assert proc.returncode == 5
    message = json.loads(proc.stdout)["error"]["message"]
    assert "HTTP 307" in message and elsewhere.url in message and "redirect" in message
    assert len(server.requests) == 1


# -- the terminal ---------------------------------------------------------------------------------
HOSTILE = "A\x1b]52;c;ZXZpbA==\x07B\x1b]0;owned\x07C\x1b[2JD"


def test_escape_sequences_never_reach_a_terminal_but_pass_through_a_pipe(server, tmp_path):
    server.add(Reply(sse(*answer_step(HOSTILE))), Reply(sse(*answer_step(HOSTILE))))
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "llmrun", "ask", "--no-stdin", "-q",
                             "--base-url", server.url, "-m", "m", "go"],
                            stdin=subprocess.DEVNULL, stdout=slave, stderr=slave,
                            env=env_for(tmp_path, TERM="xterm"), cwd=str(tmp_path))
    os.close(slave)
    shown = read_until_closed(master)
    proc.wait(timeout=30)
    os.close(master)
    assert proc.returncode == 0
    assert b"\x1b]52" not in shown and b"\x1b]0" not in shown and b"\x1b[2J" not in shown
    assert b"A\\x1b]52;c;ZXZpbA==\\x07B" in shown
    piped = ask(tmp_path, server, "--no-stream")
    assert piped.stdout == HOSTILE + "\n"  # byte for byte to a pipe

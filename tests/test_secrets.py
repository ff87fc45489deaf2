"""The API key never appears in any output: not in errors, not with -v, not with
LLMRUN_DEBUG=1, not even when a server echoes it back in an error body or a stream."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT
from server import Reply, TestServer, chunk, echo_header, good_stream, sse
from streams import call_header
from streams import chunk as stream_chunk
from test_faults import CASES, Case, check_error_line, fault_args

KEY = "sk-llmrun-DISTINCTIVE-7f3a9c2e1b5d"
CORE = "7f3a9c2e1b5d"  # the part of the key nothing else could contain


def _json(make):
    return lambda header: json.dumps(make(header)).encode()


ECHOES = [
    Case("echo-401-json", lambda: [echo_header(401, _json(lambda v: {"error": {
        "message": f"Incorrect API key provided: {v}", "code": "invalid_api_key"}}))],
        4, r"HTTP 401 .*Incorrect API key provided: Bearer \[redacted\].*LLMRUN_API_KEY"),
    Case("echo-400-text", lambda: [echo_header(400, lambda v: f"bad header {v}\n".encode(),
                                               "text/plain")],
         4, r"HTTP 400 .*bad header Bearer \[redacted\]"),
    Case("echo-422-openrouter-raw", lambda: [echo_header(422, _json(lambda v: {"error": {
        "message": "Provider returned error", "metadata": {"raw": f"auth was {v}"}}}))],
        4, r"Provider returned error \(auth was Bearer \[redacted\]\)"),
    Case("echo-error-event", lambda: [echo_header(200, lambda v: sse(
        chunk("Hel"), {"error": {"message": f"denied for {v}"}}, done=False),
        "text/event-stream")], 5, r"stream reported an error: denied for Bearer \[redacted\]"),
    Case("echo-typed-error-event", lambda: [echo_header(
        200, lambda v: f"event: error\ndata: denied for {v}\n\n".encode(), "text/event-stream")],
        5, r"stream reported an error: denied for Bearer \[redacted\]"),
    Case("echo-malformed-line", lambda: [echo_header(
        200, lambda v: f'data: {{"key": "{v[7:]}", \n\n'.encode(), "text/event-stream")],
        5, r"malformed stream: invalid JSON .*\[redacted\]"),
    Case("echo-json-error", lambda: [echo_header(200, _json(lambda v: {"error": {
        "message": f"no access for {v}"}}))], 5, r"no access for Bearer \[redacted\]"),
]


def assert_no_key(*outputs: str) -> None:
    for text in outputs:
        assert KEY not in text and CORE not in text, text


@pytest.mark.parametrize("json_mode", [False, True], ids=["plain", "json"])
@pytest.mark.parametrize("case", CASES + ECHOES, ids=[c.name for c in CASES + ECHOES])
def test_key_never_shown_for_any_fault(case, json_mode, run_cli):
    env = {"LLMRUN_API_KEY": KEY, "LLMRUN_DEBUG": "1"}
    with TestServer(case.replies()) as srv:
        run = run_cli(fault_args(case, srv.url) + ["-v"] + (["--json"] if json_mode else []),
                      env=env)
        sent = [r.headers.get("Authorization") for r in srv.requests]
    assert run.code == case.code, run
    check_error_line(run.stderr, case.cause)
    assert_no_key(run.stdout, run.stderr)
    assert all(h == f"Bearer {KEY}" for h in sent)  # the key did go where it belongs


def test_provider_key_variable_is_named_not_shown(run_cli):
    case = ECHOES[0]
    with TestServer(case.replies()) as srv:
        run = run_cli(["ask", "--no-stdin", "-p", "openai", "--base-url", srv.url,
                       "-m", "gpt-4o-mini", "-v", "Hi"], env={"LLMRUN_API_KEY": "",
                                                              "OPENAI_API_KEY": KEY})
    assert run.code == 4, run
    line = check_error_line(run.stderr, r"openai answered HTTP 401")
    assert "check the key in OPENAI_API_KEY" in line
    assert_no_key(run.stdout, run.stderr)


def test_no_key_sent_says_how_to_set_one(server, run_cli):
    server.add(Reply(b'{"error": {"message": "Missing bearer"}}', 401,
                     {"Content-Type": "application/json"}, mode="length"))
    run = run_cli(["ask", "--no-stdin", "--base-url", server.url, "-m", "m", "Hi"],
                  env={"LLMRUN_API_KEY": ""})
    assert run.code == 4, run
    assert "no API key was sent: set LLMRUN_API_KEY" in run.stderr
    assert "Authorization" not in server.requests[0].headers


def test_key_with_surrounding_whitespace_is_trimmed(server, run_cli):
    server.add(Reply(good_stream("ok")))
    run = run_cli(["ask", "--no-stdin", "--base-url", server.url, "-m", "m", "Hi"],
                  env={"LLMRUN_API_KEY": f"  {KEY}\n"})
    assert run.code == 0, run
    assert server.requests[0].headers["Authorization"] == f"Bearer {KEY}"


def test_key_that_cannot_be_a_header_is_a_config_error_without_its_value(server, run_cli):
    bad = f"{KEY[:10]} {KEY[10:]}"
    run = run_cli(["ask", "--no-stdin", "--base-url", server.url, "-m", "m", "-v", "Hi"],
                  env={"LLMRUN_API_KEY": bad, "LLMRUN_DEBUG": "1"})
    assert run.code == 3, run
    check_error_line(run.stderr, r"the API key in LLMRUN_API_KEY contains spaces")
    assert_no_key(run.stdout, run.stderr.replace(" ", ""))
    assert server.requests == []


def test_debug_tracebacks_are_redacted_too(tmp_path):
    """LLMRUN_DEBUG shows a traceback for bugs; a key inside it is replaced."""
    code = ("from llmrun.base.secrets import remember_secret\n"
            f"remember_secret({KEY!r})\n"
            f"raise RuntimeError('a bug that mentions ' + {KEY!r})\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=ROOT), cwd=str(tmp_path),
                          timeout=30)
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "a bug that mentions [redacted]" in proc.stderr
    assert_no_key(proc.stdout, proc.stderr)


def test_a_tool_that_prints_its_environment_does_not_leak_the_key(server, run_cli, tmp_path):
    """No key variable is in a tool's environment, and a key a tool prints anyway (say, read
    from a file) is redacted from its result before anyone sees it or it goes back."""
    (tmp_path / "env.yaml").write_text("name: show_env\ndescription: print the environment\n"
                                       f"shell: 'env; echo found {KEY}'\n")
    server.add(Reply(sse(call_header(0, "c1", "show_env", "{}"), stream_chunk(finish="tool_calls"))),
               Reply(good_stream("ok")))
    run = run_cli(["ask", "--no-stdin", "-p", "openai", "--base-url", server.url, "-m", "m",
                   "-t", str(tmp_path), "-v", "--json", "Hi"],
                  env={"LLMRUN_API_KEY": "", "OPENAI_API_KEY": KEY})
    assert run.code == 0, run
    result = run.json()["tool_calls"][0]["result"]
    assert "OPENAI_API_KEY" not in result and "LLMRUN_API_KEY" not in result
    assert "found [redacted]" in result
    assert_no_key(run.stdout, run.stderr)
    assert KEY not in server.requests[1].body.decode()

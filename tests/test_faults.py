"""Every HTTP, connection and stream fault ends in one `llmrun: error:` line naming the cause,
the contract's exit code, no traceback, and with --json one object carrying "error"."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Callable, List, Optional

import pytest
from server import (Reply, TestServer, chunk, drop_before_headers, free_port, good_stream,
                    json_reply, silent, sse, text_reply)

FIRST = sse(chunk("Hel"), done=False)  # the first event of a stream: partial text "Hel"
MIB = 1024 * 1024


@dataclass
class Case:
    """One scripted fault: what the server does, the exit code and the cause named."""

    name: str
    replies: Callable[[], List[Reply]]
    code: int
    cause: str  # regex the error message must match
    args: List[str] = field(default_factory=list)
    partial: Optional[str] = None  # answer text gathered before the fault
    url: Optional[Callable[[str], str]] = None  # base URL other than the server's


def _stream(*pieces: bytes, **kw) -> Callable[[], List[Reply]]:
    return lambda: [Reply(b"".join(pieces), **kw)]


def _one(make: Callable[[], Reply]) -> Callable[[], List[Reply]]:
    return lambda: [make()]


NO_RETRY = ["--retries", "0"]
HTTP = [
    Case("http-400-openai", _one(lambda: json_reply(400, {"error": {
        "message": "Invalid value for 'temperature': expected at most 2.",
        "type": "invalid_request_error", "param": "temperature", "code": "invalid_value"}})),
        4, r"HTTP 400 .*Invalid value for 'temperature': expected at most 2\."),
    Case("http-401-openai", _one(lambda: json_reply(401, {"error": {
        "message": "Incorrect API key provided.", "type": "invalid_request_error",
        "code": "invalid_api_key"}})),
        4, r"HTTP 401 .*Incorrect API key provided\..*LLMRUN_API_KEY"),
    Case("http-403-vercel", _one(lambda: json_reply(403, {"error": {
        "message": "Your team has no access to this model", "type": "forbidden"}})),
        4, r"HTTP 403 .*Your team has no access to this model"),
    Case("http-404-html", _one(lambda: text_reply(
        404, "<!DOCTYPE html>\n<html><head><title>404 Not Found</title></head>"
             "<body><h1>Not Found</h1><p>nginx</p></body></html>", "text/html")),
        4, r"HTTP 404 Not Found \(check the base URL and the model id"),
    Case("http-413-text", _one(lambda: text_reply(
        413, "\nRequest body too large\nthe limit is 1 MB\n")),
        4, r"HTTP 413 .*: Request body too large \(the request is too large"),
    Case("http-422-openrouter", _one(lambda: json_reply(422, {"error": {
        "message": "Provider returned error", "code": 422,
        "metadata": {"raw": "messages.0.content: field required", "provider_name": "X"}}})),
        4, r"HTTP 422 .*Provider returned error.*messages\.0\.content: field required"),
    Case("http-429-openrouter", _one(lambda: json_reply(429, {"error": {
        "message": "Rate limit exceeded: free-models-per-min", "code": 429}})),
        4, r"HTTP 429 .*Rate limit exceeded: free-models-per-min", NO_RETRY),
    Case("http-500-openai", _one(lambda: json_reply(500, {"error": {
        "message": "The server had an error while processing your request.",
        "type": "server_error", "code": None}})),
        4, r"HTTP 500 .*The server had an error while processing your request\.", NO_RETRY),
    Case("http-502-html", _one(lambda: text_reply(
        502, "<html><head><title>502 Bad Gateway</title></head><body>cloudflare</body>"
             "</html>", "text/html")),
        4, r"HTTP 502 Bad Gateway \(the provider is having trouble", NO_RETRY),
    Case("http-503-text", _one(lambda: text_reply(
        503, "upstream connect error or disconnect/reset before headers")),
        4, r"HTTP 503 .*upstream connect error", NO_RETRY),
    Case("http-500-sse-body", _one(lambda: Reply(sse({"error": {
        "message": "Internal error in upstream", "code": 500}}), 500, mode="length",
        split="none")), 4, r"HTTP 500 .*: Internal error in upstream \(", NO_RETRY),
    Case("http-504-detail", _one(lambda: json_reply(504, {"detail": "Gateway Timeout"})),
        4, r"HTTP 504 .*Gateway Timeout", NO_RETRY),
]

STREAM = [
    Case("refused", lambda: [], 5, r"cannot connect to http://127\.0\.0\.1:\d+/v1/chat/"
         r"completions: .*[Rr]efused", NO_RETRY,
         url=lambda _: f"http://127.0.0.1:{free_port()}/v1"),
    Case("dropped-before-headers", _one(drop_before_headers), 5,
         r"closed the connection before answering", NO_RETRY),
    Case("silent-before-headers", _one(lambda: silent(3)), 5,
         r"no answer from .* within 0\.5 s", NO_RETRY + ["--timeout", "0.5"]),
    Case("reset-mid-stream", _stream(FIRST, good_stream(), cut_after=len(FIRST) + 5,
                                     reset=True, split="none"),
         5, r"connection broke mid-stream: the server reset the connection", partial="Hel"),
    Case("closed-mid-chunk", _stream(FIRST, good_stream(), cut_after=len(FIRST) + 5,
                                     split="none"),
         5, r"connection broke mid-stream: the server closed the connection before the body "
            r"was complete", partial="Hel"),
    Case("closed-before-content-length", _stream(FIRST, good_stream(), cut_after=len(FIRST) + 5,
                                                 mode="length", split="none"),
         5, r"connection broke mid-stream: the server closed the connection before the body "
            r"was complete", partial="Hel"),
    Case("reset-unchunked", _stream(FIRST, good_stream(), cut_after=len(FIRST) + 5, mode="close",
                                    reset=True, split="none", delay=0.05),
         5, r"connection broke mid-stream: the server reset the connection", partial="Hel"),
    Case("stall", _stream(FIRST, good_stream(), cut_after=len(FIRST), stall=3, split="none"),
         5, r"stream stalled.*0\.5 s", ["--timeout", "0.5"], partial="Hel"),
    Case("cut-clean-end", _stream(sse(chunk("Hel"), chunk("lo"), done=False)), 5,
         r"cut before the step finished", partial="Hello"),
    Case("cut-mid-event", _stream(FIRST, good_stream(), cut_after=len(FIRST) + 20,
                                  mode="close"),
         5, r"stream was cut in the middle of an event", partial="Hel"),
    Case("malformed-json", _stream(FIRST, b'data: {"choices": [{"delta": {"content": "x"\n\n'),
         5, r"malformed stream: invalid JSON", partial="Hel"),
    Case("error-event", _stream(FIRST, sse({"error": {"message": "Upstream overloaded",
                                                      "code": 502}}, done=False)),
         5, r"stream reported an error: Upstream overloaded \(code 502\)", partial="Hel"),
    Case("error-event-typed", _stream(FIRST, b"event: error\ndata: {\"message\": \"quota\"}\n\n"),
         5, r"stream reported an error: quota", partial="Hel"),
    Case("line-70mb", lambda: [Reply([FIRST, b"data: "] + [b"x" * MIB] * 70, split="given")],
         5, r"larger than the budget of 64 MiB: one line of the stream never ended",
         partial="Hel"),
    Case("invalid-utf8", _stream(FIRST, b'data: {"choices": [{"index": 0, "delta": '
                                        b'{"content": "\xff\xfe"}}]}\n\n', sse(chunk("!"))),
         5, r"malformed stream: invalid UTF-8", partial="Hel"),
    Case("not-sse", _one(lambda: text_reply(200, "<html><body>Welcome to nginx</body></html>",
                                            "text/html")),
         5, r"expected an event stream but the server sent text/html"),
]
CASES = HTTP + STREAM
IDS = [c.name for c in CASES]


def fault_args(case: Case, url: str) -> List[str]:
    base = case.url(url) if case.url else url
    return ["ask", "--no-stdin", "--base-url", base, "-m", "test-model"] + case.args + ["Hi"]


def check_error_line(stderr: str, cause: str) -> str:
    """Exactly one `llmrun: error:` line, naming the cause; no traceback anywhere."""
    assert "Traceback" not in stderr
    errors = [line for line in stderr.splitlines() if line.startswith("llmrun: error: ")]
    assert len(errors) == 1, stderr
    assert re.search(cause, errors[0]), (cause, errors[0])
    return errors[0]


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_fault_plain(case, run_cli):
    with TestServer(case.replies()) as srv:
        run = run_cli(fault_args(case, srv.url))
    assert run.code == case.code, run
    check_error_line(run.stderr, case.cause)
    if case.partial is None:
        assert run.stdout == ""


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_fault_json(case, run_cli):
    with TestServer(case.replies()) as srv:
        run = run_cli(fault_args(case, srv.url) + ["--json"])
    assert run.code == case.code, run
    check_error_line(run.stderr, case.cause)
    assert run.stdout.count("\n") == 1 and run.stdout.endswith("\n")
    obj = json.loads(run.stdout)
    kind = "api" if case.code == 4 else "connection" if case.name == "refused" else "stream"
    assert obj["error"]["type"] == kind
    assert obj["error"]["exit_code"] == case.code
    assert re.search(case.cause, obj["error"]["message"])
    assert obj["answer"] == (case.partial or "")
    assert obj["provider"] and obj["model"] == "test-model"


COMPLETION = {"id": "x", "object": "chat.completion", "model": "plain-model",
              "choices": [{"index": 0, "finish_reason": "stop",
                           "message": {"role": "assistant", "content": "Plain answer"}}],
              "usage": {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}}


@pytest.mark.parametrize("ctype", ["application/json", "application/json; charset=utf-8"])
def test_server_ignoring_stream_true_is_accepted(ctype, server, run_cli):
    server.add(json_reply(200, COMPLETION, {"Content-Type": ctype}))
    run = run_cli(fault_args(Case("", list, 0, ""), server.url) + ["--json"])
    assert run.code == 0, run
    obj = run.json()
    assert obj["answer"] == "Plain answer" and obj["model"] == "plain-model"
    assert obj["usage"]["total_tokens"] == 7 and "error" not in obj
    assert server.bodies()[0]["stream"] is True


def test_server_ignoring_stream_true_plain_output(server, run_cli):
    server.add(json_reply(200, COMPLETION))
    run = run_cli(fault_args(Case("", list, 0, ""), server.url))
    assert run.code == 0 and run.stdout == "Plain answer\n", run
    assert "error" not in run.stderr

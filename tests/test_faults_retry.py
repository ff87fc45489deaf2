"""Retries: connection errors and 429/5xx before any body byte, with backoff and Retry-After;
never once the stream has started. Timing is checked only as behaviour (the server's request
timestamps show a wait happened), never as a speed limit."""

from __future__ import annotations

import email.utils
import time

import pytest
from server import (Reply, chunk, drop_before_headers, free_port, good_stream, json_reply, silent,
                    sse, text_reply)
from urllib3.response import HTTPResponse

from llmrun.wire.retry import MAX_RETRY_AFTER, make_retry

FAST = {"LLMRUN_RETRY_BACKOFF": "0.01"}  # keep the suite fast where the wait is not the point


def args(url, *extra):
    return ["ask", "--no-stdin", "--base-url", url, "-m", "test-model", "--json", *extra, "Hi"]


def gaps(server):
    at = [r.at for r in server.requests]
    return [b - a for a, b in zip(at, at[1:])]


def test_429_with_retry_after_one_second_then_success(server, run_cli):
    server.add(json_reply(429, {"error": {"message": "slow down"}}, {"Retry-After": "1"}),
               Reply(good_stream("Hello after waiting")))
    run = run_cli(args(server.url), env=FAST)
    assert run.code == 0, run
    assert run.json()["answer"] == "Hello after waiting"
    assert len(server.requests) == 2
    assert gaps(server)[0] >= 0.9  # Retry-After was honoured, not the 0.01 s backoff


def test_503_three_times_with_two_retries_exits_4_after_three_requests(server, run_cli):
    for _ in range(3):
        server.add(text_reply(503, "Service Unavailable: overloaded"))
    server.add(Reply(good_stream()))  # would succeed, but must never be asked for
    run = run_cli(args(server.url, "--retries", "2"), env=FAST)
    assert run.code == 4, run
    assert len(server.requests) == 3
    assert "HTTP 503" in run.json()["error"]["message"]
    assert "after 3 attempts" in run.stderr and "Traceback" not in run.stderr


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_each_retryable_status_is_retried(status, server, run_cli):
    server.add(json_reply(status, {"error": {"message": "try later"}}), Reply(good_stream()))
    run = run_cli(args(server.url), env=FAST)
    assert run.code == 0, run
    assert len(server.requests) == 2
    assert server.bodies()[0] == server.bodies()[1]  # the same request, sent again


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 422])
def test_client_errors_are_not_retried(status, server, run_cli):
    # 413 even with a Retry-After: only 429 and 503 are worth waiting for
    server.add(json_reply(status, {"error": {"message": "no"}}, {"Retry-After": "0"}),
               Reply(good_stream()))
    run = run_cli(args(server.url, "--retries", "3"), env=FAST)
    assert run.code == 4, run
    assert len(server.requests) == 1


def test_retries_zero_sends_one_request(server, run_cli):
    server.add(text_reply(503, "busy"), Reply(good_stream()))
    run = run_cli(args(server.url, "--retries", "0"), env=FAST)
    assert run.code == 4 and len(server.requests) == 1, run
    assert "attempts" not in run.stderr


def test_backoff_grows_exponentially(server, run_cli):
    for _ in range(2):
        server.add(text_reply(502, "bad gateway"))
    server.add(Reply(good_stream()))
    run = run_cli(args(server.url), env={"LLMRUN_RETRY_BACKOFF": "0.2"})
    assert run.code == 0, run
    first, second = gaps(server)
    assert first >= 0.2 and second >= 0.4  # base, then twice the base (plus jitter)


def test_connection_closed_before_headers_is_retried(server, run_cli):
    server.add(drop_before_headers(), Reply(good_stream("second try")))
    run = run_cli(args(server.url), env=FAST)
    assert run.code == 0, run
    assert run.json()["answer"] == "second try" and len(server.requests) == 2


def test_timeout_before_headers_is_retried(server, run_cli):
    server.add(silent(2), Reply(good_stream("second try")))
    run = run_cli(args(server.url, "--timeout", "0.3"), env=FAST)
    assert run.code == 0, run
    assert run.json()["answer"] == "second try" and len(server.requests) == 2


def test_refused_reports_every_attempt(run_cli):
    run = run_cli(args(f"http://127.0.0.1:{free_port()}/v1", "--retries", "2"), env=FAST)
    assert run.code == 5, run
    assert "connection refused (after 3 attempts; is the server up?)" in run.stderr


@pytest.mark.parametrize("fault", ["reset", "stall", "error-event", "cut"])
def test_never_retried_once_the_stream_started(fault, server, run_cli):
    first = sse(chunk("Hel"), done=False)
    reply = {"reset": Reply(first + good_stream(), cut_after=len(first) + 3, reset=True,
                            split="none"),
             "stall": Reply(first + good_stream(), cut_after=len(first), stall=1.5,
                            split="none"),
             "error-event": Reply(first + sse({"error": {"message": "boom", "code": 503}})),
             "cut": Reply(first)}[fault]
    server.add(reply, Reply(good_stream()))
    run = run_cli(args(server.url, "--retries", "3", "--timeout", "0.5"), env=FAST)
    assert run.code == 5, run
    assert len(server.requests) == 1
    assert run.json()["answer"] == "Hel"


def test_bad_backoff_setting_is_a_config_error(server, run_cli):
    run = run_cli(args(server.url), env={"LLMRUN_RETRY_BACKOFF": "soon"})
    assert run.code == 3 and "LLMRUN_RETRY_BACKOFF" in run.stderr, run
    assert server.requests == []


# -- the Retry object itself: Retry-After forms, the cap, the backoff formula ---------------
def _answer(status, retry_after):
    return HTTPResponse(body=b"", status=status, headers={"Retry-After": retry_after},
                        preload_content=False)


def test_retry_after_in_seconds_and_as_http_date():
    retry = make_retry(2, backoff=0.5)
    assert retry.get_retry_after(_answer(429, "7")) == 7
    date = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 27 <= retry.get_retry_after(_answer(503, date)) <= 30
    past = email.utils.formatdate(time.time() - 30, usegmt=True)
    assert retry.get_retry_after(_answer(503, past)) == 0


def test_retry_after_is_capped():
    retry = make_retry(2, backoff=0.5)
    assert retry.get_retry_after(_answer(429, "86400")) == MAX_RETRY_AFTER
    far = email.utils.formatdate(time.time() + 86400, usegmt=True)
    assert retry.get_retry_after(_answer(503, far)) == MAX_RETRY_AFTER


def test_retry_after_only_for_429_and_503():
    retry = make_retry(2, backoff=0.5)
    assert retry.is_retry("POST", 429, has_retry_after=True)
    assert retry.is_retry("POST", 503, has_retry_after=True)
    assert not retry.is_retry("POST", 413, has_retry_after=True)
    assert not retry.is_retry("POST", 400, has_retry_after=False)


def test_backoff_formula_doubles_with_jitter_and_a_ceiling():
    retry = make_retry(10, backoff=0.5)
    waits = []
    for _ in range(7):
        retry = retry.increment("POST", "/", response=_answer(503, "0"))
        waits.append(retry.get_backoff_time())
    for n, wait in enumerate(waits[:5]):
        assert 0.5 * 2 ** n <= wait <= 0.5 * 2 ** n + 0.25
    assert waits[-1] == 20.0

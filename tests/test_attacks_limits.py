"""Issue 22, items 5, 7-10 and 12: hostile numbers, unbounded files, budgets that did not
hold and costs that lie, through the CLI as a real subprocess against the loopback server.
Every run must end with its proper exit code and one strict JSON object, never exit 1."""

import json
import threading
import time

import pytest
from attacks import ask, cli, one_object, strict
from server import Reply, sse
from streams import answer_step, call_header, chunk, usage
from test_unattended_tools import tool_step

MIB = 1024 * 1024


def huge(n):
    return int("9" * n)


# -- 5: numbers of thousands of digits, NaN in reasoning_details ---------------------------
def test_nan_in_reasoning_details_goes_back_as_null_not_exit_1(server, tmp_path):
    detail = ('{"choices": [{"index": 0, "delta": {"reasoning_details": [{"type": '
              '"reasoning.encrypted", "data": "opaque", "index": 0, "format": NaN, '
              '"extra": [1, Infinity]}]}}]}')
    server.add(Reply(sse(detail, *tool_step(("nope", "{}")))), Reply(sse(*answer_step("ok"))))
    proc = ask(tmp_path, server)
    assert proc.returncode == 0, proc.stderr
    sent = strict(server.requests[1].body.decode())  # the next request is RFC 8259 too
    block = sent["messages"][1]["reasoning_details"][0]
    assert block["data"] == "opaque" and block["format"] is None and block["extra"] == [1, None]


def test_an_sse_retry_field_of_5000_digits_is_ignored(server, tmp_path):
    body = b"retry: " + b"9" * 5000 + b"\n\n" + sse(*answer_step("fine"))
    server.add(Reply(body, split="none"))
    proc = ask(tmp_path, server)
    assert proc.returncode == 0, proc.stderr
    assert one_object(proc)["answer"] == "fine"


@pytest.mark.parametrize("field", ["prompt_tokens", "completion_tokens", "total_tokens"])
def test_usage_counts_of_thousands_of_digits_are_a_stream_failure(server, tmp_path, field):
    numbers = dict(usage(), **{field: huge(4300)})
    server.add(Reply(sse(chunk("hi"), chunk(finish="stop"),
                         chunk(usage=numbers, choices=False)), split="none"))
    proc = ask(tmp_path, server)
    obj = one_object(proc)
    assert proc.returncode == 5 and obj["error"]["type"] == "stream", proc.stderr
    assert "digits" in obj["error"]["message"] and "token count" in obj["error"]["message"]


def test_prices_times_a_401_digit_token_count_is_a_stream_failure(server, tmp_path):
    config = tmp_path / "config" / "llmrun"
    config.mkdir(parents=True)
    (config / "config.yaml").write_text(
        f"providers:\n  - name: mine\n    base_url: {server.url}\n"
        "    prices: {m: {prompt: 1.5, completion: 2}}\n")
    server.add(Reply(sse(chunk("hi"), chunk(finish="stop"),
                         chunk(usage=dict(usage(), prompt_tokens=huge(401)), choices=False))))
    proc = ask(tmp_path, server, "-p", "mine", "--max-cost", "1")
    assert proc.returncode == 5 and one_object(proc)["error"]["type"] == "stream", proc.stderr


# -- 7: files read without bound ------------------------------------------------------------
@pytest.mark.parametrize("how", ["--config", "LLMRUN_CONFIG", "--schema", "--mcp", "--replay"])
def test_dev_zero_as_a_file_is_exit_3_naming_the_file_and_the_limit(server, tmp_path, how):
    if how == "--config":
        proc = cli(tmp_path, "--config", "/dev/zero", "ask", "--json", "--base-url", server.url,
                   "-m", "m", "hi")
    elif how == "LLMRUN_CONFIG":
        proc = ask(tmp_path, server, env={"LLMRUN_CONFIG": "/dev/zero"})
    else:
        proc = ask(tmp_path, server, how, "/dev/zero")
    obj = one_object(proc)
    assert proc.returncode == 3 and obj["error"]["type"] == "config", proc.stderr
    assert "/dev/zero" in obj["error"]["message"] and "MiB" in obj["error"]["message"]
    assert not server.requests


def test_dev_zero_on_standard_input_is_a_usage_error_not_a_memory_error(server, tmp_path):
    with open("/dev/zero") as zero:
        proc = cli(tmp_path, "ask", "--json", "--base-url", server.url, "-m", "m", "hi",
                   stdin=zero)
    obj = one_object(proc)
    assert proc.returncode == 2 and "standard input" in obj["error"]["message"], proc.stderr
    assert not server.requests


# -- 8: every byte a step keeps counts against the budget ----------------------------------
def flood(events, size=MIB):
    """An SSE body of `events` chunks, one network write of about `size` each."""
    return [("data: " + json.dumps(e) + "\n\n").encode() for e in events]


def test_tool_call_names_count_against_the_response_budget(server, tmp_path):
    name = "n" * MIB
    events = [call_header(i, f"c{i}", name + str(i)) for i in range(70)]
    server.add(Reply(flood(events) + [sse(chunk(finish="tool_calls"))], split="given"),
               Reply(sse(*answer_step("unreachable"))))
    proc = ask(tmp_path, server)
    obj = one_object(proc)
    assert proc.returncode == 5 and "budget of 64 MiB" in obj["error"]["message"], proc.stderr
    assert len(server.requests) == 1  # the names never went out again


def test_reasoning_details_signatures_count_against_the_budget(server, tmp_path):
    signature = "s" * MIB
    events = [chunk({"reasoning_details": [{"type": "reasoning.text", "text": "", "index": i,
                                            "signature": signature}]}) for i in range(70)]
    server.add(Reply(flood(events) + [sse(*answer_step("x"))], split="given"))
    proc = ask(tmp_path, server)
    obj = one_object(proc)
    assert proc.returncode == 5 and "budget of 64 MiB" in obj["error"]["message"], proc.stderr


def test_content_less_events_kept_by_record_count_against_the_budget(server, tmp_path):
    events = [{"choices": [], "padding": "p" * MIB} for _ in range(70)]
    server.add(Reply(flood(events) + [sse(*answer_step("x"))], split="given"))
    proc = ask(tmp_path, server, "--record", str(tmp_path / "run.yaml"))
    obj = one_object(proc)
    assert proc.returncode == 5 and "budget of 64 MiB" in obj["error"]["message"], proc.stderr


# -- 9: merging reasoning_details is linear ---------------------------------------------------
def test_forty_thousand_new_detail_blocks_merge_in_linear_time(server, tmp_path):
    """Each fragment brings a new index: the old merge scanned every earlier block (85 s for
    these 40k); a map finds the block at once. The subprocess timeout is a hang guard."""
    events = [chunk({"reasoning_details": [{"type": "reasoning.text", "text": "t",
                                            "index": i}]}) for i in range(40_000)]
    body = b"".join(flood(events)) + sse(*answer_step("merged"))
    server.add(Reply(body, split="none"))
    proc = ask(tmp_path, server, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert one_object(proc)["reasoning"] == "t" * 40_000


# -- 10: --timeout counts from the last event that carried something -------------------------
def test_content_less_events_do_not_keep_a_run_alive_past_timeout(server, tmp_path):
    gone = threading.Event()

    def drip(h):
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        empty = b'data: {"choices": []}\n\n'
        try:
            for _ in range(200):  # 40 s of nothing, unless llmrun hangs up first
                h.wfile.write(b"%x\r\n%s\r\n" % (len(empty), empty))
                h.wfile.flush()
                time.sleep(0.2)
            end = sse(*answer_step("too late"))
            h.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(end), end))
            h.wfile.flush()
        except OSError:
            gone.set()
        h.close_connection = True

    server.add(Reply(action=drip))
    proc = ask(tmp_path, server, "--timeout", "1", "--retries", "0")
    obj = one_object(proc)
    assert proc.returncode == 5 and "stalled" in obj["error"]["message"], proc.stderr


# -- 12: costs below zero or not finite are hostile -------------------------------------------
@pytest.mark.parametrize("cost", ["-5", "1e999", "NaN"])
def test_a_negative_or_non_finite_cost_is_hostile_not_summed(server, tmp_path, cost):
    step = tool_step(("nope", "{}"))
    trailer = '{"choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 1, ' \
              f'"cost": {cost}}}}}'
    server.add(Reply(sse(*step[:-1], trailer)), Reply(sse(*answer_step("ok"))))
    proc = ask(tmp_path, server, "-p", "openrouter", "--base-url", server.url,
               "--max-cost", "0.01")
    obj = one_object(proc)
    assert proc.returncode == 5 and obj["error"]["type"] == "stream", proc.stderr
    assert "reported a cost of" in obj["error"]["message"] and len(server.requests) == 1
    assert obj["usage"]["cost"] is None


@pytest.mark.parametrize("price", [".nan", ".inf", "1.0e+308", "-1"])
def test_prices_that_are_not_sane_numbers_are_refused_with_file_and_line(tmp_path, server,
                                                                         price):
    config = tmp_path / "config" / "llmrun"
    config.mkdir(parents=True)
    (config / "config.yaml").write_text(
        f"providers:\n  - name: mine\n    base_url: {server.url}\n"
        f"    prices:\n      m: {{prompt: {price}, completion: 1}}\n")
    proc = ask(tmp_path, server, "-p", "mine", "--max-cost", "1")
    obj = one_object(proc)
    assert proc.returncode == 3 and obj["error"]["type"] == "config", proc.stderr
    assert "config.yaml:4" in obj["error"]["message"] and not server.requests

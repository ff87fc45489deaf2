"""Scripting (issue 11): the event stream, budgets, exit codes that never lie, retries that
know when to give up, and structured answers -- driven through the CLI against the loopback
server (a real subprocess where exit codes, signals or time matter)."""

import json
import os
import signal
import subprocess
import time

import pytest
from conftest import SAMPLE_TOOLS
from drive import cmdline, descendants, spawn, wait_for
from server import Reply, json_reply, sse
from streams import answer_step, call_args, call_header, chunk, text, usage, weather_call_step

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
STRUCTURED = os.path.join(ROOT, "tests", "cassettes", "structured")
SCHEMA = os.path.join(STRUCTURED, "weather.schema.json")
KEYS = ["answer", "model", "provider", "finish_reason", "steps", "tool_calls", "reasoning",
        "usage", "duration_s"]


def base(server, *args):
    return ["ask", "--no-stdin", "--base-url", server.url, "-m", "m", *args]


def events_of(stdout):
    return [json.loads(line) for line in stdout.splitlines()]


def llmrun(args, tmp_path, **kw):
    """llmrun started (not waited for), text streams: for events read as they come."""
    return spawn(tmp_path, *args, env=kw.pop("env", {}), text=True, **kw)


# -- events -------------------------------------------------------------------------------------
def test_events_of_a_tool_run_in_order(server, run_cli):
    first = [chunk({"reasoning": "Need weather."}), text("Checking. ")] + weather_call_step()
    server.add(Reply(sse(*first)), Reply(sse(*answer_step("It is 40 C."))))
    run = run_cli(base(server, "--events", "-t", SAMPLE_TOOLS, "Weather?"))
    assert run.code == 0, run
    events = events_of(run.stdout)
    kinds = [e["type"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "result"
    assert events[0] == {"type": "start", "version": 1, "provider": "generic", "model": "m",
                         "tools": ["weather"]}
    assert kinds == ["start", "reasoning", "text", "step", "tool_call", "tool_result", "text",
                     "step", "result"]
    by = {k: [e for e in events if e["type"] == k] for k in set(kinds)}
    assert by["text"][0] == {"type": "text", "step": 1, "text": "Checking. "}
    assert by["reasoning"][0] == {"type": "reasoning", "step": 1, "text": "Need weather."}
    assert by["tool_call"][0] == {"type": "tool_call", "step": 1, "id": "call_1",
                                  "name": "weather", "arguments": {"location": "Florence"}}
    result = by["tool_result"][0]
    assert result["result"] == "40 C" and result["is_error"] is False and result["step"] == 1
    assert isinstance(result["duration_s"], float)
    assert [s["step"] for s in by["step"]] == [1, 2]
    assert by["step"][0]["finish_reason"] == "tool_calls"
    assert by["step"][0]["usage"]["prompt_tokens"] == 10 and by["step"][0]["model"] == "test-model"
    final = by["result"][0]
    assert list(final)[1:] == KEYS and final["answer"] == "It is 40 C." and "error" not in final


@pytest.mark.parametrize("case, reply, code, kind", [
    ("http-error", json_reply(401, {"error": {"message": "bad key"}}), 4, "api"),
    ("stream-cut", Reply(sse(text("Hel"), done=False)), 5, "stream"),
])
def test_the_result_event_ends_every_failure(server, run_cli, case, reply, code, kind):
    server.add(reply)
    run = run_cli(base(server, "--events", "--retries", "0", "Hi"))
    assert run.code == code, run
    events = events_of(run.stdout)
    assert events[-1]["type"] == "result" and events[-1]["error"]["type"] == kind


def test_the_result_event_ends_a_limit(server, run_cli):
    server.add(Reply(sse(*weather_call_step())))
    run = run_cli(base(server, "--events", "--max-steps", "1", "-t", SAMPLE_TOOLS, "Hi"))
    assert run.code == 6
    assert events_of(run.stdout)[-1]["error"]["type"] == "max_steps"


@pytest.mark.parametrize("signum, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_the_result_event_ends_a_signal(server, tmp_path, signum, code):
    (tmp_path / "slow.yaml").write_text("name: slow\ndescription: x\nshell: sleep 30\n")
    server.add(Reply(sse(call_header(0, "c1", "slow"), chunk(finish="tool_calls"))))
    proc = llmrun(base(server, "--events", "-t", str(tmp_path), "Hi"), tmp_path,
                  start_new_session=True)
    first = proc.stdout.readline()
    assert json.loads(first)["type"] == "start"
    while True:  # wait until the tool runs
        event = json.loads(proc.stdout.readline())
        if event["type"] == "tool_call":
            break
    assert wait_for(lambda: any(b"sleep 30" in cmdline(p) for p in descendants(proc.pid)))
    proc.send_signal(signum)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == code
    last = events_of(out)[-1]
    assert last["type"] == "result" and last["error"]["type"] == "interrupted"


# -- budgets ------------------------------------------------------------------------------------
def test_max_cost_stops_before_the_next_step(server, run_cli):
    step = weather_call_step()
    step[-1] = chunk(usage=usage(cost=0.01), choices=False)
    server.add(Reply(sse(*step)), Reply(sse(*answer_step())))
    run = run_cli(["ask", "--json", "--no-stdin", "-p", "openrouter", "--base-url", server.url,
                   "-m", "m", "--max-cost", "0.005", "-t", SAMPLE_TOOLS, "Hi"])
    assert run.code == 6, run
    assert run.json()["error"]["type"] == "max_cost" and len(server.requests) == 1


def test_max_cost_uses_config_prices_and_refuses_without_any(server, run_cli, tmp_path):
    run = run_cli(["ask", "--json", "--no-stdin", "-p", "openai", "-m", "m", "--max-cost", "1",
                   "Hi"])  # a preset known not to report cost
    assert run.code == 3 and "prices" in run.json()["error"]["message"]
    assert server.requests == []  # refused before anything was spent
    config = tmp_path / "config.yaml"
    config.write_text(f"providers:\n  - name: local\n    base_url: {server.url}\n"
                      "    prices: {m: {prompt: 1000, completion: 1000}}\n")
    server.add(Reply(sse(*weather_call_step())), Reply(sse(*answer_step())))
    run = run_cli(["ask", "--json", "--no-stdin", "-p", "local", "-m", "m", "--max-cost",
                   "0.01", "-t", SAMPLE_TOOLS, "Hi"], env={"LLMRUN_CONFIG": str(config)})
    assert run.code == 6 and run.json()["error"]["type"] == "max_cost"
    assert run.json()["usage"]["cost"] == pytest.approx(0.015)  # (10 + 5) * 1000 / 1e6
    assert len(server.requests) == 1


def test_max_tool_calls_runs_none_of_a_step_that_would_pass_it(server, run_cli, tmp_path):
    marker = tmp_path / "ran"
    (tmp_path / "t.yaml").write_text(f"name: t\ndescription: x\ncommand: [touch, '{marker}']\n")
    step = [call_header(0, "a", "t"), call_args(0, "{}"), call_header(1, "b", "t"),
            call_args(1, "{}"), chunk(finish="tool_calls")]
    server.add(Reply(sse(*step)))
    run = run_cli(base(server, "--json", "--max-tool-calls", "1", "-t", str(tmp_path), "Hi"))
    assert run.code == 6 and run.json()["error"]["type"] == "max_tool_calls"
    assert not marker.exists() and len(server.requests) == 1


def test_deadline_kills_a_30_second_tool_in_time(server, tmp_path):
    # an odd length of sleep: no other process on the machine has that command line
    (tmp_path / "slow.yaml").write_text("name: slow\ndescription: x\nshell: sleep 30.4242\n")
    server.add(Reply(sse(call_header(0, "c1", "slow"), chunk(finish="tool_calls"))))
    start = time.monotonic()
    proc = llmrun(base(server, "--json", "--deadline", "2", "-t", str(tmp_path), "Hi"), tmp_path)
    out, err = proc.communicate(timeout=30)
    elapsed = time.monotonic() - start
    assert proc.returncode == 6, err
    result = json.loads(out)
    assert result["error"]["type"] == "deadline" and "running tool slow" in \
        result["error"]["message"]
    assert elapsed < 10  # 2 s, plus llmrun's start-up, on a loaded machine; the tool is 30 s
    assert b"sleep 30.4242" not in subprocess.run(["ps", "-eo", "args"],
                                                  capture_output=True).stdout


def test_deadline_also_bounds_a_silent_server(server, tmp_path):
    server.add(Reply(sse(text("Hel"), text("lo"), chunk(finish="stop")), delay=5))
    start = time.monotonic()
    proc = llmrun(base(server, "--json", "--deadline", "1", "Hi"), tmp_path)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 6 and json.loads(out)["error"]["type"] == "deadline"
    assert time.monotonic() - start < 8  # the reply alone would take 10 s or more


# -- exit codes that never lie -------------------------------------------------------------------
def test_fail_on_tool_error_exits_7_after_printing_the_answer(server, tmp_path):
    (tmp_path / "bad.yaml").write_text("name: bad\ndescription: x\nshell: exit 3\n")
    server.add(Reply(sse(call_header(0, "c1", "bad"), chunk(finish="tool_calls"))),
               Reply(sse(*answer_step("Done anyway."))))
    proc = llmrun(base(server, "--fail-on-tool-error", "-t", str(tmp_path), "Hi"), tmp_path)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 7 and out == "Done anyway.\n"
    assert "1 tool call ended in an error" in err


def test_a_tool_call_cut_by_the_token_limit_is_not_run(server, run_cli, tmp_path):
    marker = tmp_path / "ran"
    (tmp_path / "t.yaml").write_text(
        "name: t\ndescription: x\nparameters: {type: object, properties: {p: {type: string}}}\n"
        f"command: [touch, '{marker}']\n")
    server.add(Reply(sse(call_header(0, "c1", "t"), call_args(0, '{"p": "/a/b'),
                         chunk(finish="length"))))
    run = run_cli(base(server, "--json", "-t", str(tmp_path), "Hi"))
    assert run.code == 6 and run.json()["error"]["type"] == "max_tokens"
    assert not marker.exists() and len(server.requests) == 1


def test_a_final_answer_cut_by_the_token_limit_exits_0_and_says_so(server, run_cli):
    server.add(Reply(sse(text("The answer is"), chunk(finish="length"))))
    run = run_cli(base(server, "Hi"))
    assert run.code == 0 and run.stdout == "The answer is\n"
    assert "cut by the output token limit" in run.stderr
    server.add(Reply(sse(text("The answer is"), chunk(finish="length"))))
    assert "cut by" not in run_cli(base(server, "-q", "Hi")).stderr


# -- retries ------------------------------------------------------------------------------------
def test_a_retry_after_of_an_hour_fails_at_once(server, tmp_path):
    server.add(json_reply(429, {"error": {"message": "quota exceeded"}},
                          {"Retry-After": "3600"}))
    start = time.monotonic()
    proc = llmrun(base(server, "--json", "Hi"), tmp_path)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 4 and time.monotonic() - start < 3
    message = json.loads(out)["error"]["message"]
    assert "asked to wait 3600 s" in message and "quota exceeded" in message
    assert len(server.requests) == 1


def test_a_retry_is_an_event(server, run_cli):
    server.add(json_reply(429, {"error": {"message": "slow down"}}, {"Retry-After": "0.2"}),
               Reply(sse(*answer_step("ok"))))
    run = run_cli(base(server, "--events", "Hi"))
    assert run.code == 0, run
    retries = [e for e in events_of(run.stdout) if e["type"] == "retry"]
    assert retries == [{"type": "retry", "attempt": 1, "wait_s": 0.2, "reason": "HTTP 429"}]


def test_a_500_that_blames_the_request_is_not_retried(server, run_cli):
    body = {"error": {"code": 500, "message": "Failed to parse tool call arguments as JSON",
                      "type": "server_error"}}
    server.add(json_reply(500, body), json_reply(500, body), json_reply(500, body))
    run = run_cli(base(server, "--json", "Hi"))
    assert run.code == 4 and "Failed to parse" in run.json()["error"]["message"]
    assert len(server.requests) == 1


# -- structured answers -------------------------------------------------------------------------
WANT = {"city": "Florence", "temperature_c": 40, "conditions": "sunny and hot"}


@pytest.mark.parametrize("name", ["openai-gpt-4o-mini-json-schema.yaml",
                                  "xai-grok-forced-tool.yaml"])
def test_schema_replays_recorded_structured_output(run_cli, name):
    run = run_cli(["ask", "--json", "--replay", os.path.join(STRUCTURED, name),
                   "--replay-strict", "--schema", SCHEMA, "Weather in Florence as JSON"],
                  env={"LLMRUN_API_KEY": ""})
    assert run.code == 0, run
    out = run.json()
    assert out["data"] == WANT and json.loads(out["answer"]) == WANT


def test_schema_prints_the_json_and_events_carry_data(run_cli):
    cassette = os.path.join(STRUCTURED, "openai-gpt-4o-mini-json-schema.yaml")
    run = run_cli(["ask", "--replay", cassette, "--schema", SCHEMA, "Weather?"],
                  env={"LLMRUN_API_KEY": ""})
    assert run.code == 0 and json.loads(run.stdout) == WANT
    run = run_cli(["ask", "--events", "--replay", cassette, "--schema", SCHEMA, "Weather?"],
                  env={"LLMRUN_API_KEY": ""})
    assert events_of(run.stdout)[-1]["data"] == WANT


def test_an_invalid_answer_gets_one_repair_turn_naming_the_path(server, run_cli):
    server.add(Reply(sse(*answer_step('{"city": "Florence", "temperature_c": "hot", '
                                      '"conditions": "sunny"}'))),
               Reply(sse(*answer_step(json.dumps(WANT)))))
    run = run_cli(base(server, "--json", "--schema", SCHEMA, "Weather?"))
    assert run.code == 0, run
    assert run.json()["data"] == WANT and run.json()["steps"] == 2
    repair = server.bodies()[1]["messages"][-1]
    assert repair["role"] == "user" and "$.temperature_c" in repair["content"]
    assert "'hot' is not of type 'number'" in repair["content"]
    first = server.bodies()[0]
    assert first["response_format"]["json_schema"]["strict"] is True


def test_still_invalid_after_the_repair_is_exit_8(server, run_cli):
    server.add(Reply(sse(*answer_step("not json"))), Reply(sse(*answer_step('{"city": 1}'))))
    run = run_cli(base(server, "--json", "--schema", SCHEMA, "Weather?"))
    assert run.code == 8, run
    assert run.json()["error"]["type"] == "schema" and "$.city" in run.json()["error"]["message"]


def test_schema_as_a_forced_tool_after_regular_tools(server, run_cli):
    server.add(Reply(sse(*weather_call_step())),
               Reply(sse(call_header(0, "fa", "final_answer", json.dumps(WANT)),
                         chunk(finish="tool_calls"))))
    run = run_cli(base(server, "--json", "--schema", SCHEMA, "--schema-mode", "tool",
                       "-t", SAMPLE_TOOLS, "Weather?"))
    assert run.code == 0, run
    assert run.json()["data"] == WANT and run.json()["tool_calls"][0]["name"] == "weather"
    first, second = server.bodies()
    assert [t["function"]["name"] for t in first["tools"]] == ["weather", "final_answer"]
    assert first["tools"][1]["function"]["parameters"] == json.load(open(SCHEMA))
    assert first["tool_choice"] == "required" and "response_format" not in first


def test_a_refusal_is_exit_8(server, run_cli):
    server.add(Reply(sse(chunk({"refusal": "I can't help with that."}), chunk(finish="stop"))))
    run = run_cli(base(server, "--json", "--schema", SCHEMA, "Weather?"))
    assert run.code == 8 and "refused: I can't help with that." in run.json()["error"]["message"]


def test_a_bad_schema_is_a_configuration_error_inline_or_in_a_file(run_cli, tmp_path):
    run = run_cli(["ask", "--schema", '{"type": "nope"}', "hi"])
    assert run.code == 3 and "--schema: the inline schema is not a valid JSON Schema" in run.stderr
    run = run_cli(["ask", "--schema", str(tmp_path / "missing.json"), "hi"])
    assert run.code == 3 and "cannot read" in run.stderr


def test_a_retry_after_past_the_deadline_fails_at_once(server, tmp_path):
    server.add(json_reply(503, {"error": {"message": "busy"}}, {"Retry-After": "20"}))
    start = time.monotonic()
    proc = llmrun(base(server, "--json", "--deadline", "10", "Hi"), tmp_path)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 4 and time.monotonic() - start < 5
    assert "asked to wait 20 s before retrying, past --deadline" in \
        json.loads(out)["error"]["message"]

"""`llmrun ask` end to end against the loopback server with synthetic provider streams."""

import json
import os
import subprocess
import sys

import pytest
from conftest import SAMPLE_TOOLS
from server import Reply, sse
from streams import answer_step, call_args, call_header, chunk, text, usage, weather_call_step


def ask(run_cli, server, *extra, provider="openai", model="gpt-4o-mini", env=None, input=None):
    args = ["ask", "-p", provider, "--base-url", server.url, "-m", model, "-t", SAMPLE_TOOLS,
            *extra]
    return run_cli(args, env=env, input=input)


def test_stdout_holds_only_the_answer(server, run_cli):
    server.add(Reply(sse(*weather_call_step())), Reply(sse(*answer_step("It is 40 C."))))
    run = ask(run_cli, server, "weather?")
    assert run.code == 0, run
    assert run.stdout == "It is 40 C.\n"
    assert "2 steps" in run.stderr and "1 tool call" in run.stderr
    assert server.requests[0].path == "/v1/chat/completions"
    assert server.requests[0].headers["Authorization"] == "Bearer sk-test-key"


def test_json_object_per_contract(server, run_cli):
    server.add(Reply(sse(*weather_call_step())), Reply(sse(*answer_step("Hot."))))
    run = ask(run_cli, server, "--json", "weather?")
    out = run.json()
    assert run.code == 0
    assert out["answer"] == "Hot." and out["steps"] == 2 and out["provider"] == "openai"
    assert out["model"] == "test-model" and out["finish_reason"] == "stop"
    assert out["tool_calls"][0] | {"duration_s": 0} == {
        "id": "call_1", "name": "weather", "arguments": {"location": "Florence"},
        "result": "40 C", "is_error": False, "duration_s": 0}
    assert out["usage"] == {"prompt_tokens": 30, "completion_tokens": 12, "total_tokens": 42,
                            "reasoning_tokens": 0, "cached_tokens": 0, "cache_write_tokens": 0, "cost": None}
    assert out["reasoning"] is None and isinstance(out["duration_s"], float)


def test_parallel_calls_go_back_in_call_order(server, run_cli):
    first = [call_header(0, "c0", "weather"), call_header(1, "c1", "weather"),
             call_args(1, '{"location": "Oslo"}'), call_args(0, '{"location": "Rome"}'),
             chunk(finish="tool_calls"), chunk(usage=usage(), choices=False)]
    server.add(Reply(sse(*first)), Reply(sse(*answer_step())))
    run = ask(run_cli, server, "--json", "two cities")
    assert run.code == 0, run
    messages = server.bodies()[1]["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool", "tool"]
    assert [c["id"] for c in messages[1]["tool_calls"]] == ["c0", "c1"]
    assert [(m["tool_call_id"], m["content"]) for m in messages[2:]] == \
        [("c0", "40 C"), ("c1", "40 C")]


def test_whole_call_in_one_delta_no_finish_reason_usage_in_finish_chunk(server, run_cli):
    first = [call_header(0, "functions.weather:0", "weather", '{"location":"X"}')]
    final = [text("Done"), chunk(finish="stop", usage=usage(1, 2)),
             chunk(usage=usage(1, 2), choices=False)]
    server.add(Reply(sse(*first)), Reply(sse(*final)))
    run = ask(run_cli, server, "--json", "q")
    assert run.code == 0, run
    assert run.json()["answer"] == "Done"
    assert run.json()["usage"]["prompt_tokens"] == 1  # usage twice counts once; step 1 had none


def test_reasoning_in_all_three_fields(server, run_cli):
    final = [chunk({"reasoning": "A", "reasoning_details": [
                 {"type": "reasoning.text", "text": "A", "index": 0}]}),
             chunk({"reasoning_content": "B"}), text("ok"), chunk(finish="stop")]
    server.add(Reply(sse(*final)))
    run = ask(run_cli, server, "--json", "q")
    assert run.json()["reasoning"] == "AB"


def test_system_prompt_goes_first_and_stdin_is_appended(server, run_cli):
    server.add(Reply(sse(*answer_step())))
    run = ask(run_cli, server, "-s", "Be terse.", "Summarise:", input="line one\nline two\n")
    assert run.code == 0, run
    assert server.bodies()[0]["messages"] == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "Summarise:\n\nline one\nline two"}]


def test_stdin_alone_is_the_prompt_and_no_stdin_skips_it(server, run_cli):
    server.add(Reply(sse(*answer_step())), Reply(sse(*answer_step())))
    assert ask(run_cli, server, input="from a pipe\n").code == 0
    assert ask(run_cli, server, "--no-stdin", "words", input="ignored").code == 0
    assert [b["messages"][-1]["content"] for b in server.bodies()] == ["from a pipe", "words"]


def test_empty_prompt_is_a_usage_error(server, run_cli):
    run = ask(run_cli, server, input="  \n")
    assert run.code == 2 and "llmrun: error: empty prompt" in run.stderr
    assert server.requests == []


@pytest.mark.parametrize("provider,model,expect", [
    ("openai", "gpt-4o-mini", {"max_tokens": 99, "reasoning_effort": "low"}),
    ("openai", "o3-mini", {"max_completion_tokens": 99, "reasoning_effort": "low"}),
    ("openrouter", "openai/gpt-5.4-nano", {"max_completion_tokens": 99,
                                           "reasoning": {"effort": "low"},
                                           "usage": {"include": True}}),
    ("openrouter", "qwen/qwen3", {"max_tokens": 99, "reasoning": {"effort": "low"},
                                  "usage": {"include": True}}),
    ("vercel", "anthropic/claude-sonnet-4", {"max_tokens": 99, "reasoning_effort": "low"}),
    ("llamacpp", "local", {"max_tokens": 99, "reasoning_effort": "low"}),
])
def test_dialects(server, run_cli, provider, model, expect):
    server.add(Reply(sse(*answer_step())))
    run = ask(run_cli, server, "--max-tokens", "99", "--reasoning-effort", "low",
              "--temperature", "0.2", "q", provider=provider, model=model)
    assert run.code == 0, run
    body = server.bodies()[0]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert body["temperature"] == 0.2 and body["model"] == model
    for key in ("max_tokens", "max_completion_tokens", "reasoning_effort", "reasoning", "usage"):
        assert body.get(key) == expect.get(key), key


def test_generic_base_url_alone_needs_no_key(server, run_cli):
    server.add(Reply(sse(*answer_step())))
    run = run_cli(["ask", "--base-url", server.url, "-m", "local", "hi"],
                  env={"LLMRUN_API_KEY": ""})
    assert run.code == 0, run
    assert "Authorization" not in server.requests[0].headers
    assert "usage" not in server.bodies()[0]


def test_missing_key_names_the_variable(server, run_cli):
    run = run_cli(["ask", "-p", "openrouter", "-m", "x", "hi"], env={"LLMRUN_API_KEY": ""})
    assert run.code == 3
    assert "OPENROUTER_API_KEY" in run.stderr and run.stderr.startswith("llmrun: error:")


def test_provider_key_variable_and_llmrun_api_key_override(server, run_cli):
    server.add(Reply(sse(*answer_step())), Reply(sse(*answer_step())))
    env = {"LLMRUN_API_KEY": "", "OPENROUTER_API_KEY": "sk-or-1"}
    assert ask(run_cli, server, "q", provider="openrouter", env=env).code == 0
    env["LLMRUN_API_KEY"] = "sk-override"
    assert ask(run_cli, server, "q", provider="openrouter", env=env).code == 0
    assert [r.headers["Authorization"] for r in server.requests] == \
        ["Bearer sk-or-1", "Bearer sk-override"]


def test_unknown_provider_is_config_error(run_cli):
    run = run_cli(["ask", "-p", "nope", "-m", "x", "hi"])
    assert run.code == 3 and "unknown provider 'nope'" in run.stderr


def test_max_steps_reached_exits_6_with_partial_json(server, run_cli):
    server.add(*[Reply(sse(*weather_call_step(f"c{i}"))) for i in range(2)])
    run = ask(run_cli, server, "--max-steps", "2", "--json", "loop")
    assert run.code == 6
    out = run.json()
    assert out["error"]["type"] == "max_steps" and out["steps"] == 2
    assert [c["id"] for c in out["tool_calls"]] == ["c0"]  # the last step's calls never ran
    assert "--max-steps" in run.stderr


def test_http_error_exit_4_with_provider_message(server, run_cli):
    server.add(Reply(json.dumps({"error": {"message": "No such model", "code": 404}}).encode(),
                     404, {"Content-Type": "application/json"}, mode="length"))
    run = ask(run_cli, server, "q")
    assert run.code == 4 and "404" in run.stderr and "No such model" in run.stderr


def test_cut_stream_exit_5_keeps_partial_answer_in_json(server, run_cli):
    server.add(Reply(sse(text("partial"), done=False)))
    run = ask(run_cli, server, "--json", "q")
    assert run.code == 5
    out = run.json()
    assert out["answer"] == "partial" and out["error"]["type"] == "stream"


def test_streaming_writes_each_steps_text(server, run_cli):
    first = [text("Let me check."), *weather_call_step()]
    server.add(Reply(sse(*first)), Reply(sse(*answer_step("Hot."))))
    run = ask(run_cli, server, "--stream", "q")
    assert run.code == 0
    assert run.stdout == "Let me check.\nHot.\n"


def test_quiet_and_verbose(server, run_cli):
    server.add(Reply(sse(*weather_call_step())), Reply(sse(*answer_step())),
               Reply(sse(*weather_call_step())), Reply(sse(*answer_step())))
    quiet = ask(run_cli, server, "-q", "q")
    assert quiet.code == 0 and quiet.stderr == ""
    verbose = ask(run_cli, server, "-v", "q")
    assert "weather" in verbose.stderr and "40 C" in verbose.stderr
    assert "step 1" in verbose.stderr


def test_a_surrogate_pair_split_over_two_chunks_is_joined(server, run_cli):
    """`"\\ud83d"` then `"\\ude00"` is legal JSON in two chunks: together they are one emoji;
    a lone half becomes U+FFFD rather than a crash."""
    body = (b'data: {"choices":[{"index":0,"delta":{"content":"hi \\ud83d"}}]}\n\n'
            b'data: {"choices":[{"index":0,"delta":{"content":"\\ude00 \\ud83d"}}]}\n\n'
            b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
            b'data: [DONE]\n\n')
    server.add(Reply(body), Reply(body))
    run = ask(run_cli, server, "--json", "q")
    assert run.code == 0, run
    assert run.json()["answer"] == "hi \U0001F600 \ufffd"
    streamed = ask(run_cli, server, "--stream", "q")
    assert streamed.code == 0, streamed
    assert streamed.stdout.startswith("hi ")


@pytest.mark.parametrize("extra", [["--timeout", "inf"], ["--timeout", "nan"],
                                   ["--temperature", "nan"], ["--temperature", "-1"]])
def test_numbers_json_cannot_carry_are_usage_errors(server, extra):
    proc = subprocess.run([sys.executable, "-m", "llmrun", "ask", *extra, "--base-url",
                           server.url, "-m", "m", "hi"], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=30)
    assert proc.returncode == 2
    assert proc.stderr.startswith("llmrun: error: ") and proc.stderr.count("\n") == 1
    assert server.requests == []


@pytest.mark.parametrize("how", ["stdin", "argv"])
def test_a_prompt_that_is_not_utf8_is_a_usage_error(server, how):
    argv = [sys.executable, "-m", "llmrun", "ask", "--base-url", server.url, "-m", "m"]
    if how == "argv":
        argv.append(os.fsdecode(b"caf\xe9"))
    proc = subprocess.run(argv, input=b"\xff\xfe abc" if how == "stdin" else b"",
                          capture_output=True, timeout=30)
    assert proc.returncode == 2
    assert proc.stderr.decode().startswith("llmrun: error: the prompt is not UTF-8 text")
    assert server.requests == []


def test_model_is_the_last_steps_else_the_requested_one(server, run_cli):
    first = [*weather_call_step()[:-1], chunk(usage=usage(), choices=False, model="served-1")]
    final = [text("ok", model=""), chunk(finish="stop", model="")]
    server.add(Reply(sse(*first)), Reply(sse(*final)))
    assert ask(run_cli, server, "--json", "q").json()["model"] == "gpt-4o-mini"

"""Cassettes as a product feature: --record, --replay, --replay-strict."""

import glob
import os
import re
import subprocess
import sys

import pytest
import yaml
from conftest import ROOT, SAMPLE_TOOLS
from recorded import final_text, recorded_usage
from server import Reply, TestServer, sse
from streams import answer_step, weather_call_step

SAMPLES = sorted(p for p in glob.glob(os.path.join(ROOT, "samples", "*.yaml"))
                 if os.path.basename(p) != "config.yaml")  # the sample config is no cassette
KEY = "sk-distinctive-Zq8v3RkT0pSecret"


def live_run(run_cli, server, cassette, *extra):
    return run_cli(["ask", "-p", "openrouter", "--base-url", server.url, "-m", "m",
                    "-t", SAMPLE_TOOLS, "--json", "--record", str(cassette), *extra,
                    "weather in Florence?"], env={"LLMRUN_API_KEY": KEY})


def test_record_then_replay_with_server_stopped(run_cli, tmp_path):
    cassette = tmp_path / "run.yaml"
    with TestServer() as server:
        server.add(Reply(sse(*weather_call_step())), Reply(sse(*answer_step("It is 40 C."))))
        live = live_run(run_cli, server, cassette)
    assert live.code == 0, live
    replay = run_cli(["ask", "--replay", str(cassette), "-t", SAMPLE_TOOLS, "--json",
                      "weather in Florence?"], env={"LLMRUN_API_KEY": ""})
    assert replay.code == 0, replay
    a, b = live.json(), replay.json()
    for key in ("answer", "usage", "steps", "model", "provider", "finish_reason"):
        assert a[key] == b[key], key
    strip = [{k: v for k, v in c.items() if k != "duration_s"} for c in a["tool_calls"]]
    assert strip == [{k: v for k, v in c.items() if k != "duration_s"}
                     for c in b["tool_calls"]]


def test_recording_is_go_vcr_v2_without_secrets(run_cli, tmp_path):
    cassette = tmp_path / "run.yaml"
    with TestServer() as server:
        server.add(Reply(sse(*weather_call_step())), Reply(sse(*answer_step())))
        assert live_run(run_cli, server, cassette).code == 0
    text = cassette.read_text()
    assert KEY not in text
    assert not re.search(r"(?i)authorization", text)
    data = yaml.safe_load(text)
    assert data["version"] == 2 and len(data["interactions"]) == 2
    first = data["interactions"][0]
    assert first["request"]["method"] == "POST"
    assert first["request"]["url"].endswith("/v1/chat/completions")
    assert first["response"]["code"] == 200 and first["response"]["status"].startswith("200")
    assert first["response"]["body"].startswith("data: {")
    assert first["response"]["body"].rstrip().endswith("data: [DONE]")


def test_key_in_another_header_is_dropped_too(run_cli, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text(f"providers:\n  - name: mine\n    base_url: http://127.0.0.1:1/v1\n"
                      f"    headers: {{X-Custom-Key: '{KEY}', X-Title: llmrun}}\n")
    cassette = tmp_path / "run.yaml"
    with TestServer() as server:
        server.add(Reply(sse(*answer_step())))
        run = run_cli(["ask", "-p", "mine", "--base-url", server.url, "-m", "m",
                       "--record", str(cassette), "hi"],
                      env={"LLMRUN_CONFIG": str(config), "LLMRUN_API_KEY": KEY})
    assert run.code == 0, run
    text = cassette.read_text()
    assert KEY not in text and "X-Title" in text


@pytest.mark.parametrize("sample", SAMPLES, ids=[os.path.basename(s) for s in SAMPLES])
def test_each_sample_replays_offline_to_its_answer(sample, run_cli):
    run = run_cli(["ask", "--replay", sample, "-t", SAMPLE_TOOLS, "--json",
                   "What's the weather in Florence,Italy?"], env={"LLMRUN_API_KEY": ""})
    assert run.code == 0, run
    out = run.json()
    assert out["answer"] == final_text(sample)
    want = recorded_usage(sample)
    assert out["usage"]["total_tokens"] == want["total_tokens"]
    assert out["tool_calls"][0]["result"] == "40 C"


def test_replay_exhausted_exits_5(run_cli, tmp_path):
    cassette = tmp_path / "one.yaml"
    with TestServer() as server:
        server.add(Reply(sse(*answer_step())))
        assert live_run(run_cli, server, cassette).code == 0
    run = run_cli(["ask", "--replay", str(cassette), "--max-steps", "3", "-t", SAMPLE_TOOLS,
                   "q"], env={"LLMRUN_API_KEY": ""}, input="")
    assert run.code == 0  # one request, one answer
    data = yaml.safe_load(cassette.read_text())
    data["interactions"][0]["response"]["body"] = sse(*weather_call_step()).decode()
    cassette.write_text(yaml.safe_dump(data))
    run = run_cli(["ask", "--replay", str(cassette), "-t", SAMPLE_TOOLS, "q"])
    assert run.code == 5
    assert "replay exhausted after 1 interactions" in run.stderr


def test_replay_strict_shows_a_changed_tool_result(run_cli, tmp_path):
    sample = os.path.join(ROOT, "samples", "openai-gpt-4o-mini-weather.yaml")
    args = ["ask", "--replay", sample, "--replay-strict", "-s", "You are a helpful assistant",
            "What's the weather in Florence,Italy?"]
    same = run_cli(args + ["-t", SAMPLE_TOOLS])
    assert same.code == 0, same
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "weather.yaml").write_text(
        open(os.path.join(SAMPLE_TOOLS, "weather.yaml")).read().replace("40 C", "12 C"))
    changed = run_cli(args + ["-t", str(tools)])
    assert changed.code == 3  # a recording mismatch, not provider trouble
    assert "differs from the recording" in changed.stderr
    assert '-    "content": "40 C",' in changed.stderr
    assert '+    "content": "12 C",' in changed.stderr


def test_unreadable_cassette_is_config_error(run_cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("interactions: [1, 2\n")
    run = run_cli(["ask", "--replay", str(bad), "q"])
    assert run.code == 3 and "bad.yaml" in run.stderr
    run = run_cli(["ask", "--replay", str(tmp_path / "missing.yaml"), "q"])
    assert run.code == 3 and "missing.yaml" in run.stderr


def test_readme_first_command_runs_offline_without_key(tmp_path):
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    first = re.search(r"```sh\n(.*?)\n", readme).group(1)
    command = first.split(" && ")[-1]  # the run itself, after making the venv and installing
    assert "pip install" in first and command.startswith(".venv/bin/llmrun ask --replay")
    env = {k: v for k, v in os.environ.items() if not k.endswith("_API_KEY")}
    env.update(HTTP_PROXY="http://127.0.0.1:9", HTTPS_PROXY="http://127.0.0.1:9",
               NO_PROXY="", XDG_CONFIG_HOME=str(tmp_path))
    argv = [sys.executable, "-m", "llmrun"] + _split(command)[1:]
    proc = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "40°C" in proc.stdout or "40 °C" in proc.stdout
    assert "tool call" in proc.stderr


def _split(command):
    import shlex

    return shlex.split(command)


def test_an_unwritable_cassette_fails_before_any_request(run_cli, server, tmp_path):
    run = run_cli(["ask", "--base-url", server.url, "-m", "m", "--record",
                   str(tmp_path / "no" / "such" / "dir.yaml"), "hi"])
    assert run.code == 3 and "cannot write cassette" in run.stderr
    assert server.requests == []


@pytest.mark.parametrize("broken,says", [
    (b"\xff\xfe not utf-8", "not UTF-8"),
    (b"interactions:\n- request: {}\n  response: {code: abc, body: ''}\n", "interaction 0"),
    (b"interactions:\n- request: {}\n  response: {code: 200, body: 5}\n", "body must be text"),
    (b"interactions:\n- request: {}\n  response: {code: 200, headers: [a, b]}\n", "headers"),
])
def test_a_broken_cassette_is_a_config_error(run_cli, tmp_path, broken, says):
    bad = tmp_path / "broken.yaml"
    bad.write_bytes(broken)
    run = run_cli(["ask", "--replay", str(bad), "-m", "m", "-p", "openai", "q"])
    assert run.code == 3, run
    assert run.stderr.startswith("llmrun: error: ") and says in run.stderr

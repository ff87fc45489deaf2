"""Whole `llmrun ask` runs against the local test server: whatever goes wrong in a tool call
reaches the model as an error result in the next request, and the run goes on to answer."""

import json
import os
import subprocess
import sys

import pytest
from server import Reply, sse
from streams import answer_step, call_header, chunk, usage

PY = json.dumps(sys.executable)


def tool_step(*calls):
    """One step asking for `calls` [(name, arguments string)], in parallel."""
    chunks = [call_header(i, f"call_{i + 1}", name, args) for i, (name, args) in enumerate(calls)]
    return chunks + [chunk(finish="tool_calls"), chunk(usage=usage(), choices=False)]


@pytest.fixture
def tooldir(tmp_path):
    (tmp_path / "impl_ask_llmrun.py").write_text(
        "def explode(city):\n    raise RuntimeError(f'no data for {city}')\n")
    (tmp_path / "tools.yaml").write_text(f"""
tools:
  - name: fail
    description: always fails
    shell: 'echo "disk on fire" >&2; exit 7'
  - name: explode
    description: raises
    parameters: {{type: object, properties: {{city: {{type: string}}}}, required: [city]}}
    python: impl_ask_llmrun:explode
  - name: count
    description: needs a positive n
    parameters:
      type: object
      properties: {{n: {{type: integer, minimum: 1}}}}
      required: [n]
    command: [echo, "{{n}}"]
  - name: flood
    description: 10 MB of output
    command: [{PY}, -c, "import sys; sys.stdout.write('y' * 10_000_000)"]
  - name: nap
    description: sleeps 1 s and says when
    parameters: {{type: object, properties: {{tag: {{type: string}}}}}}
    command: [{PY}, -c, "import sys, time; s = time.time(); time.sleep(1); print(sys.argv[1], s, time.time())", "{{tag}}"]
  - name: guarded
    description: needs confirmation
    command: [touch, "{tmp_path}/out/guarded-ran"]
    confirm: true
    sandbox: {{write: ["{tmp_path}/out"]}}
""")
    (tmp_path / "out").mkdir()
    return tmp_path


def ask(run_cli, server, tooldir, *extra):
    return run_cli(["ask", "--base-url", server.url, "-m", "test-model", "--json",
                    "-t", str(tooldir), "go", *extra])


@pytest.mark.parametrize("name, args, words", [
    ("fail", "{}", ["exited with status 7", "disk on fire"]),
    ("explode", '{"city": "Rome"}', ["raised RuntimeError: no data for Rome"]),
    ("count", '{"n": ', ["not valid JSON"]),
    ("count", '{"n": 0}', ["do not match its parameters schema", "0 is less than 1"]),
    ("weather", '{"city": "Rome"}', ["no tool named 'weather'", "fail, explode, count"]),
])
def test_tool_errors_reach_the_model_and_the_run_answers(server, run_cli, tooldir, name,
                                                         args, words):
    server.add(Reply(sse(*tool_step((name, args)))), Reply(sse(*answer_step("sorry"))))
    run = ask(run_cli, server, tooldir)
    assert run.code == 0, run
    out = run.json()
    assert out["answer"] == "sorry" and out["steps"] == 2
    assert out["tool_calls"][0]["is_error"] is True
    sent = server.bodies()[1]["messages"]
    assert sent[-2]["tool_calls"][0]["function"]["arguments"] == args  # echoed as streamed
    assert sent[-1]["role"] == "tool" and sent[-1]["tool_call_id"] == "call_1"
    for w in words:
        assert w in sent[-1]["content"], sent[-1]["content"]


def test_ten_megabytes_of_output_are_cut_and_the_run_answers(server, run_cli, tooldir):
    server.add(Reply(sse(*tool_step(("flood", "{}")))), Reply(sse(*answer_step("too long"))))
    run = ask(run_cli, server, tooldir)
    assert run.code == 0 and run.json()["answer"] == "too long"
    content = server.bodies()[1]["messages"][-1]["content"]
    body, note = content.split("\n[llmrun: output cut", 1)
    assert body == "y" * 65536 and "65536 bytes" in note


def test_parallel_calls_overlap_and_results_go_back_in_call_order(server, run_cli, tooldir):
    server.add(Reply(sse(*tool_step(("nap", '{"tag": "a"}'), ("nap", '{"tag": "b"}'),
                                    ("count", '{"n": 3}')))),
               Reply(sse(*answer_step("rested"))))
    run = ask(run_cli, server, tooldir)
    assert run.code == 0, run
    tool_msgs = [m for m in server.bodies()[1]["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_msgs] == ["call_1", "call_2", "call_3"]
    (ta, sa, ea), (tb, sb, eb) = [m["content"].split() for m in tool_msgs[:2]]
    assert (ta, tb) == ("a", "b") and tool_msgs[2]["content"] == "3"
    assert float(sa) < float(eb) and float(sb) < float(ea), "the two naps did not overlap"


def test_confirm_without_a_terminal_is_refused_and_the_model_told(server, tooldir):
    server.add(Reply(sse(*tool_step(("guarded", "{}")))), Reply(sse(*answer_step("ok"))))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMRUN_")}
    proc = subprocess.run([sys.executable, "-m", "llmrun", "ask", "--base-url", server.url,
                           "-m", "m", "-t", str(tooldir), "--no-stdin", "go"],
                          capture_output=True, text=True, env=env, timeout=60,
                          start_new_session=True)
    assert proc.returncode == 0 and proc.stdout == "ok\n", proc.stderr
    content = server.bodies()[1]["messages"][-1]["content"]
    assert "no terminal to ask on" in content and "--yes" in content
    assert not (tooldir / "guarded-ran").exists()


def test_yes_runs_confirm_tools(server, run_cli, tooldir):
    server.add(Reply(sse(*tool_step(("guarded", "{}")))), Reply(sse(*answer_step("done"))))
    run = ask(run_cli, server, tooldir, "--yes")
    assert run.code == 0 and run.json()["tool_calls"][0]["is_error"] is False
    assert (tooldir / "out" / "guarded-ran").exists()


def test_a_python_tool_past_its_timeout_is_killed_and_never_prints_later(server, tmp_path):
    """A Python tool runs in a worker process: at its timeout the worker is killed, so it
    cannot print anything later, into the JSON object or anywhere else."""
    (tmp_path / "late_llmrun.py").write_text(
        "import time\ndef late():\n    time.sleep(1.0)\n    print('LEAKED')\n    return 'x'\n")
    (tmp_path / "late.yaml").write_text("name: late\ndescription: slow\n"
                                        "python: late_llmrun:late\ntimeout: 0.3\n")
    server.add(Reply(sse(*tool_step(("late", "{}")))),
               # the answer trickles in (~1 s), so the abandoned function prints meanwhile
               Reply(sse(*answer_step("Done")), delay=0.1))
    proc = subprocess.run([sys.executable, "-m", "llmrun", "ask", "--json", "--no-stdin",
                           "--base-url", server.url, "-m", "m", "-t", str(tmp_path), "go"],
                          capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, LLMRUN_API_KEY="k"))
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)  # exactly one object: nothing else on stdout
    assert out["tool_calls"][0]["is_error"] and "timed out" in out["tool_calls"][0]["result"]
    assert "LEAKED" not in proc.stderr + proc.stdout

"""The run log written by real runs: `llmrun ask` against the loopback server (HOME and
XDG_STATE_HOME in a temporary folder, conftest), real tool processes, real subprocesses
for SIGKILL and for many writers at once."""

import glob
import json
import os
import signal
import stat
import subprocess
import sys
import textwrap
from decimal import Decimal

import pytest
from conftest import ROOT, SAMPLE_TOOLS
from server import Reply, TestServer, sse
from streams import answer_step, call_args, call_header, chunk, text, usage, weather_call_step

KEY = "sk-echoed-Zq8v3RkT0pSecretKey"
CASSETTE = sorted(glob.glob(os.path.join(ROOT, "samples", "openrouter-gpt-5.4-nano*.yaml")))[0]


def settle():
    """In-process runs: wait until their log threads closed the file (the -wal is gone)."""
    import threading

    for thread in threading.enumerate():
        if thread.name == "llmrun-runlog":
            thread.join(30)


def log_dir(tmp_path):
    return tmp_path / "state" / "llmrun"


def ask(run_cli, server, *args, env=None):
    return run_cli(["ask", "--no-stdin", "--base-url", server.url, "-m", "test-model",
                    "-t", SAMPLE_TOOLS, *args], env=env)


def lines(run):
    assert run.code == 0, run
    return [json.loads(x) for x in run.stdout.splitlines()]


def test_a_tool_run_is_read_back_by_log_and_show(run_cli, server, tmp_path):
    server.add(Reply(sse(*weather_call_step())), Reply(sse(*answer_step("It is 40 C."))))
    r = ask(run_cli, server, "--json", "weather in Florence?")
    assert r.code == 0, r
    settle()
    folder = log_dir(tmp_path)
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    assert stat.S_IMODE(os.stat(folder / "runs.db").st_mode) == 0o600
    [line] = lines(run_cli(["log", "--json"]))
    assert (line["status"], line["exit_code"], line["steps"], line["tool_call_count"]) == \
        ("done", 0, 2, 1)
    assert line["prompt"] == "weather in Florence?" and line["provider"] == "generic"
    shown = run_cli(["log", "show", "--json", "last"]).json()
    printed = r.json()
    for key in ("answer", "tool_calls", "usage", "steps", "model", "finish_reason"):
        assert shown[key] == ([dict(c, step=1, source=os.path.join(SAMPLE_TOOLS,
                                                                    "weather.yaml"))
                               for c in printed[key]] if key == "tool_calls" else printed[key])
    assert shown["tool_calls"][0]["arguments"] == {"location": "Florence"}
    assert shown["tool_calls"][0]["result"] == "40 C"
    assert shown["prompt"] == "weather in Florence?" and shown["cwd"] == os.getcwd()
    assert shown["usage"]["prompt_tokens"] == 30


def echoing_steps(key):
    """A server that echoes the key in reasoning, text and tool arguments, split across
    deltas and \\u-escaped."""
    half = len(key) // 2
    escaped = "".join(f"\\u{ord(c):04x}" for c in key)
    step1 = [chunk({"role": "assistant", "reasoning": f"thinking {key[:half]}"}),
             chunk({"reasoning": f"{key[half:]} done"}),
             call_header(0, "call_1", "weather"),
             call_args(0, '{"location":"' + key[:half]), call_args(0, key[half:] + '"}'),
             chunk(finish="tool_calls"), chunk(usage=usage(), choices=False)]
    body2 = sse(text(f"the key is {key[:3]}"), text(f"{key[3:]}!"), chunk(finish="stop"),
                chunk(usage=usage(), choices=False)).replace(key[5:].encode(),
                                                             escaped[6 * 5:].encode())
    return Reply(sse(*step1)), Reply(body2)


def test_an_echoed_key_leaves_no_copy_in_any_file_of_the_log(run_cli, server, tmp_path):
    server.add(*echoing_steps(KEY))
    r = ask(run_cli, server, "--json", "echo it", env={"LLMRUN_API_KEY": KEY,
                                                     "GITHUB_TOKEN": "ghp_scrubbed0123456789"})
    assert r.code == 0, r
    assert "[redacted]" in r.json()["answer"]
    settle()
    folder = log_dir(tmp_path)
    files = os.listdir(folder)
    assert "runs.db" in files
    for name in files:
        data = (folder / name).read_bytes()
        for piece in (KEY, KEY[:12], KEY[-12:]):
            assert piece.encode() not in data, (name, piece)
    cassette = run_cli(["log", "cassette", "last"]).stdout
    assert KEY not in cassette and "[redacted]" in cassette


def test_sigkill_after_step_1_keeps_step_1_and_shows_killed(run_cli, tmp_path):
    """llmrun is killed while step 1's tool runs: the log already holds step 1."""
    import sqlite3

    from test_signals import wait_for

    tool = tmp_path / "slow.yaml"
    tool.write_text("name: weather\ndescription: slow weather\nparameters: {type: object}\n"
                    "shell: 'sleep 8'\n")  # ends by itself soon after the test
    env = dict(os.environ, LLMRUN_API_KEY="sk-test-key", PYTHONPATH=ROOT)
    db = log_dir(tmp_path) / "runs.db"

    def step_1_logged():
        try:
            return sqlite3.connect(str(db)).execute("SELECT count(*) FROM steps").fetchone()[0]
        except sqlite3.Error:
            return 0

    with TestServer() as server:
        server.add(Reply(sse(*weather_call_step())), Reply(sse(*answer_step("never"))))
        proc = subprocess.Popen([sys.executable, "-m", "llmrun", "ask", "--no-stdin",
                                 "--base-url", server.url, "-m", "m", "-t", str(tool), "hi"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=env, cwd=str(tmp_path))
        try:
            assert wait_for(step_1_logged, 30), proc.stderr.read1(4096) if proc.poll() else ""
            [running] = lines(run_cli(["log", "--json"]))
            assert running["status"] == "running" and running["exit_code"] is None
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        finally:
            proc.kill()
            proc.wait(10)
    [line] = lines(run_cli(["log", "--json"]))
    assert (line["status"], line["exit_code"], line["steps"]) == ("killed", None, 1)
    shown = run_cli(["log", "show", "--json", "last"]).json()
    assert shown["status"] == "killed" and shown["step_log"][0]["finish_reason"] == "tool_calls"
    assert shown["error"]["type"] == "killed"
    assert [l["id"] for l in lines(run_cli(["log", "--json", "--failed"]))] == [line["id"]]


def test_12_processes_of_4_threads_keep_48_runs(tmp_path):
    script = textwrap.dedent(f"""
        import sys, threading, llmrun
        out = []
        def one(n):
            r = llmrun.ask("What's the weather in Florence,Italy?", replay={CASSETTE!r},
                           tools=[{SAMPLE_TOOLS!r}])
            out.append((r.exit_code, r.warnings))
        threads = [threading.Thread(target=one, args=(n,)) for n in range(4)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        print(out)
        sys.exit(0 if out == [(0, [])] * 4 else 1)
        """)
    env = dict(os.environ, PYTHONPATH=ROOT)
    procs = [subprocess.Popen([sys.executable, "-c", script], env=env, cwd=str(tmp_path),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(12)]
    outs = [p.communicate(timeout=240) for p in procs]
    assert [p.returncode for p in procs] == [0] * 12, outs
    import sqlite3

    conn = sqlite3.connect(str(log_dir(tmp_path) / "runs.db"))
    rows = conn.execute("SELECT status, exit_code, kind, count(*) FROM runs "
                        "GROUP BY 1, 2, 3").fetchall()
    assert rows == [("done", 0, "api", 48)]
    assert conn.execute("SELECT count(*) FROM tool_calls").fetchone()[0] == 48


def test_an_unwritable_log_leaves_answer_and_exit_code_unchanged(run_cli, tmp_path):
    (tmp_path / "afile").write_text("not a folder")
    replay = ["ask", "--no-stdin", "--replay", CASSETTE, "-t", SAMPLE_TOOLS, "--json",
              "What's the weather in Florence,Italy?"]
    base = run_cli(replay + ["--no-log"])
    broken = run_cli(replay, env={"LLMRUN_LOG_DB": str(tmp_path / "afile" / "x" / "runs.db")})
    assert broken.code == base.code == 0
    def strip(obj):  # the times differ, nothing else may
        obj = {k: v for k, v in obj.items() if k != "duration_s"}
        obj["tool_calls"] = [{k: v for k, v in c.items() if k != "duration_s"}
                             for c in obj["tool_calls"]]
        return obj

    assert strip(broken.json()) == strip(base.json())
    warnings = [l for l in broken.stderr.splitlines() if "not logged" in l]
    assert len(warnings) == 1 and "afile" in warnings[0], broken.stderr
    assert "not logged" not in base.stderr
    failing = run_cli(replay[:-1] + ["--max-steps", "1", replay[-1]],
                      env={"LLMRUN_LOG_DB": str(tmp_path / "afile" / "runs.db")})
    assert failing.code == 6  # a failing run's own code, whatever the log did


def test_no_log_and_llmrun_no_log_keep_nothing(run_cli, tmp_path):
    replay = ["ask", "--no-stdin", "--replay", CASSETTE, "-t", SAMPLE_TOOLS, "hi"]
    assert run_cli(replay + ["--no-log"]).code == 0
    assert run_cli(replay, env={"LLMRUN_NO_LOG": "1"}).code == 0
    assert not log_dir(tmp_path).exists()
    assert run_cli(replay).code == 0
    assert (log_dir(tmp_path) / "runs.db").exists()


def reasoning_call_step():
    details = {"type": "reasoning.text", "text": "Need the weather.", "signature": "sig-xyz",
               "format": "anthropic-claude-v1", "index": 0}
    return [chunk({"role": "assistant", "reasoning": "Need the weather.",
                   "reasoning_details": [details]}), *weather_call_step()]


def test_continue_sends_the_earlier_conversation(run_cli, server, tmp_path):
    server.add(Reply(sse(*reasoning_call_step())), Reply(sse(*answer_step("It is 40 C."))),
               Reply(sse(*answer_step("Tomorrow too."))), Reply(sse(*answer_step("Again."))))
    first = ask(run_cli, server, "-s", "Be brief.", "weather in Florence?")
    assert first.code == 0, first
    sent = server.bodies()[1]["messages"]  # the second request of the first run
    again = run_cli(["ask", "--no-stdin", "-c", "and tomorrow?"])
    assert again.code == 0 and again.stdout == "Tomorrow too.\n", again
    body = server.bodies()[2]
    from llmrun.settings.providers import strip_cache_marks

    earlier = strip_cache_marks(sent) + [{"role": "assistant", "content": "It is 40 C."}]
    assert strip_cache_marks(body["messages"]) == earlier + [
        {"role": "user", "content": "and tomorrow?"}]
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    assert body["messages"][2]["reasoning_details"][0]["signature"] == "sig-xyz"
    assert body["model"] == "test-model" and [t["function"]["name"] for t in body["tools"]] \
        == ["weather"]
    first_id = lines(run_cli(["log", "--json"]))[-1]["id"]
    third = run_cli(["ask", "--no-stdin", "--cid", first_id, "-m", "other", "once more"])
    assert third.code == 0, third
    body = server.bodies()[3]
    assert body["model"] == "other" and body["messages"][-1]["content"] == "once more"
    assert len(body["messages"]) == len(earlier) + 1


def test_continue_with_the_log_off_or_empty_is_exit_3(run_cli, tmp_path):
    for args, env in ((["-c"], {}), (["-c", "--no-log"], {}), (["-c"], {"LLMRUN_NO_LOG": "1"}),
                      (["--cid", "nope"], {})):
        r = run_cli(["ask", "--no-stdin", *args, "hi"], env=env)
        assert r.code == 3 and r.stderr.startswith("llmrun: error:"), (args, r)


def test_log_cost_sums_reported_costs_exactly(run_cli, server):
    costs = [0.1, 0.2, 0.0000814, 0.000000123456]
    for cost in costs:
        server.add(Reply(sse(*answer_step("ok")[:-1],
                             chunk(usage=usage(20, 7, cost=cost), choices=False))))
        assert ask(run_cli, server, "hi").code == 0
    server.add(Reply(sse(*answer_step("no cost"))))
    assert ask(run_cli, server, "hi").code == 0
    [total] = lines(run_cli(["log", "cost", "--json"]))
    assert total["cost"] == float(sum(Decimal(repr(c)) for c in costs))
    assert total["runs"] == 5 and total["runs_without_cost"] == 1
    [day] = lines(run_cli(["log", "cost", "--by", "day", "--json"]))
    assert day["cost"] == total["cost"]


def test_log_cassette_replays_to_the_same_answer(run_cli, server, tmp_path):
    server.add(Reply(sse(*reasoning_call_step())), Reply(sse(*answer_step("Hot: 40 C."))))
    live = ask(run_cli, server, "--json", "weather?")
    assert live.code == 0, live
    cassette = tmp_path / "from-log.yaml"
    out = run_cli(["log", "cassette", "last"])
    assert out.code == 0, out
    cassette.write_text(out.stdout)
    server.stop()
    replay = run_cli(["ask", "--no-stdin", "--replay", str(cassette), "--replay-strict", "-t",
                      SAMPLE_TOOLS, "--json", "weather?"], env={"LLMRUN_API_KEY": ""})
    assert replay.code == 0, replay
    a, b = live.json(), replay.json()
    for key in ("answer", "usage", "steps", "model", "finish_reason", "reasoning"):
        assert a[key] == b[key], key
    assert [c["result"] for c in b["tool_calls"]] == ["40 C"]


def test_log_search_finds_a_tool_result(run_cli, server, tmp_path):
    tool = tmp_path / "weather.yaml"
    tool.write_text("name: weather\ndescription: w\nparameters: {type: object}\n"
                    "shell: 'printf \"humidity 93 in Firenze\"'\n")
    server.add(Reply(sse(*weather_call_step())), Reply(sse(*answer_step("Humid."))))
    r = run_cli(["ask", "--no-stdin", "--base-url", server.url, "-m", "m", "-t", str(tool),
                 "weather?"])
    assert r.code == 0, r
    server.add(Reply(sse(*answer_step("Nothing."))))
    assert ask(run_cli, server, "other").code == 0
    found = lines(run_cli(["log", "--json", "--search", "firenze"]))
    assert [f["prompt"] for f in found] == ["weather?"]


def test_the_python_api_logs_and_takes_no_log_and_cid(tmp_path):
    import llmrun

    base = dict(replay=CASSETTE, tools=[SAMPLE_TOOLS])
    question = "What's the weather in Florence,Italy?"
    assert llmrun.ask(question, no_log=True, **base).exit_code == 0
    assert not log_dir(tmp_path).exists()
    first = llmrun.ask(question, **base)
    assert first.exit_code == 0 and first.warnings == []
    import sqlite3

    conn = sqlite3.connect(str(log_dir(tmp_path) / "runs.db"))
    run_id, kind = conn.execute("SELECT id, kind FROM runs").fetchone()
    assert kind == "api"
    with TestServer() as server:
        server.add(Reply(sse(*answer_step("Still 40 C."))))
        again = llmrun.ask("and now?", cid=run_id, base_url=server.url, model="m")
        assert again.exit_code == 0 and again.answer == "Still 40 C.", again.to_dict()
        sent = server.bodies()[0]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "tool", "assistant", "user"]
    assert sent[-1]["content"] == "and now?"
    with pytest.raises(TypeError):
        llmrun.ask("hi", no_log="yes")


def test_the_wal_does_not_grow_run_after_run(tmp_path):
    """A process's exit may cut its close (SQLite's checkpoint) short; the next run folds
    the WAL in as it starts, so the -wal file holds about one run, however many ran."""
    from drive import llmrun

    env = {"XDG_STATE_HOME": str(tmp_path / "state")}
    wal = log_dir(tmp_path) / "runs.db-wal"
    sizes = []
    for n in range(8):
        done = llmrun(tmp_path, "ask", "--replay", CASSETTE, "-t", SAMPLE_TOOLS, "-q",
                      f"weather {n}?", env=env)
        assert done.returncode == 0, done.stderr
        sizes.append(wal.stat().st_size if wal.exists() else 0)
    import sqlite3

    count = sqlite3.connect(str(log_dir(tmp_path) / "runs.db")).execute(
        "SELECT count(*) FROM runs").fetchone()[0]
    assert count == 8
    assert max(sizes) < 350_000, sizes  # one run and the new schema: about 240 KB

"""`llmrun log` and its subcommands, driven as a user would, with HOME and XDG_STATE_HOME
in a temporary folder (conftest); the runs are written by the recorder from realistic
event sequences."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT
from runlog_play import info, one_tool_run, play

from llmrun.runlog.settings import LogSettings, default_path


def the_log():
    return LogSettings(path=default_path())


def test_log_path_is_under_xdg_state_home_or_named(run_cli, tmp_path, monkeypatch):
    r = run_cli(["log", "path"])
    assert r.code == 0 and r.stdout == f"{tmp_path}/state/llmrun/runs.db\n"
    monkeypatch.delenv("XDG_STATE_HOME")
    assert run_cli(["log", "path"]).stdout == f"{tmp_path}/home/.local/state/llmrun/runs.db\n"
    cfg = tmp_path / "config" / "llmrun"
    cfg.mkdir(parents=True)
    (cfg / "config.yaml").write_text("log_db: logs/mine.db\nlog: false\n")
    r = run_cli(["log", "path"])
    assert r.stdout == f"{cfg}/logs/mine.db\n" and "logging is off" in r.stderr
    r = run_cli(["log", "path"], env={"LLMRUN_LOG_DB": str(tmp_path / "env.db")})
    assert r.stdout == f"{tmp_path}/env.db\n"


def test_bad_log_settings_in_the_config_name_file_and_line(run_cli, tmp_path):
    cfg = tmp_path / "config" / "llmrun"
    cfg.mkdir(parents=True)
    for text, words in (("model: m\nlog_keep: soon\n", ":2: 'log_keep' must be an age"),
                        ("log: sometimes\n", ":1: 'log' must be true, false or metadata")):
        (cfg / "config.yaml").write_text(text)
        r = run_cli(["log", "path"])
        assert r.code == 3 and words in r.stderr, r


def test_log_and_show_read_a_run_back(run_cli):
    rec = play(the_log(), one_tool_run(), info())
    r = run_cli(["log", "--json"])
    assert r.code == 0, r
    [line] = [json.loads(x) for x in r.stdout.splitlines()]
    assert line["id"] == rec.id and line["status"] == "done" and line["exit_code"] == 0
    assert (line["steps"], line["tool_call_count"], line["model"]) == (2, 1, "test-model-1")
    assert line["prompt"] == "What's the weather in Florence?"
    assert line["started_at"][10] == "T" and line["started_at"][-6] in "+-"
    shown = run_cli(["log", "show", "--json", "last"]).json()
    assert shown["answer"] == "It is 40 C." and shown["prompt"] == line["prompt"]
    assert shown["tool_calls"][0]["arguments"] == {"location": "Florence"}
    assert shown["tool_calls"][0]["result"] == "40 C"
    assert shown["usage"]["prompt_tokens"] == 30 and shown["exit_code"] == 0
    for key in ("id", "started_at", "ended_at", "status", "system", "cwd", "argv",
                "batch_id", "item_id"):
        assert key in shown
    assert run_cli(["log", "show", "--json", rec.id[:10]]).json()["id"] == rec.id
    plain = run_cli(["log", "show", "last"]).stdout
    assert "step 1" in plain and 'tool weather {"location": "Florence"}' in plain
    assert "40 C" in plain and "It is 40 C." in plain
    listing = run_cli(["log"]).stdout.splitlines()
    assert listing[0].startswith("ID") and listing[1].startswith(rec.id)


def test_filters(run_cli):
    log = the_log()
    play(log, one_tool_run(), info(batch_id="b1", item_id="7"))
    play(log, one_tool_run(exit_code=4, error={"type": "api", "message": "HTTP 500"}))
    play(log, one_tool_run(stop_after="step1"), info(prompt="unfinished"))

    def ids(*args):
        r = run_cli(["log", "--json", *args])
        assert r.code == 0, r
        return [json.loads(x)["status"] + ":" + str(json.loads(x)["exit_code"])
                for x in r.stdout.splitlines()]

    assert ids() == ["killed:None", "done:4", "done:0"]
    assert ids("--failed") == ["killed:None", "done:4"]
    assert ids("--exit", "4") == ["done:4"]
    assert ids("--batch", "b1") == ["done:0"]
    assert ids("-m", "test-model") == ids("-m", "test-model-1") == ids()  # asked, reported
    assert ids("-m", "test") == ids() and ids("-m", "nope") == ids("-p", "nope") == []
    assert ids("--tool", "weather") == ["done:4", "done:0"]
    assert ids("-n", "1") == ["killed:None"]
    assert ids("--since", "1h") == ids() and ids("--until", "1h") == []
    assert ids("--since", "2000-01-01", "--until", "2999-01-01 10:00") == ids()
    bad = run_cli(["log", "--since", "yesterday-ish"])
    assert bad.code == 2 and bad.stderr.startswith("llmrun: error: --since")


def test_search_finds_a_tool_result(run_cli):
    play(the_log(), one_tool_run(result="humidity 93 percent in Firenze"))
    play(the_log(), one_tool_run(result="sunny"))
    r = run_cli(["log", "--json", "--search", "firenze"])
    assert r.code == 0 and len(r.stdout.splitlines()) == 1, r
    assert run_cli(["log", "--json", "--search", '" OR *']).code == 0


def test_cost_by_day_model_tool_and_its_bars(run_cli, tmp_path):
    log = the_log()
    play(log, one_tool_run(costs=(0.1, 0.2)))
    play(log, one_tool_run(costs=(0.0000814, 0.000000123456)))
    play(log, one_tool_run(costs=(None, None)))
    rows = [json.loads(x) for x in run_cli(["log", "cost", "--json"]).stdout.splitlines()]
    assert rows == [{"runs": 3, "prompt_tokens": 90, "completion_tokens": 36,
                     "cost": 0.300081523456, "runs_without_cost": 1}]
    [day] = [json.loads(x) for x in run_cli(["log", "cost", "--by", "day", "--json"])
             .stdout.splitlines()]
    from datetime import date

    assert day["day"] == date.today().isoformat() and day["cost"] == 0.300081523456
    [tool] = [json.loads(x) for x in run_cli(["log", "cost", "--by", "tool", "--json"])
              .stdout.splitlines()]
    assert tool["tool"] == "weather" and tool["runs"] == 3 and tool["calls"] == 3
    piped = run_cli(["log", "cost", "--by", "model"]).stdout
    assert "test-model-1" in piped and "█" not in piped and "#" not in piped
    # on a terminal: a bar per row beside the numbers
    master, slave = os.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "llmrun", "log", "cost", "--by", "day"],
                            stdout=slave, stderr=subprocess.PIPE, cwd=ROOT,
                            env=dict(os.environ, PYTHONIOENCODING="utf-8"))
    os.close(slave)
    from terminal_helpers import read_until_closed

    shown = read_until_closed(master).decode()
    proc.wait(30)
    os.close(master)
    assert "$0.300082" in shown and "█" in shown, shown


def test_cassette_of_a_run_replays_to_the_same_answer(run_cli, tmp_path):
    tool = tmp_path / "weather.yaml"
    tool.write_text(textwrap.dedent("""\
        name: weather
        description: Get weather information for a location
        parameters:
          type: object
          properties: {location: {type: string}}
          required: [location]
        shell: 'printf "40 C"'
        """))
    play(the_log(), one_tool_run(answer="Florence: 40 C, hot."))
    r = run_cli(["log", "cassette", "last"])
    assert r.code == 0, r
    cassette = tmp_path / "run.yaml"
    cassette.write_text(r.stdout)
    replay = run_cli(["ask", "--replay", str(cassette), "-t", str(tool), "--json",
                      "--replay-strict", "--no-cache", "What's the weather in Florence?",
                      "-s", "You are terse."], env={"LLMRUN_API_KEY": ""})
    assert replay.code == 0, replay
    out = replay.json()
    assert out["answer"] == "Florence: 40 C, hot."
    assert out["tool_calls"][0]["result"] == "40 C" and out["steps"] == 2
    assert "Authorization" not in r.stdout


def test_rm_prune_and_their_mistakes(run_cli):
    a = play(the_log(), one_tool_run())
    b = play(the_log(), one_tool_run())
    partial = run_cli(["log", "rm", a.id[:6]])
    assert partial.code in (2, 3) and partial.stderr.startswith("llmrun: error:")
    r = run_cli(["log", "rm", a.id])
    assert r.code == 0 and "removed 1 run" in r.stderr
    assert [json.loads(x)["id"] for x in run_cli(["log", "--json"]).stdout.splitlines()] \
        == [b.id]
    assert run_cli(["log", "prune", "--older-than", "1d"]).stderr.startswith("removed 0 runs")
    bad = run_cli(["log", "prune", "--older-than", "old"])
    assert bad.code == 2 and "expected an age" in bad.stderr
    missing = run_cli(["log", "show", "nosuchrun"])
    assert missing.code == 3 and missing.stderr.startswith("llmrun: error: no run 'nosuchrun'")


def test_no_log_yet_and_a_corrupt_log(run_cli, tmp_path):
    r = run_cli(["log"])
    assert r.code == 0 and r.stdout == "" and "no runs logged yet" in r.stderr
    assert run_cli(["log", "show", "last"]).code == 3
    assert run_cli(["log", "cost", "--json"]).stdout == ""
    path = default_path()
    os.makedirs(os.path.dirname(path))
    with open(path, "wb") as fh:
        fh.write(b"garbage" * 1000)
    r = run_cli(["log"])
    assert r.code == 3 and r.stderr.count("\n") == 1 and r.stderr.startswith("llmrun: error:")


@pytest.mark.parametrize("args", [["log", "--help"], ["log", "cost", "--help"]])
def test_help(run_cli, args):
    assert run_cli(args).code == 0


def test_what_a_server_chose_is_shown_escaped(run_cli):
    """A model name, a tool result and an answer with terminal control sequences never reach
    the terminal raw from `log`, `log show` or `log cost`."""
    evil = "m\x1b]0;pwned\x07\x1b[31m"
    events = one_tool_run(result="ok\x1b[2J", answer="hi\x1b[31m")
    for e in events:
        if e["type"] in ("step", "result"):
            e["model"] = evil
    play(the_log(), events)
    for args in (["log"], ["log", "show", "last"], ["log", "cost", "--by", "model"]):
        out = run_cli(args).stdout
        assert "\x1b" not in out and "\x07" not in out, (args, out)
        assert "\\x1b" in out, args

"""The Python API: one run is a value with its own context; runs in threads never touch each
other; the loop is a stream of events; nothing is printed; bad arguments raise."""

import json
import os
import subprocess
import sys
import threading
import time

import pytest

import llmrun
from drive import ROOT, answer_reply, tool_loop, write_tool
from server import Reply, TestServer, silent

ECHO = ("parameters: {type: object, properties: {text: {type: string}}, required: [text]}\n"
        "command: [printf, '%s', '{text}']\n")
NAP = ("parameters: {type: object, properties: {s: {type: number}}, required: [s]}\n"
       "shell: 'sleep \"$LLMRUN_ARG_S\"; echo slept $LLMRUN_ARG_S'\ntimeout: 60\n")


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("LLMRUN_API_KEY", "sk-api-test")


def test_sixteen_runs_in_sixteen_threads_each_get_their_own_answer(server, tmp_path, key):
    tools = write_tool(tmp_path / "tools", "echo", ECHO)
    server.responder = tool_loop("echo", lambda prompt: {"text": prompt.upper()})
    results = {}

    def one(i):
        results[i] = llmrun.ask(f"item {i}", base_url=server.url, model="m", tools=[tools])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == list(range(16))
    for i, result in results.items():
        assert result.exit_code == 0, result.error
        assert result.answer == f"item {i}: ITEM {i}"
        assert [c["result"] for c in result.tool_calls] == [f"ITEM {i}"]
        assert result.to_dict()["steps"] == 2 and result.error is None
    assert len(server.requests) == 32


def test_a_deadline_stops_its_run_only(server, tmp_path, key):
    """deadline=1 with a 10 s tool ends with exit 6 at once; a run beside it, with a 2 s tool,
    finishes untouched."""
    tools = write_tool(tmp_path / "tools", "nap", NAP)
    server.responder = tool_loop("nap", lambda prompt: {"s": float(prompt.split()[-1])})
    out = {}

    def one(name, seconds, **kw):
        start = time.monotonic()
        out[name] = (llmrun.ask(f"nap {seconds}", base_url=server.url, model="m",
                                tools=[tools], **kw), time.monotonic() - start)

    slow = threading.Thread(target=one, args=("slow", 10), kwargs={"deadline": 1})
    calm = threading.Thread(target=one, args=("calm", 2))
    slow.start(), calm.start()
    slow.join(30), calm.join(30)
    result, took = out["slow"]
    assert result.exit_code == 6 and result.error.kind == "deadline", result.error
    assert took < 5, took  # ~1 s: the tool's process group was killed, not waited for
    calm_result, _ = out["calm"]
    assert calm_result.exit_code == 0, calm_result.error
    assert calm_result.tool_calls[0]["result"] == "slept 2.0"
    assert not calm_result.tool_calls[0]["is_error"]


def test_cancel_stops_a_run_waiting_on_a_stalled_server(server, key):
    server.add(silent(30))
    cancel = threading.Event()
    box = {}

    def one():
        box["result"] = llmrun.ask("hello", base_url=server.url, model="m", cancel=cancel)
        box["at"] = time.monotonic()

    thread = threading.Thread(target=one)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.requests, "the request never arrived"
    cancelled = time.monotonic()
    cancel.set()
    thread.join(10)
    result = box["result"]
    assert result.exit_code == 130 and result.error.kind == "interrupted", result.error
    assert box["at"] - cancelled < 1.0


def test_events_yield_start_to_result_with_the_public_keys(server, tmp_path, key):
    tools = write_tool(tmp_path / "tools", "echo", ECHO)
    server.responder = tool_loop("echo", lambda prompt: {"text": "x"})
    events = list(llmrun.events("go", base_url=server.url, model="m", tools=[tools]))
    kinds = [e["type"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "result"
    assert kinds.count("result") == 1
    assert {"tool_call", "tool_result", "step", "text"} <= set(kinds)
    assert not [k for e in events for k in e if k.startswith("_")]
    call = next(e for e in events if e["type"] == "tool_result")
    assert call["name"] == "echo" and call["result"] == "x" and call["is_error"] is False
    result = events[-1]
    assert result["answer"] == "go: x" and result["steps"] == 2
    json.dumps(events, allow_nan=False)  # every event is plain JSON


def test_closing_events_early_cancels_the_run(server, tmp_path, key):
    tools = write_tool(tmp_path / "tools", "nap", NAP)
    server.responder = tool_loop("nap", lambda prompt: {"s": 30})
    stream = llmrun.events("go", base_url=server.url, model="m", tools=[tools])
    for event in stream:
        if event["type"] == "tool_call":
            break
    start = time.monotonic()
    stream.close()
    assert time.monotonic() - start < 5
    assert not [t for t in threading.enumerate() if t.name == "llmrun-run"]


def test_the_api_writes_nothing_and_gathers_warnings(server, tmp_path, capfd, key):
    (tmp_path / "empty").mkdir()
    server.add(answer_reply("fine"))
    result = llmrun.ask("hi", base_url=server.url, model="m", tools=[str(tmp_path / "empty")],
                        max_steps=3)
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")
    assert result.exit_code == 0 and result.answer == "fine"
    assert result.warnings and "no tool files" in result.warnings[0]


def test_failures_are_results_not_exceptions(key, tmp_path, monkeypatch):
    monkeypatch.delenv("LLMRUN_API_KEY")
    result = llmrun.ask("hi", provider="openrouter", model="m")
    assert result.exit_code == 3 and result.error.kind == "config"
    assert "OPENROUTER_API_KEY" in result.error.message
    assert result.to_dict()["error"]["exit_code"] == 3


@pytest.mark.parametrize("kwargs, kind", [
    ({"max_steps": 0}, ValueError), ({"timeout": float("nan")}, ValueError),
    ({"reasoning_effort": "huge"}, ValueError), ({"parallel": 17}, ValueError),
    ({"record": "a", "replay": "b"}, ValueError), ({"replay_strict": True}, ValueError),
    ({"json": True}, TypeError), ({"quiet": True}, TypeError), ({"no_stdin": True}, TypeError),
    ({"bogus": 1}, TypeError), ({"max_steps": "3"}, TypeError), ({"tools": [1]}, TypeError),
    ({"yes": "no"}, TypeError), ({"cancel": 5}, TypeError),
])
def test_a_bad_argument_raises(kwargs, kind):
    with pytest.raises(kind):
        llmrun.ask("hi", **kwargs)
    with pytest.raises(kind):
        llmrun.events("hi", **kwargs)  # at the call, before anything runs


def test_an_empty_prompt_raises():
    with pytest.raises(ValueError, match="empty prompt"):
        llmrun.ask("  ")
    with pytest.raises(TypeError):
        llmrun.ask(None)


def test_import_llmrun_is_as_cheap_as_help():
    code = ("import sys, llmrun; heavy = [m for m in ('requests', 'yaml', 'jsonschema', "
            "'click', 'llmrun.api') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env=dict(os.environ, PYTHONPATH=ROOT), check=True).stdout
    assert out.strip() == "[]"


def test_a_session_shares_its_gate_and_runs_keep_their_own_results(key, tmp_path):
    with TestServer() as server:
        server.responder = tool_loop(None, lambda p: {})
        with llmrun.Session(rpm=6000) as session:
            results = [session.ask(f"q{i}", base_url=server.url, model="m") for i in range(3)]
    assert [r.answer for r in results] == ["q0: ", "q1: ", "q2: "]
    with pytest.raises(ValueError):
        llmrun.Session(rpm=0)


def test_a_429_pauses_every_run_of_a_session(key):
    """One run's 429 with Retry-After holds back another run's request for that long."""
    with TestServer() as server:
        busy = Reply(b'{"error": {"message": "slow down"}}', 429,
                     {"Content-Type": "application/json", "Retry-After": "2"},
                     mode="length", split="none")
        replies = iter([busy])
        server.responder = lambda request: next(replies, None) or answer_reply("ok")
        out = {}
        with llmrun.Session() as session:
            def second():
                out["b"] = session.ask("b", base_url=server.url, model="m")

            other = threading.Thread(target=second)
            for event in session.events("a", base_url=server.url, model="m"):
                if event["type"] == "retry":
                    other.start()  # A was told to wait: B must wait with it
                if event["type"] == "result":
                    out["a"] = event
            other.join(30)
        assert out["a"]["answer"] == "ok" and out["b"].answer == "ok"
        first, *later = [r.at for r in server.requests]
        assert len(later) == 2 and min(later) - first >= 1.9, [t - first for t in later]


def test_a_stopped_run_breaks_no_other_run_of_its_session(key):
    """The session's pool lends a connection to one run at a time: the run that holds it
    may shut it (its deadline), the runs before and after it are not touched."""
    with TestServer() as server:
        stalled = {"n": 0}

        def respond(request):
            text = json.loads(request.body)["messages"][-1]["content"]
            if text == "stall":
                stalled["n"] += 1
                reply = answer_reply("never")
                reply.cut_after, reply.stall = 8, 20
                return reply
            return answer_reply(text)
        server.responder = respond
        with llmrun.Session() as session:
            first = [session.ask(f"q{i}", base_url=server.url, model="m") for i in range(3)]
            cut = session.ask("stall", base_url=server.url, model="m", deadline=1)
            after = session.ask("after", base_url=server.url, model="m")
    assert [r.answer for r in first] == ["q0", "q1", "q2"]
    assert cut.exit_code == 6 and stalled["n"] == 1
    assert after.exit_code == 0 and after.answer == "after"

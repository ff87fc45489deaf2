"""MCP servers as a tool source, against a real server built with the official SDK (over stdio
and Streamable HTTP) and a small fake of our own for the protocol's edges. Driven through the
CLI as a real subprocess, with the loopback model server scripting the tool calls."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import drive
import pytest
from conftest import SAMPLE_TOOLS
from server import Reply, sse
from streams import answer_step, call_args, call_header, chunk, usage

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SDK = os.path.join(ROOT, "tests", "mcp_servers", "sdk_server.py")
FAKE = os.path.join(ROOT, "tests", "mcp_servers", "fake_server.py")
pytest.importorskip("mcp")


env_for = drive.env_for


def servers_file(tmp_path, **servers):
    path = tmp_path / "mcp.json"
    path.write_text(json.dumps({"mcpServers": servers}))
    return str(path)


def stdio(tmp_path, *args, **more):
    """An SDK server over stdio; the tmp path in its argv finds it in /proc later."""
    return dict({"command": sys.executable, "args": [SDK, "stdio", str(tmp_path), *args]}, **more)


def fake(tmp_path, *modes, **more):
    return dict({"command": sys.executable, "args": [FAKE, *modes, str(tmp_path)]}, **more)


def tool_step(*calls):
    chunks = []
    for i, (name, args) in enumerate(calls):
        chunks += [call_header(i, f"call_{i}", name), call_args(i, json.dumps(args))]
    return chunks + [chunk(finish="tool_calls"), chunk(usage=usage(), choices=False)]


llmrun = drive.llmrun


def ask(tmp_path, server, mcp, *extra, **kw):
    return llmrun(tmp_path, "ask", "--json", "--no-stdin", "--base-url", server.url, "-m", "m",
                  "--mcp", mcp, *extra, "go", **kw)


def alive_with(marker):
    """Processes (not zombies) whose command line holds `marker`."""
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                cmdline = fh.read()
            with open(f"/proc/{pid}/stat") as fh:
                state = fh.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker.encode() in cmdline and state != "Z":
            found.append(int(pid))
    return found


def assert_none_left(tmp_path):
    deadline = time.monotonic() + 3
    while alive_with(str(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert alive_with(str(tmp_path)) == [], "an MCP server outlived llmrun"


@pytest.fixture
def http_server(tmp_path):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, SDK, "http", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env_for(tmp_path))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    yield {"url": f"http://127.0.0.1:{port}/mcp"}
    proc.terminate()
    proc.wait(10)


def raw_tools_list(tmp_path):
    """tools/list straight from the SDK server, no llmrun in between."""
    messages = [{"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {},
        "clientInfo": {"name": "t", "version": "0"}}},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/list", "params": {}}]
    proc = subprocess.Popen([sys.executable, SDK, "stdio"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    for message in messages:
        proc.stdin.write(json.dumps(message) + "\n")
        proc.stdin.flush()
    while True:
        answer = json.loads(proc.stdout.readline())
        if answer.get("id") == 2:
            break
    proc.kill()
    proc.wait()
    return {t["name"]: t["inputSchema"] for t in answer["result"]["tools"]}


# -- listing --------------------------------------------------------------------------------
def test_tools_list_offers_the_schemas_unchanged(tmp_path, http_server):
    want = raw_tools_list(tmp_path)
    assert "anyOf" in json.dumps(want["choose"])  # the shape others mangle
    for mcp in (servers_file(tmp_path, sdk=stdio(tmp_path)),
                servers_file(tmp_path, sdk=http_server)):
        proc = llmrun(tmp_path, "tools", "list", "--json", "--mcp", mcp)
        assert proc.returncode == 0, proc.stderr
        got = {t["function"]["name"]: t["function"]["parameters"] for t in json.loads(proc.stdout)}
        assert got == want
    assert_none_left(tmp_path)


def test_tools_list_shows_where_tools_come_from_and_which_ask(tmp_path):
    proc = llmrun(tmp_path, "tools", "list", "-t", SAMPLE_TOOLS, "--mcp",
                  servers_file(tmp_path, sdk=stdio(tmp_path)))
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines()}
    assert "weather" in lines and "MCP server 'sdk'" in lines["add"]
    assert "(confirm)" in lines["delete_everything"] and "(confirm)" not in lines["add"]


# -- calls in the tool loop -----------------------------------------------------------------
@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_parallel_mcp_and_yaml_calls_come_back_in_call_order(server, tmp_path, http_server,
                                                            transport):
    spec = stdio(tmp_path) if transport == "stdio" else http_server
    server.add(Reply(sse(*tool_step(("slow", {"seconds": 0.5}), ("weather", {"location": "Rome"}),
                                    ("add", {"a": 2, "b": 40}), ("fail", {"why": "no luck"})))),
               Reply(sse(*answer_step("done"))))
    proc = ask(tmp_path, server, servers_file(tmp_path, sdk=spec), "-t", SAMPLE_TOOLS)
    assert proc.returncode == 0, proc.stderr
    calls = json.loads(proc.stdout)["tool_calls"]
    assert [c["name"] for c in calls] == ["slow", "weather", "add", "fail"]
    assert [c["result"] for c in calls[:3]] == ["slept 0.5", "40 C", "42"]
    assert calls[3]["is_error"] and "Error executing tool fail" in calls[3]["result"]  # isError
    sent = server.requests[1].json()["messages"][-4:]
    assert [m["tool_call_id"] for m in sent] == ["call_0", "call_1", "call_2", "call_3"]
    assert_none_left(tmp_path)


def test_a_call_past_its_timeout_is_cancelled_and_the_run_goes_on(server, tmp_path):
    server.add(Reply(sse(*tool_step(("slow", {"seconds": 20})))), Reply(sse(*answer_step("ok"))))
    proc = ask(tmp_path, server, servers_file(tmp_path, sdk=stdio(tmp_path, timeout=1)))
    assert proc.returncode == 0, proc.stderr
    call = json.loads(proc.stdout)["tool_calls"][0]
    assert call["is_error"] and "timed out after 1 s; the call was cancelled" in call["result"]
    assert proc.elapsed < 15
    assert_none_left(tmp_path)


def test_a_server_that_cannot_start_stops_the_run_before_any_request(server, tmp_path):
    for spec, words in (({"command": str(tmp_path / "no-such-server")}, "cannot start"),
                        (fake(tmp_path, "stderr-then-exit"), "/etc/fake.conf missing"),
                        (fake(tmp_path, "noinit", startup_timeout=1), "no answer within 1 s")):
        proc = ask(tmp_path, server, servers_file(tmp_path, broken=spec))
        assert proc.returncode == 3, proc.stderr
        message = json.loads(proc.stdout)["error"]["message"]
        assert "MCP server 'broken'" in message and words in message, message
    assert server.requests == []
    assert_none_left(tmp_path)


def test_sigterm_during_a_call_prints_the_json_and_leaves_no_server(server, tmp_path):
    server.add(Reply(sse(*tool_step(("slow", {"seconds": 30})))))
    proc = subprocess.Popen([sys.executable, "-m", "llmrun", "ask", "--json", "--no-stdin",
                             "--base-url", server.url, "-m", "m", "--mcp",
                             servers_file(tmp_path, sdk=stdio(tmp_path)), "go"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env_for(tmp_path), cwd=str(tmp_path))
    deadline = time.monotonic() + 30
    while len(server.requests) < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)  # the call is on its way
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert json.loads(out)["error"]["type"] == "interrupted"
    assert_none_left(tmp_path)


def test_confirmation_follows_the_annotations_and_approve(server, tmp_path):
    mcp = servers_file(tmp_path, sdk=stdio(tmp_path))
    server.add(Reply(sse(*tool_step(("delete_everything", {"path": "/"}), ("add", {"a": 1, "b": 1})))),
               Reply(sse(*answer_step("ok"))))
    proc = ask(tmp_path, server, mcp)
    calls = json.loads(proc.stdout)["tool_calls"]
    assert calls[0]["is_error"] and "no terminal to ask on" in calls[0]["result"]
    assert calls[1]["result"] == "2"
    server.add(Reply(sse(*tool_step(("delete_everything", {"path": "/tmp/x"})))),
               Reply(sse(*answer_step("ok"))))
    proc = ask(tmp_path, server, mcp, "--approve", "delete_everything")
    assert json.loads(proc.stdout)["tool_calls"][0]["result"] == "deleted /tmp/x"
    proc = ask(tmp_path, server, mcp, "--approve", "nope")
    assert proc.returncode == 2 and "--approve nope" in proc.stderr


def test_a_server_sees_no_secrets_but_its_own_env(server, tmp_path):
    mcp = servers_file(tmp_path, sdk=stdio(tmp_path, env={"GREETING": "${MY_GREETING}"}))
    server.add(Reply(sse(*tool_step(("env", {"name": "OPENAI_API_KEY"}),
                                    ("env", {"name": "GREETING"})))),
               Reply(sse(*answer_step("ok"))))
    proc = ask(tmp_path, server, mcp, env={"OPENAI_API_KEY": "sk-secret", "MY_GREETING": "hi"})
    assert proc.returncode == 0, proc.stderr
    assert [c["result"] for c in json.loads(proc.stdout)["tool_calls"]] == ["<unset>", "hi"]


def test_a_name_two_sources_share_is_a_configuration_error(server, tmp_path):
    (tmp_path / "add.yaml").write_text("name: add\ndescription: x\ncommand: [echo]\n")
    proc = ask(tmp_path, server, servers_file(tmp_path, sdk=stdio(tmp_path)), "-t",
               str(tmp_path / "add.yaml"))
    assert proc.returncode == 3
    message = json.loads(proc.stdout)["error"]["message"]
    assert "add.yaml:1" in message and "MCP server 'sdk'" in message
    assert server.requests == []
    assert_none_left(tmp_path)


def test_servers_from_the_config_by_name_and_by_default(server, tmp_path):
    config = tmp_path / "config.yaml"
    config.write_text("mcp: [sdk]\nmcp_servers:\n  sdk: " + json.dumps(stdio(tmp_path)) + "\n"
                      "  unused: {command: x, env: {T: '${NOT_SET_ANYWHERE}'}}\n")
    server.add(Reply(sse(*tool_step(("add", {"a": 3, "b": 4})))), Reply(sse(*answer_step("ok"))))
    proc = llmrun(tmp_path, "ask", "--json", "--no-stdin", "--base-url", server.url, "-m", "m",
                  "go", env={"LLMRUN_CONFIG": str(config)})
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["tool_calls"][0]["result"] == "7"
    proc = llmrun(tmp_path, "tools", "list", "--mcp", "nope", env={"LLMRUN_CONFIG": str(config)})
    assert proc.returncode == 3 and "no MCP server of that name (configured: sdk, unused)" \
        in proc.stderr


# -- the protocol's edges (our fake server) ---------------------------------------------------
def test_paginated_tools_list_and_garbage_on_stdout(tmp_path):
    proc = llmrun(tmp_path, "tools", "list", "--mcp",
                  servers_file(tmp_path, f=fake(tmp_path, "paged", "garbage")))
    assert proc.returncode == 0, proc.stderr
    assert [line.split()[0] for line in proc.stdout.splitlines()] == ["t0", "t1", "t2", "t3", "t4"]


def test_a_server_that_dies_mid_call_gives_error_results(server, tmp_path):
    server.add(Reply(sse(*tool_step(("t0", {}), ("t1", {})))),
               Reply(sse(*tool_step(("t0", {})))), Reply(sse(*answer_step("ok"))))
    proc = ask(tmp_path, server, servers_file(tmp_path, f=fake(tmp_path, "die")))
    assert proc.returncode == 0, proc.stderr
    calls = json.loads(proc.stdout)["tool_calls"]
    assert calls[0]["result"].startswith("t0 ran\n[image/png, 12 KiB]")
    assert calls[1]["is_error"] and "is gone" in calls[1]["result"]
    assert calls[2]["is_error"] and "is gone" in calls[2]["result"]  # and stays gone
    assert_none_left(tmp_path)


def test_a_huge_result_is_capped(server, tmp_path):
    server.add(Reply(sse(*tool_step(("t0", {})))), Reply(sse(*answer_step("ok"))))
    proc = ask(tmp_path, server, servers_file(tmp_path, f=fake(tmp_path, "huge")))
    call = json.loads(proc.stdout)["tool_calls"][0]
    assert call["is_error"] and "output cut" in call["result"] and len(call["result"]) < 70000


def test_a_stubborn_server_and_its_children_are_stopped(server, tmp_path):
    server.add(Reply(sse(*answer_step("ok"))))
    proc = ask(tmp_path, server, servers_file(tmp_path, f=fake(tmp_path, "ignore-term", "child")))
    assert proc.returncode == 0, proc.stderr
    assert_none_left(tmp_path)


def test_a_server_that_closed_its_output_still_gets_its_grace_to_exit(tmp_path):
    """Stopping a server waits for its exit through the thread that reads its output (and
    reaps it): one whose output ended early still has its half second after the end of its
    input, before any SIGTERM."""
    import llmrun.tools.mcp.source as source
    from llmrun.base.context import RunContext, activate
    from llmrun.sandbox.policy import settings_for
    from llmrun.settings.config import load_config
    from llmrun.tools.confine import assign
    from llmrun.tools.mcp.spec import parse_server

    # unconfined: a sandbox's helper process would hold the output open for it
    spec = parse_server("f", fake(tmp_path, "linger", sandbox=False), "t")
    assign([spec], settings_for(load_config()))
    with activate(RunContext()):
        servers = source.start_all([spec])
        assert [t["name"] for t in servers[0].listed] == ["t0", "t1"]
        source.stop_all(servers)
    assert (tmp_path / "lingered").read_text() == "done"  # it ended on its own, not by SIGTERM
    assert servers[0].transport.proc.returncode == 0


def test_a_deadline_during_a_call_leaves_no_server(server, tmp_path):
    server.add(Reply(sse(*tool_step(("slow", {"seconds": 30})))))
    proc = ask(tmp_path, server, servers_file(tmp_path, sdk=stdio(tmp_path)), "--deadline", "4")
    assert proc.returncode == 6, proc.stderr
    assert json.loads(proc.stdout)["error"]["type"] == "deadline"
    assert proc.elapsed < 10
    assert_none_left(tmp_path)


def test_a_servers_escape_sequences_never_reach_the_listing(tmp_path):
    proc = llmrun(tmp_path, "tools", "list", "--mcp",
                  servers_file(tmp_path, f=fake(tmp_path, "escape")))
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stdout and "evil \\x1b]0;owned\\x07" in proc.stdout


def test_meanwhile_runs_once_every_server_is_spawned_and_before_they_answer(tmp_path,
                                                                           monkeypatch):
    """What a run does while its servers start (importing the HTTP stack) waits for their
    spawns, so it never delays them, and runs before any handshake ends."""
    import llmrun.tools.mcp.source as source
    from llmrun.base.context import RunContext, activate
    from llmrun.tools.mcp.spec import parse_server

    made, seen = [], []
    real_init = source.McpServer.__init__

    def remember(self, *args, **kw):
        real_init(self, *args, **kw)
        made.append(self)

    def meanwhile():
        seen.append([(s.transport.proc.poll() is None, bool(s.listed)) for s in made])
        (tmp_path / "go").write_text("")  # now the servers may answer

    monkeypatch.setattr(source.McpServer, "__init__", remember)
    specs = [parse_server(name, fake(tmp_path, "wait-for-go", name), "test")
             for name in "ab"]
    with activate(RunContext()):
        servers = source.start_all(specs, meanwhile=meanwhile)
    try:
        assert seen == [[(True, False), (True, False)]]  # both running, neither listed
        assert [len(s.listed) for s in servers] == [2, 2]
    finally:
        source.stop_all(servers)

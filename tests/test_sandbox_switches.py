"""Turning the sandbox off (--no-sandbox, config `sandbox: false`, a tool's `sandbox: false`,
sandbox_tools), widening it (sandbox.read, sandbox_tools), narrowing it (sandbox_deny),
failing closed on a machine that cannot enforce it (simulated), and what `tools check`, -v
and a failed call's error result say."""

import json
import signal
import subprocess
import sys
import time
import os

import pytest
from sandbox_helpers import KEY, World, hanging_tool
from server import Reply, sse
from streams import answer_step, call_args, call_header, chunk, usage


@pytest.fixture
def world(tmp_path):
    return World(tmp_path)


def cat_key(world, *more, env=None):
    return world.run_tool("sh", {"a": "cat ~/.ssh/id_rsa"}, *more, env=env)


def test_no_sandbox_and_config_sandbox_false_run_tools_unconfined(world):
    assert KEY not in cat_key(world).stdout
    assert KEY in cat_key(world, "--no-sandbox").stdout
    world.config("sandbox: false\n")
    assert KEY in cat_key(world).stdout


def test_a_tools_own_sandbox_false_and_sandbox_tools_override(world):
    world.write_tools("""
  - name: open
    description: runs unconfined, on purpose
    shell: cat ~/.ssh/id_rsa
    sandbox: false
""")
    assert KEY in world.run_tool("open", {}).stdout
    world.config("sandbox_tools: {open: {}, sh: false}\n")  # the site decides
    assert KEY not in world.run_tool("open", {}).stdout
    assert KEY in cat_key(world).stdout


def test_sandbox_read_reopens_a_path_and_sandbox_deny_adds_one(world):
    (world.home / "private").mkdir()
    (world.home / "private" / "diary").write_text("dear diary")
    world.write_tools("""
  - name: hosts
    description: reads known_hosts
    shell: cat ~/.ssh/known_hosts; cat ~/.ssh/id_rsa
    sandbox: {read: [~/.ssh/known_hosts]}
""")
    done = world.run_tool("hosts", {})
    assert "github.com ssh-ed25519" in done.stdout and KEY not in done.stdout
    diary = world.run_tool("sh", {"a": "cat ~/private/diary"})
    assert diary.returncode == 0 and "dear diary" in diary.stdout
    world.config("sandbox_deny: [~/private]\n")
    denied = world.run_tool("sh", {"a": "cat ~/private/diary"})
    assert denied.returncode == 7 and "dear diary" not in denied.stdout


def test_llmrun_s_own_config_and_run_log_are_secrets_too(world):
    world.config("model: m\n")
    state = world.home / ".local" / "state" / "llmrun"
    state.mkdir(parents=True)
    (state / "runs.db").write_text("run log")
    config = world.base / "config" / "llmrun" / "config.yaml"
    for path in (config, state / "runs.db"):
        done = world.run_tool("sh", {"a": f"cat {path}"})
        assert done.returncode == 7 and "Permission denied" in done.stdout, path
    elsewhere = world.base / "logs" / "mine.db"  # a log named by LLMRUN_LOG_DB
    elsewhere.parent.mkdir()
    elsewhere.write_text("run log")
    (world.base / "logs" / "mine.db-wal").write_text("run log")
    for path in (elsewhere, str(elsewhere) + "-wal"):
        done = world.run_tool("sh", {"a": f"cat {path}"}, env={"LLMRUN_LOG_DB": str(elsewhere)})
        assert done.returncode == 7 and "Permission denied" in done.stdout, path


def tool_step(name, args="{}"):
    return [call_header(0, "call_0", name), call_args(0, args), chunk(finish="tool_calls"),
            chunk(usage=usage(), choices=False)]


@pytest.mark.parametrize("simulate, words", [("no-landlock", "Landlock"),
                                             ("no-seccomp", "seccomp")])
def test_a_kernel_without_what_the_sandbox_needs_stops_before_the_first_request(
        world, server, simulate, words):
    args = ("ask", "--no-stdin", "--base-url", server.url, "-m", "m", "-t", str(world.tools),
            "go")
    env = {"LLMRUN_API_KEY": "sk-test", "LLMRUN_SANDBOX_SIMULATE": simulate}
    done = world.llmrun(*args, env=env)
    assert done.returncode == 3, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("llmrun: error: ")
    assert words in lines[0] and "--no-sandbox" in lines[0]
    assert server.requests == []  # nothing was sent, nothing ran
    server.add(Reply(sse(*answer_step("fine"))))
    unconfined = world.llmrun(*args[:-1], "--no-sandbox", "go", env=env)
    assert unconfined.returncode == 0 and "fine" in unconfined.stdout
    assert world.run_tool("sh", {"a": "true"}, env=env).returncode == 3  # tools run too


def test_a_host_list_without_network_namespaces_needs_port_only(world, server):
    from sandbox_helpers import Listener

    listener = Listener()
    try:
        world.write_tools(f"""
  - name: fetch
    description: fetches
    parameters: {{type: object, properties: {{url: {{type: string}}}}}}
    command: [python3, -c, "import sys, urllib.request; print(urllib.request.urlopen(sys.argv[1]).read())", "{{url}}"]
    sandbox: {{network: ["127.0.0.1:{listener.port}"]}}
""")
        env = {"LLMRUN_SANDBOX_SIMULATE": "no-userns"}
        url = {"url": f"http://127.0.0.1:{listener.port}/x"}
        refused = world.run_tool("fetch", url, env=env)
        assert refused.returncode == 3 and "sandbox_network: port-only" in refused.stderr
        world.config("sandbox_network: port-only\n")
        weak = world.run_tool("fetch", url, env=env)
        assert weak.returncode == 0 and "ok" in weak.stdout, weak.stdout + weak.stderr
        check = world.llmrun("tools", "check", "-t", str(world.tools), env=env)
        assert "(port-only: " in check.stdout and "user namespaces no" in check.stdout
    finally:
        listener.close()


def test_tools_check_reports_support_and_each_policy(world):
    world.write_tools("""
  - name: web
    description: fetches
    shell: "true"
    sandbox: {network: public, write: [~/out]}
""")
    done = world.llmrun("tools", "check", "-t", str(world.tools))
    assert done.returncode == 0, done.stderr
    assert "sandbox support: Landlock ABI" in done.stdout
    assert "sandbox: web: reads all but secrets; writes its TMPDIR + ~/out; network: public " \
           "hosts via llmrun's proxy" in done.stdout
    assert "sandbox: sh: reads all but secrets; writes its TMPDIR; network: none" in done.stdout
    off = world.llmrun("tools", "check", "-t", str(world.tools), "--no-sandbox")
    assert "sandbox: sh: unconfined (--no-sandbox)" in off.stdout
    sim = world.llmrun("tools", "check", "-t", str(world.tools),
                       env={"LLMRUN_SANDBOX_SIMULATE": "no-landlock"})
    assert sim.returncode == 3 and "Landlock" in sim.stderr and "--no-sandbox" in sim.stderr


def test_bad_sandbox_keys_name_file_and_line(world):
    world.write_tools("""
  - name: bad
    description: x
    shell: "true"
    sandbox:
      network: [not a host!]
""")
    done = world.run_tool("bad", {})
    assert done.returncode == 3
    assert "tools.yaml:20:" in done.stderr and "sandbox.network" in done.stderr, done.stderr
    world.write_tools()
    world.config("model: m\nsandbox_tools:\n  sh: {writ: [.]}\n")
    done = world.run_tool("sh", {"a": "true"})
    assert done.returncode == 3 and "config.yaml:3:" in done.stderr
    assert "unknown sandbox key 'writ'" in done.stderr


def test_verbose_says_each_tools_policy_and_when_the_sandbox_is_off(world, server):
    server.add(Reply(sse(*answer_step("a"))), Reply(sse(*answer_step("b"))))
    args = ("ask", "-v", "--no-stdin", "--base-url", server.url, "-m", "m", "-t",
            str(world.tools))
    on = world.llmrun(*args, "go", env={"LLMRUN_API_KEY": "k"})
    assert "sandbox: sh: reads all but secrets" in on.stderr, on.stderr
    off = world.llmrun(*args, "--no-sandbox", "go", env={"LLMRUN_API_KEY": "k"})
    assert "sandbox: sh: unconfined (--no-sandbox)" in off.stderr


def test_a_failed_confined_call_says_so_in_one_line(world):
    done = cat_key(world)
    notes = [line for line in done.stdout.splitlines() if "sandbox" in line]
    assert len(notes) == 1 and notes[0].startswith("[llmrun: this call ran in the sandbox (")
    assert "reads all but secrets; writes its TMPDIR; network: none" in notes[0]
    ok = world.run_tool("sh", {"a": "echo fine"})
    assert ok.stdout.strip() == "fine"  # a call that works carries no note


def test_sigint_stops_a_confined_tool_and_everything_it_started(world, server):
    pids = hanging_tool(world)
    server.add(Reply(sse(*tool_step("hang"))))
    proc = subprocess.Popen([sys.executable, "-m", "llmrun", "ask", "--json", "--no-stdin",
                             "--base-url", server.url, "-m", "m", "-t", str(world.tools), "go"],
                            env=world.env(LLMRUN_API_KEY="k"), cwd=str(world.home),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not (pids.exists() and pids.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = int(pids.read_text())
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 130 and json.loads(out)["error"]["type"] == "interrupted"
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(f"/proc/{pid}"), "the confined tool's daemon outlived the run"


def test_sandbox_unix_opens_unix_sockets(world):
    import socket as sk

    path = world.base / "out.sock"
    server = sk.socket(sk.AF_UNIX)
    server.bind(str(path))
    server.listen(1)
    connect = (f"python3 -c 'import socket; s = socket.socket(socket.AF_UNIX); "
               f"s.connect(\"{path}\"); print(\"reached\")'")
    try:
        closed = world.run_tool("sh", {"a": connect})
        assert closed.returncode == 7 and "Operation not permitted" in closed.stdout
        world.write_tools(f"""
  - name: podman
    description: talks to a socket
    parameters: {{type: object, properties: {{a: {{type: string}}}}}}
    shell: 'eval "$LLMRUN_ARG_A"'
    sandbox: {{unix: ["{path}"]}}
""")
        opened = world.run_tool("podman", {"a": connect})
        assert opened.returncode == 0 and "reached" in opened.stdout, opened.stdout
    finally:
        server.close()

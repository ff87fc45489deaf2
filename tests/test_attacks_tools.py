"""Issue 22, second round, on tools (items 4, 18 and the tool parts of 20): a tool name a
model or an MCP server chose cannot write escapes to the terminal; the working directory is
never on a Python tool's import path; a Python tool's print() and a multi-line result read
well with -v. Real subprocesses (on a pty where the terminal matters), a loopback server."""

import json
import os
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT
from server import Reply, TestServer, sse
from streams import answer_step
from terminal_helpers import Screen, spawn_on_pty
from test_mcp import env_for, servers_file, tool_step

HOSTILE = os.path.join(ROOT, "tests", "mcp_servers", "hostile_server.py")
EVIL = "t0\x1b]0;owned\x07\x1b[2J\n"  # the hostile server's tool name
UNKNOWN = "nope\x1b]52;c;cHduZWQ=\x07"  # a name the model made up: OSC 52 writes the clipboard


def run(tmp_path, *args, cwd=None, script=False):
    """llmrun in a subprocess; `script`: through the installed console script, since `python
    -m` itself puts the working directory on llmrun's own import path."""
    launcher = [os.path.join(os.path.dirname(sys.executable), "llmrun")] if script \
        else [sys.executable, "-m", "llmrun"]
    return subprocess.run([*launcher, *args], capture_output=True,
                          text=True, timeout=60, env=env_for(tmp_path), stdin=subprocess.DEVNULL,
                          cwd=str(cwd or tmp_path))


def evil_mcp(tmp_path):
    return servers_file(tmp_path, evil={"command": sys.executable,
                                        "args": [HOSTILE, "evil-name", str(tmp_path)]})


# -- 4: escapes in a tool's name ----------------------------------------------------------------
def test_tool_names_with_escapes_are_shown_escaped_in_progress_lines(server, tmp_path):
    server.add(Reply(sse(*tool_step((EVIL, {"x": "a"}), (UNKNOWN, {})))),
               Reply(sse(*answer_step("done"))))
    proc = run(tmp_path, "ask", "-v", "--no-stdin", "--base-url", server.url, "-m", "m",
               "--mcp", evil_mcp(tmp_path), "go")
    assert proc.returncode == 0, proc.stderr
    assert "\x1b" not in proc.stderr and "\x07" not in proc.stderr, repr(proc.stderr)
    lines = proc.stderr.splitlines()
    assert '→ t0\\x1b]0;owned\\x07\\x1b[2J\\x0a {"x": "a"}' in lines, lines
    assert "→ nope\\x1b]52;c;cHduZWQ=\\x07 {}" in lines, lines
    assert any(line.startswith("← t0\\x1b]0;owned\\x07\\x1b[2J\\x0a: ran (") for line in lines)


@pytest.mark.skipif(sys.platform == "win32", reason="needs a Unix pty")
def test_tool_names_with_escapes_never_reach_the_terminal_through_the_spinner(tmp_path):
    with TestServer() as server:
        server.add(Reply(sse(*tool_step((EVIL, {"x": "a"}), (UNKNOWN, {})))),
                   Reply(sse(*answer_step("done"))))
        screen = Screen()
        env = dict(env_for(tmp_path), TERM="xterm-256color")
        proc = spawn_on_pty(["-m", "llmrun", "ask", "--no-stdin", "--base-url", server.url,
                             "-m", "m", "--mcp", evil_mcp(tmp_path), "go"], env, screen)
        code = proc.wait(60)
        screen.close()
    assert code == 0, screen.raw
    raw = screen.raw
    assert "running t0\\x1b]0;owned" in raw  # the spinner did show the name, escaped
    assert "\x1b]" not in raw and "\x07" not in raw and "\x1b[2J" not in raw, repr(raw)


# -- 18: nothing from the working directory is imported -------------------------------------------
@pytest.mark.skipif(not os.path.exists(os.path.join(os.path.dirname(sys.executable), "llmrun")),
                    reason="needs the installed llmrun script")
def test_a_json_py_in_the_working_directory_never_runs_in_a_python_tool(server, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    for module in ("json", "datetime", "zoneinfo", "llmrun_toolkit"):
        (work / f"{module}.py").write_text(
            f"open({str(tmp_path / ('planted-' + module))!r}, 'w').close()\n")
    server.add(Reply(sse(*tool_step(("now", {"timezone": "UTC"})))),
               Reply(sse(*answer_step("done"))))
    proc = run(tmp_path, "ask", "--json", "--no-stdin", "--base-url", server.url, "-m", "m",
               "-t", os.path.join(ROOT, "tools", "now.yaml"), "what time is it?", cwd=work,
               script=True)
    assert proc.returncode == 0, proc.stderr
    call = json.loads(proc.stdout)["tool_calls"][0]
    assert not call["is_error"] and "UTC" in call["result"], call
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("planted")) == []


# -- 20: a Python tool's print() and a multi-line result with -v ----------------------------------
def test_verbose_shows_a_python_tools_prints_and_a_multi_line_result_on_one_line(server,
                                                                                 tmp_path):
    (tmp_path / "chatty.py").write_text(textwrap.dedent("""\
        import json

        def report(city):
            print("looking up", city)
            print("found 2 fields")
            return json.dumps({"city": city, "temp": 40}, indent=2)
    """))
    (tmp_path / "chatty.yaml").write_text(
        "name: report\ndescription: r\nparameters: {type: object, properties: "
        "{city: {type: string}}}\npython: chatty:report\n")
    server.add(Reply(sse(*tool_step(("report", {"city": "Rome"})))),
               Reply(sse(*answer_step("done"))))
    proc = run(tmp_path, "ask", "-v", "--no-stdin", "--base-url", server.url, "-m", "m",
               "-t", str(tmp_path / "chatty.yaml"), "go")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stderr.splitlines()
    assert "  report stderr: looking up Rome" in lines, lines
    assert "  report stderr: found 2 fields" in lines, lines
    assert any(line.startswith('← { "city": "Rome", "temp": 40 } (') for line in lines), lines
    server.add(Reply(sse(*tool_step(("report", {"city": "Rome"})))),
               Reply(sse(*answer_step("done"))))
    quiet = run(tmp_path, "ask", "--no-stdin", "--base-url", server.url, "-m", "m",
                "-t", str(tmp_path / "chatty.yaml"), "go")
    assert "looking up" not in quiet.stderr  # without -v the prints stay out of the way

"""Terminal versus script: a real `python -m llmrun ask` on a pseudo-terminal and in pipes.

On a terminal the spinner and colours appear and the answer streams; through pipes stdout
holds exactly the answer and stderr no control characters. The server holds each event
back until the test has *seen* what should be on screen by then (a spinner, the first
words), so these tests check behaviour, not timing.
"""

import os
import re
import subprocess
import sys
import textwrap
import threading

import pytest
from conftest import ROOT
from server import Reply, TestServer, gated_reply, sse
from streams import answer_step, call_args, call_header, chunk, text, usage
from terminal_helpers import Screen, spawn_on_pty

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a Unix pty")

ARGS = '{"location": "Florence, Italy"}'
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")  # anything but printable text and \n


def slow_tool(tmp_path):
    """A weather tool that runs until the test creates the gate file (so it is seen running)."""
    path = tmp_path / "weather.yaml"
    path.write_text(textwrap.dedent("""\
        name: weather
        description: weather for a location
        parameters: {type: object, properties: {location: {type: string}}}
        shell: 'while [ ! -e "$GATE_FILE" ]; do sleep 0.01; done; echo "40 C"'
        timeout: 30
    """))
    return str(path)


def events(body):
    """An SSE body as one piece per event, so a Reply's delay falls between events."""
    return [piece + b"\n\n" for piece in body.split(b"\n\n") if piece]


def call_step():
    return [call_header(0, "call_1", "weather"), call_args(0, ARGS),
            chunk(finish="tool_calls"), chunk(usage=usage(30, 9), choices=False)]


def child_env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update(LLMRUN_API_KEY="sk-test", TERM="xterm-256color", PYTHONPATH=ROOT,
               GATE_FILE=str(tmp_path / "gate"), COLUMNS="", LINES="")
    env.update(extra)
    return {k: v for k, v in env.items() if v}


def ask_args(server, tmp_path, *more):
    return ["-m", "llmrun", "ask", "--base-url", server.url, "-m", "m", "-t",
            slow_tool(tmp_path), *more, "weather in Florence?"]


def test_on_a_terminal_the_spinner_and_colours_appear_and_the_answer_streams(tmp_path):
    gate = tmp_path / "gate"
    with TestServer() as server:
        screen = Screen()
        replies = [
            gated_reply([(lambda: screen.has("waiting for the model"), sse(*call_step()))]),
            gated_reply([
                (lambda: screen.has("waiting for the model (step 2)"),
                 sse(text("Hello"), done=False)),
                (lambda: screen.has("Hello"),  # the first words are on screen already
                 sse(text(", world!"), chunk(finish="stop"),
                     chunk(usage=usage(40, 5), choices=False))),
            ])]
        server.add(*replies)
        proc = spawn_on_pty(ask_args(server, tmp_path), child_env(tmp_path), screen)
        assert screen.wait_for(lambda: screen.has("running weather"), 30), screen.raw
        gate.touch()
        code = proc.wait(60)
        screen.close()
    assert code == 0, screen.raw
    # every gate opened because its condition came true, none by giving up
    assert [r.opened for r in replies] == [[True], [True, True]], screen.raw
    raw = screen.raw
    assert re.search(r"[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] waiting for the model", raw)
    assert re.search(r"[⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏] running weather", raw)
    assert "\x1b[" in raw  # colour
    assert f"\x1b[2m→ weather {ARGS}\x1b[0m" in raw  # the tool line, dim
    lines = screen.lines()  # what a person sees once it is over
    assert f"→ weather {ARGS}" in lines
    assert any(re.fullmatch(r"← 40 C \(\d+\.\d\d s\)", line) for line in lines), lines
    assert "Hello, world!" in lines
    assert re.match(r"llmrun: 2 steps · 1 tool call · 70 prompt \+ 14 completion", lines[-1])
    assert not [line for line in lines if "waiting" in line or "running" in line], lines


def test_through_pipes_stdout_is_the_answer_and_stderr_has_no_control_characters(tmp_path):
    (tmp_path / "gate").touch()
    with TestServer() as server:
        server.add(Reply(events(sse(*call_step())), delay=0.02),
                   Reply(events(sse(chunk({"reasoning": "Thinking it over."}),
                                    *answer_step("Hello, world!"))), delay=0.02))
        out = subprocess.run([sys.executable, *ask_args(server, tmp_path, "-v",
                                                        "--show-reasoning")],
                             env=child_env(tmp_path), capture_output=True, text=True,
                             stdin=subprocess.DEVNULL, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out
    assert out.stdout == "Hello, world!\n"
    assert not CONTROL.search(out.stderr), repr(out.stderr)
    assert f"→ weather {ARGS}\n" in out.stderr  # -v shows tool calls, plain
    assert "Thinking it over.\n" in out.stderr
    assert "⠋" not in out.stderr and "waiting" not in out.stderr


def test_stdout_redirected_from_a_terminal_keeps_the_answer_clean(tmp_path):
    """`llmrun ask … > file` at a terminal: spinner on the terminal, answer in the file."""
    (tmp_path / "gate").touch()
    with TestServer() as server:
        screen = Screen()
        server.add(gated_reply([(lambda: screen.has("waiting for the model"),
                                 sse(*answer_step("Just the answer.")))]))
        proc = spawn_on_pty(ask_args(server, tmp_path), child_env(tmp_path), screen,
                            stdout=subprocess.PIPE)
        answer = proc.stdout.read()
        code = proc.wait(60)
        screen.close()
    assert code == 0, screen.raw
    assert answer == b"Just the answer.\n"
    assert "waiting for the model" in screen.raw and "Just the answer" not in screen.raw


def test_no_color_keeps_the_spinner_but_drops_colour(tmp_path):
    (tmp_path / "gate").touch()
    with TestServer() as server:
        screen = Screen()
        server.add(gated_reply([(lambda: screen.has("waiting for the model"),
                                 sse(*call_step()))]),
                   Reply(sse(*answer_step("Plain."))))
        proc = spawn_on_pty(ask_args(server, tmp_path, "--show-reasoning"),
                            child_env(tmp_path, NO_COLOR="1"), screen)
        code = proc.wait(60)
        screen.close()
    assert code == 0, screen.raw
    assert "waiting for the model" in screen.raw
    assert "\x1b" not in screen.raw
    assert f"→ weather {ARGS}" in screen.lines() and "Plain." in screen.lines()


def test_term_dumb_gets_tool_lines_but_no_spinner_and_no_colour(tmp_path):
    (tmp_path / "gate").touch()
    with TestServer() as server:
        screen = Screen()
        server.add(Reply(events(sse(*call_step())), delay=0.02),
                   Reply(events(sse(*answer_step("Dumb."))), delay=0.02))
        proc = spawn_on_pty(ask_args(server, tmp_path), child_env(tmp_path, TERM="dumb"),
                            screen)
        code = proc.wait(60)
        screen.close()
    assert code == 0, screen.raw
    assert "\x1b" not in screen.raw and "waiting" not in screen.raw
    lines = screen.lines()
    assert lines[0] == f"→ weather {ARGS}" and lines[1].startswith("← 40 C (")
    assert lines[2] == "Dumb." and lines[3].startswith("llmrun: 2 steps")


def test_quiet_on_a_terminal_shows_no_spinner(tmp_path):
    (tmp_path / "gate").touch()
    with TestServer() as server:
        screen = Screen()
        server.add(Reply(events(sse(*answer_step("Quiet."))), delay=0.05))
        proc = spawn_on_pty(ask_args(server, tmp_path, "-q"), child_env(tmp_path), screen)
        code = proc.wait(60)
        screen.close()
    assert code == 0
    assert screen.lines() == ["Quiet."]


def test_reasoning_is_dim_on_a_terminal_and_ends_before_the_answer(tmp_path):
    (tmp_path / "gate").touch()
    with TestServer() as server:
        screen = Screen()
        server.add(Reply(events(sse(chunk({"reasoning": "Let me think."}),
                                    *answer_step("Done."))), delay=0.02))
        proc = spawn_on_pty(ask_args(server, tmp_path, "--show-reasoning"),
                            child_env(tmp_path), screen)
        code = proc.wait(60)
        screen.close()
    assert code == 0, screen.raw
    assert "\x1b[2mLet me think.\x1b[0m" in screen.raw
    lines = screen.lines()
    assert lines.index("Let me think.") + 1 == lines.index("Done."), lines


def test_an_error_on_a_terminal_erases_the_spinner_first(tmp_path):
    with TestServer() as server:
        screen = Screen()
        server.add(gated_reply([(lambda: screen.has("waiting for the model"),
                                 b'data: {"error": {"message": "overloaded"}}\n\n')]))
        proc = spawn_on_pty(ask_args(server, tmp_path), child_env(tmp_path), screen)
        code = proc.wait(60)
        screen.close()
    assert code == 5, screen.raw
    errors = [line for line in screen.lines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith("llmrun: error: "), screen.lines()
    assert "\x1b[31mllmrun: error: " in screen.raw  # red on a terminal


def test_spinner_thread_ends_with_the_run(tmp_path):
    """In-process: the spinner is a daemon thread that finish() joins; never one in pipes."""
    from llmrun.api.run import result_event
    from llmrun.loop.result import RunResult
    from llmrun.output.render import Renderer

    master, slave = os.openpty()
    screen = Screen.on_fd(master)
    try:
        with open(slave, "w", encoding="utf-8", closefd=False) as tty, \
                open(os.devnull, "w") as out:
            r = Renderer(stream=False, json_mode=False, quiet=False, verbose=False,
                         show_progress=True, out=out, err=tty)
            r.waiting()
            spinners = [t for t in threading.enumerate() if t.name == "llmrun-spinner"]
            assert len(spinners) == 1 and spinners[0].daemon
            r.event(result_event(RunResult(provider="p", model="m", answer="x")))
            assert not spinners[0].is_alive()
            piped = Renderer(stream=False, json_mode=False, quiet=False, verbose=False,
                             show_progress=False, out=out, err=out)
            piped.waiting()
            piped.event({"type": "tool_call", "step": 1, "id": "c", "name": "t",
                         "arguments": {}, "_raw": "{}"})
            assert not [t for t in threading.enumerate() if t.name == "llmrun-spinner"]
    finally:
        os.close(slave)
        screen.close()


def test_control_characters_from_the_model_or_a_tool_are_shown_escaped(tmp_path):
    """Arguments and tool output cannot rewrite the terminal: one line each, escapes shown."""
    tool = tmp_path / "evil.yaml"
    tool.write_text(textwrap.dedent(r"""
        name: evil
        description: prints escape codes
        parameters: {type: object}
        shell: 'printf "\033[2J\033]0;pwned\007gone\rX\nsecond line\n"'
    """))
    pretty = '{\n  "x": "y"\n}'  # valid JSON, pretty-printed over three lines
    raw_esc = '{"x": "\x1b[31mred"}'  # a raw ESC inside a string: invalid JSON
    step = [call_header(0, "call_1", "evil", pretty), call_header(1, "call_2", "evil", raw_esc),
            chunk(finish="tool_calls")]
    with TestServer() as server:
        server.add(Reply(sse(*step)), Reply(sse(chunk({"reasoning": "a\x1b[2Jb"}),
                                                *answer_step("Fine."))))
        out = subprocess.run([sys.executable, "-m", "llmrun", "ask", "--base-url", server.url,
                              "-m", "m", "-t", str(tool), "-v", "go"],
                             env=child_env(tmp_path), capture_output=True, text=True,
                             stdin=subprocess.DEVNULL, timeout=60, cwd=ROOT)
    assert out.returncode == 0, out
    assert out.stdout == "Fine.\n"
    assert not CONTROL.search(out.stderr), repr(out.stderr)
    lines = out.stderr.splitlines()
    assert '→ evil { "x": "y" }' in lines
    assert '→ evil {"x": "\\x1b[31mred"}' in lines
    assert any(line.startswith("← evil: \\x1b[2J\\x1b]0;pwned\\x07gone X second line (")
               for line in lines), lines
    assert any(line.startswith("✗ evil: error: ") for line in lines), lines
    assert "a\\x1b[2Jb" in lines

"""The renderer on a real pty under concurrency: tool callbacks from many threads, the
spinner drawing all the while, and a confirmation question the spinner must not cover."""

import json
import os
import sys
import textwrap
import threading


import pytest
from conftest import ROOT
from server import Reply, TestServer, sse
from streams import answer_step, call_args, call_header, chunk, usage
from terminal_helpers import Screen, spawn_on_pty

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="needs a Unix pty")

FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def test_tool_lines_from_many_threads_stay_whole(tmp_path):
    from llmrun.output.render import Renderer

    master, slave = os.openpty()
    screen = Screen.on_fd(master)
    threads, per = 8, 25
    with open(slave, "w", encoding="utf-8") as tty, open(os.devnull, "w") as out:
        r = Renderer(stream=False, json_mode=False, quiet=False, verbose=False,
                     show_progress=True, out=out, err=tty, colour=True)
        r._spinner.interval = 0.0005  # draw as often as possible, to provoke interleaving
        calls = [{"type": "tool_call", "step": 1, "id": f"c{i}", "name": f"t{i}",
                  "arguments": {"n": i}, "_raw": json.dumps({"n": i})} for i in range(threads)]
        r.event({"type": "step", "step": 1, "finish_reason": "tool_calls", "model": "m",
                 "usage": None, "_tool_calls": calls})
        r.waiting()

        def work(i):
            for j in range(per):
                r.event(calls[i])
                r.event({"type": "tool_result", "step": 1, "id": f"c{i}", "name": f"t{i}",
                         "result": f"r{i}-{j}\nmore", "is_error": False, "duration_s": 0.0})

        workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        r.close()
        assert not any(t.name == "llmrun-spinner" for t in threading.enumerate())
    screen.close()
    assert any(f in screen.raw for f in FRAMES)  # the spinner did draw in between
    lines = screen.lines()
    starts = [line for line in lines if line.startswith("→ ")]
    dones = [line for line in lines if line.startswith("← ")]
    assert len(starts) == len(dones) == threads * per
    assert len(lines) == 2 * threads * per, [x for x in lines if x[:2] not in ("→ ", "← ")]
    assert sorted(starts) == sorted(f'→ t{i} {{"n": {i}}}'
                                    for i in range(threads) for _ in range(per))
    assert sorted(dones) == sorted(f"← t{i}: r{i}-{j} more (0.00 s)"
                                   for i in range(threads) for j in range(per))


def test_the_spinner_holds_while_a_confirmation_is_asked(tmp_path):
    tool = tmp_path / "danger.yaml"
    tool.write_text(textwrap.dedent("""\
        name: danger
        description: needs a yes
        parameters: {type: object, properties: {}}
        command: [echo, done it]
        confirm: true
    """))
    step = [call_header(0, "call_1", "danger"), call_args(0, "{}"),
            chunk(finish="tool_calls"), chunk(usage=usage(), choices=False)]
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    env.update(LLMRUN_API_KEY="sk-test", TERM="xterm", PYTHONPATH=ROOT)
    with TestServer() as server:
        server.add(Reply(sse(*step)), Reply(sse(*answer_step("Did it."))))
        screen = Screen()
        proc = spawn_on_pty(["-m", "llmrun", "ask", "--base-url", server.url, "-m", "m",
                             "-t", str(tool), "go"], env, screen,
                            controlling=True)
        assert screen.wait_for(lambda: screen.has("Run it? [y/N] "), 30), screen.raw
        # A spinner that ignored the question would draw over it within a few ticks.
        assert not screen.wait_for(
            lambda: any(f in screen.raw.split("Run it? [y/N] ")[1] for f in FRAMES), 0.5)
        os.write(screen.fd, b"y\n")
        code = proc.wait(60)
        screen.close()
    assert code == 0, screen.raw
    lines = screen.lines()
    assert "Run it? [y/N] y" in lines and "Did it." in lines, lines
    assert server.bodies()[1]["messages"][-1]["content"] == "done it"

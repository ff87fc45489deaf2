"""`confirm: true`: asked on the terminal (a real pty here), approved by --yes, refused
without a terminal -- and the model is told."""

import fcntl
import json
import os
import select
import subprocess
import sys
import termios
import time

import pytest

from llmrun.tools.confirm import question, safe
from llmrun.tools.spec import load_file


@pytest.fixture
def danger(tmp_path):
    (tmp_path / "out").mkdir()
    marker = tmp_path / "out" / "ran"
    (tmp_path / "danger.yaml").write_text(f"""
name: danger
description: leaves a mark
parameters: {{type: object, properties: {{what: {{type: string}}}}}}
command: [touch, "{marker}"]
confirm: true
sandbox: {{write: ["{marker.parent}"]}}
""")
    return tmp_path, marker


def llmrun(*args, **kw):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMRUN_")}
    return subprocess.Popen([sys.executable, "-m", "llmrun", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def test_without_a_terminal_it_is_refused(danger):
    folder, marker = danger
    proc = llmrun("tools", "run", "-t", str(folder), "danger", "{}", start_new_session=True)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 7
    assert b"no terminal to ask on" in out and b"--yes" in out
    assert not marker.exists()


def test_yes_approves(danger):
    folder, marker = danger
    proc = llmrun("tools", "run", "-t", str(folder), "--yes", "danger", "{}",
                  start_new_session=True)
    proc.communicate(timeout=30)
    assert proc.returncode == 0 and marker.exists()


def _until_asked(master):
    """What the terminal shows until the question is on it."""
    shown = b""
    deadline = time.monotonic() + 30
    while b"[y/N]" not in shown and time.monotonic() < deadline:
        if select.select([master], [], [], 0.5)[0]:
            shown += os.read(master, 4096)
    return shown


def _on_a_pty(folder, answer):
    master, slave = os.openpty()
    proc = llmrun("tools", "run", "-t", str(folder), "danger", '{"what": "\\u001b[2Jx"}',
                  stdin=slave, start_new_session=True,
                  preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
    os.close(slave)
    shown = _until_asked(master)
    os.write(master, answer)
    out, _ = proc.communicate(timeout=30)
    os.close(master)
    return proc.returncode, shown.decode(), out.decode()


def test_the_terminal_is_asked_and_a_yes_runs_it(danger):
    folder, marker = danger
    code, shown, out = _on_a_pty(folder, b"y\n")
    assert "tool 'danger'" in shown and "touch" in shown
    assert "[2Jx" in shown and "\x1b" not in shown  # an escape cannot clear the screen
    assert code == 0 and marker.exists()


def test_the_terminal_is_asked_and_a_no_refuses(danger):
    folder, marker = danger
    code, _, out = _on_a_pty(folder, b"n\n")
    assert code == 7 and "the user declined" in out and not marker.exists()


def test_question_shows_tool_arguments_and_argv(danger):
    folder, _ = danger
    tool = load_file(str(folder / "danger.yaml"))[0]
    text = question(tool, {"what": "a\u202eb"})
    assert "danger.yaml:2" in text and '"what": "a\\u202eb"' in text
    assert f"touch {folder}/out/ran" in text
    assert safe("tab\there") == "tab\\x09here"
    assert json.loads(safe(json.dumps({"k": "é"}, ensure_ascii=False))) == {"k": "é"}


def test_keys_typed_before_the_question_never_answer_it(danger):
    """`y` + Enter typed before llmrun even started sits in the terminal's input queue; the
    question flushes it, so only an answer typed after it counts."""
    folder, marker = danger
    master, slave = os.openpty()
    proc = llmrun("tools", "run", "-t", str(folder / "danger.yaml"), "danger", "{}",
                  stdin=slave, start_new_session=True,
                  preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
    os.close(slave)
    os.write(master, b"y\n")  # typed ahead, before any question
    shown = _until_asked(master)
    assert b"[y/N]" in shown
    time.sleep(0.5)
    assert proc.poll() is None and not marker.exists()  # still waiting for a real answer
    os.write(master, b"n\n")
    out, _ = proc.communicate(timeout=30)
    os.close(master)
    assert proc.returncode == 7 and not marker.exists() and b"declined" in out


def _ask_on_a_pty(folder, server):
    """`llmrun ask` on a pty (its controlling terminal) whose model calls `danger`; the
    process and the pty's master end, once the question is on the terminal."""
    from server import Reply, sse
    from streams import call_args, call_header, chunk

    server.add(Reply(sse(call_header(0, "c1", "danger"), call_args(0, "{}"),
                         chunk(finish="tool_calls"))))
    master, slave = os.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMRUN_")}
    env.update(LLMRUN_API_KEY="k", TERM="dumb")
    proc = subprocess.Popen([sys.executable, "-m", "llmrun", "ask", "--no-stdin", "--base-url",
                             server.url, "-m", "m", "-t", str(folder), "go"], stdin=slave,
                            stdout=slave, stderr=slave, env=env, start_new_session=True,
                            preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0))
    os.close(slave)
    return proc, master, _until_asked(master)


def test_ctrl_c_at_the_question_says_nothing_ran_on_a_line_of_its_own(danger, server):
    """Ctrl-C while the question waits: the error starts on a new line (not glued to the
    prompt) and says what was interrupted -- the question, not a running tool."""
    from terminal_helpers import read_until_closed

    folder, marker = danger
    proc, master, shown = _ask_on_a_pty(folder, server)
    os.write(master, b"\x03")  # Ctrl-C, through the terminal
    shown += read_until_closed(master)
    proc.wait(timeout=30)
    os.close(master)
    text = shown.decode("utf-8", "replace").replace("\r", "")
    assert proc.returncode == 130 and not marker.exists()
    error = next(line for line in text.splitlines() if "llmrun: error:" in line)
    assert error.startswith("llmrun: error: interrupted by SIGINT while asking whether to run "
                            "tool 'danger' (nothing ran)"), text


def test_a_sigint_another_thread_takes_still_stops_the_question(danger, server):
    """The kernel may hand a process's SIGINT to any of its threads; one aimed at a thread
    that is not the main one (with tgkill) must still end the question, exit 130."""
    import ctypes
    import signal

    from terminal_helpers import read_until_closed

    folder, marker = danger
    proc, master, _ = _ask_on_a_pty(folder, server)
    try:
        others = [int(t) for t in os.listdir(f"/proc/{proc.pid}/task") if int(t) != proc.pid]
        assert others, "llmrun has no thread but the main one at the question"
        tgkill = 234 if os.uname().machine == "x86_64" else 131  # aarch64
        assert ctypes.CDLL(None, use_errno=True).syscall(tgkill, proc.pid, others[0],
                                                         int(signal.SIGINT)) == 0
        read_until_closed(master)
        assert proc.wait(timeout=30) == 130 and not marker.exists()
    finally:
        proc.kill()
        os.close(master)

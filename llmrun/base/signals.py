"""Ctrl-C, SIGTERM and SIGHUP: stop the request and every running tool, say what was
interrupted, and exit 130 (SIGINT), 143 (SIGTERM) or 129 (SIGHUP) without a traceback.

The handler raises `Interrupt` (a KeyboardInterrupt, so no `except Exception` in a tool or a
library swallows it) in the main thread, wherever it is blocked: a socket read, a retry's
sleep, a tool's output. Tools run in their own session, so the terminal's Ctrl-C never
reaches them: before raising, the handler SIGKILLs the process group of every tool process
still running (as a tool timeout does), which also frees a main thread that waits on tools
running in worker threads.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from contextlib import contextmanager
from typing import Any, Iterator, List, Optional, Set, Tuple

from llmrun.base.errors import Interrupted

#: Every tool process running now (llmrun.tools.process adds and removes them), and the MCP
#: servers llmrun started: what a signal must not leave behind. Kept here, at the bottom, so
#: the handler needs nothing from the layers above it.
running_tools: Set[subprocess.Popen] = set()
running_lock = threading.Lock()
servers: Set[subprocess.Popen] = set()

_SIGNALS = [s for s in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, s)]
_doing: List[str] = []  # what the run is busy with, innermost last


class Interrupt(KeyboardInterrupt):
    """A signal arrived: which one, what the run was doing, and the tool groups it killed."""

    def __init__(self, signum: int, doing: Optional[str], killed: List[Tuple[int, str]]) -> None:
        super().__init__(signum)
        self.signum = signum
        self.doing = doing
        self.killed = killed


@contextmanager
def activity(what: str) -> Iterator[None]:
    """Name what the run is doing, so an interrupt message can say what it stopped."""
    _doing.append(what)
    try:
        yield
    finally:
        if _doing:
            _doing.pop()


def kill_tools() -> List[Tuple[int, str]]:
    """SIGKILL the process group of every running tool; return (group id, program) of each.

    No locks: this runs inside a signal handler, maybe while the main thread holds one.
    Copying a set is atomic under the GIL.
    """
    live = list(running_tools)
    killed = []
    for proc in live:
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # start_new_session: pid is the group id
        except OSError:
            continue
        args = proc.args if isinstance(proc.args, (list, tuple)) else [proc.args]
        killed.append((proc.pid, os.path.basename(str(args[0])) if args else "?"))
    return killed


def kill_servers() -> None:
    """SIGKILL the process group of every MCP server llmrun started (no locks: signal-safe)."""
    for proc in list(servers):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except OSError:
            pass


class _Handler:
    def __init__(self) -> None:
        self.old: dict = {}
        self.caught: Optional[Interrupt] = None

    def __call__(self, signum: int, frame: Any) -> None:
        if self.caught is not None:  # a second signal while cleaning up: leave right now
            kill_tools()
            kill_servers()  # no MCP server is left behind
            os.write(2, b"llmrun: error: interrupted again; exiting now\n")
            os._exit(128 + signum)
        self.caught = Interrupt(signum, _doing[-1] if _doing else None, kill_tools())
        raise self.caught


def leave_to_main_thread() -> None:
    """Block our signals in the calling helper thread, so the kernel delivers them to the
    main thread, where Python runs the handler at once (a thread that starts processes must
    not call this: children inherit the signal mask)."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, [getattr(signal, s) for s in _SIGNALS])


@contextmanager
def handling() -> Iterator[None]:
    """Install the handlers for one run (main thread only), restore the old ones after.

    A signal the parent set to be ignored (nohup, `cmd &` in a script) stays ignored.
    """
    handler = _Handler()
    if threading.current_thread() is threading.main_thread():
        for name in _SIGNALS:
            signum = getattr(signal, name)
            if signal.getsignal(signum) is not signal.SIG_IGN:
                handler.old[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in handler.old.items():
            signal.signal(signum, old)


class DeadlineReached(KeyboardInterrupt):
    """--deadline passed: raised in the main thread wherever it is blocked, like a signal."""

    def __init__(self, seconds: float, doing: Optional[str]) -> None:
        super().__init__(seconds)
        self.seconds = seconds
        self.doing = doing


#: When the run must be over (time.monotonic()), or None; read by the retry logic too.
deadline_at: Optional[float] = None


@contextmanager
def deadline(seconds: Optional[float]) -> Iterator[None]:
    """End the run after `seconds`: a timer thread sends SIGALRM to the main thread (so it
    wakes from any blocking call: a socket read, a retry's sleep, the wait for tools), whose
    handler kills every running tool and raises DeadlineReached."""
    global deadline_at
    if seconds is None or threading.current_thread() is not threading.main_thread():
        yield
        return
    import time

    def on_alarm(signum: int, frame: Any) -> None:
        kill_tools()
        kill_servers()  # the clean-up the exception unwinds through must not wait on them
        raise DeadlineReached(seconds, _doing[-1] if _doing else None)

    main = threading.main_thread().ident
    timer = threading.Timer(seconds, lambda: signal.pthread_kill(main, signal.SIGALRM))
    timer.daemon = True
    old = signal.signal(signal.SIGALRM, on_alarm)
    deadline_at = time.monotonic() + seconds
    timer.start()
    try:
        yield
    finally:
        timer.cancel()
        deadline_at = None
        # a timer that fired just now must not kill llmrun with SIGALRM's default action
        keep = old if old not in (signal.SIG_DFL, None) else signal.SIG_IGN
        signal.signal(signal.SIGALRM, keep)


def remaining() -> Optional[float]:
    """Seconds left before --deadline, or None without one."""
    if deadline_at is None:
        return None
    import time

    return max(0.0, deadline_at - time.monotonic())


def interrupted(exc: BaseException) -> Interrupted:
    """The error to report for an interrupt, naming the signal and what it stopped."""
    signum = getattr(exc, "signum", signal.SIGINT)
    killed = getattr(exc, "killed", None)
    if killed is None:  # a plain KeyboardInterrupt, raised outside our handler
        killed = kill_tools()
    doing = getattr(exc, "doing", None)
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    message = f"interrupted by {name}"
    if doing:
        message += f" while {doing}"
    if killed:
        groups = ", ".join(f"{pgid} ({prog})" for pgid, prog in killed)
        plural = "s" if len(killed) > 1 else ""
        message += f"; killed the tool's process group{plural} {groups}"
    return Interrupted(message, 128 + signum)

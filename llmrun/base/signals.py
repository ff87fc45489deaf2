"""Ctrl-C, SIGTERM and SIGHUP for the command line: stop every run of the process, say what
was interrupted, and exit 130 (SIGINT), 143 (SIGTERM) or 129 (SIGHUP) without a traceback.

Only the command line installs these handlers (the Python API installs none). The handler
stops each running run (base/context.py: its tool groups SIGKILLed, its connections shut), then
raises the run's reason in the main thread, wherever it is blocked. A second signal while
cleaning up leaves at once. `--deadline` of a run on the main thread is delivered the same way:
the context's watcher thread sends SIGALRM, whose handler raises the deadline there.
"""

from __future__ import annotations

import os
import signal
import threading
from contextlib import contextmanager
from typing import Any, Dict, Iterator, Optional

from llmrun.base.context import Interrupt, RunContext, Stop, running_runs
from llmrun.base.errors import Interrupted

_SIGNALS = [s for s in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, s)]


class _Handler:
    def __init__(self, main: Optional[RunContext]) -> None:
        self.main = main
        self.old: Dict[int, Any] = {}
        self.caught: Optional[Stop] = None

    def __call__(self, signum: int, frame: Any) -> None:
        if self.caught is not None:  # a second signal while cleaning up: leave right now
            for ctx in running_runs():
                ctx.kill_processes()  # no tool and no MCP server is left behind
            os.write(2, b"llmrun: error: interrupted again; exiting now\n")
            os._exit(128 + signum)
        for ctx in running_runs():
            ctx.stop(Interrupt(signum))
        reason = self.main.reason if self.main is not None else None
        self.caught = reason if reason is not None else Interrupt(signum)
        raise self.caught

    def alarm(self, signum: int, frame: Any) -> None:
        """The main run's context was stopped from another thread (its deadline)."""
        if self.main is not None and self.main.reason is not None and self.caught is None:
            self.caught = self.main.reason
            raise self.caught


def leave_to_main_thread() -> None:
    """Block our signals in the calling helper thread, so the kernel delivers them to the
    main thread, where Python runs the handler at once (a thread that starts processes must
    not call this: children inherit the signal mask)."""
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_BLOCK, [getattr(signal, s) for s in _SIGNALS])


@contextmanager
def handling(main: Optional[RunContext] = None) -> Iterator[None]:
    """Install the handlers while the command line runs (main thread only); restore the old
    ones after. `main` is the run on the main thread, whose stop is raised there.

    A signal the parent set to be ignored (nohup, `cmd &` in a script) stays ignored.
    """
    handler = _Handler(main)
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    for name in _SIGNALS:
        signum = getattr(signal, name)
        if signal.getsignal(signum) is not signal.SIG_IGN:
            handler.old[signum] = signal.signal(signum, handler)
    handler.old[signal.SIGALRM] = signal.signal(signal.SIGALRM, handler.alarm)
    if main is not None:
        ident = threading.main_thread().ident
        main.interrupt_main = lambda: signal.pthread_kill(ident, signal.SIGALRM)  # type: ignore
    try:
        yield
    finally:
        if main is not None:
            main.interrupt_main = None
        for signum, old in handler.old.items():
            if signum == signal.SIGALRM and old in (signal.SIG_DFL, None):
                old = signal.SIG_IGN  # an alarm sent just now must not kill llmrun
            signal.signal(signum, old)


def interrupted(exc: BaseException) -> Interrupted:
    """The error to report for an interrupt, naming the signal and what it stopped."""
    signum = getattr(exc, "signum", signal.SIGINT)
    killed = getattr(exc, "killed", None) or []
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

"""One run's context: its cancellation, deadline, activity, child processes and event sinks.

Every run (`llmrun ask`, an item of `llmrun batch`, a call of the Python API) has its own
RunContext, so two runs in one process never touch each other: a deadline or a cancel stops
only that run's tool processes, MCP servers and HTTP connections. Code below the run finds
the context of its thread with `current()` (a stack in `threading.local`, as click keeps its
contexts); threads a run starts for its tools carry it over with `activate`.

Stopping is cooperative and prompt: `stop()` records why, SIGKILLs the run's process groups
and shuts its sockets down, so whatever the run's thread is blocked on (a socket read, the
wait for a tool, an MCP answer, a retry's sleep) returns at once, and the next `check()` raises
the reason. The command line also interrupts its main thread with a signal (base/signals.py).
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
import weakref
from contextlib import contextmanager
from typing import Any, Callable, Iterator, List, Optional, Set, Tuple


class Stop(KeyboardInterrupt):
    """Why a run stops before its end: raised wherever the run is (a KeyboardInterrupt, so
    no `except Exception` in a tool or a library swallows it)."""

    def __init__(self, doing: Optional[str] = None) -> None:
        super().__init__()
        self.doing = doing
        self.killed: List[Tuple[int, str]] = []  # (group id, program) of the tools it killed


class Interrupt(Stop):
    """A signal (SIGINT, SIGTERM, SIGHUP) or a cancel: exit 128 + signum."""

    def __init__(self, signum: int = signal.SIGINT, doing: Optional[str] = None) -> None:
        super().__init__(doing)
        self.signum = signum


class DeadlineReached(Stop):
    """--deadline passed."""

    def __init__(self, seconds: float, doing: Optional[str] = None) -> None:
        super().__init__(doing)
        self.seconds = seconds


#: The contexts of the runs going on in this process: what the command line's signal
#: handlers stop. Weak, so a finished run is never kept alive by it.
_running: "weakref.WeakSet[RunContext]" = weakref.WeakSet()
_local = threading.local()


class RunContext:
    """The state of one run that the layers below it need, and nothing else."""

    def __init__(self, deadline: Optional[float] = None,
                 cancel: Optional[threading.Event] = None) -> None:
        self.deadline = deadline
        self.deadline_at = time.monotonic() + deadline if deadline else None
        self.cancel = cancel
        self.reason: Optional[Stop] = None
        self.stopped = threading.Event()
        self._doing: List[str] = []
        self._procs: Set[Any] = set()  # subprocess.Popen of tools and MCP servers
        self._sockets: "weakref.WeakSet[socket.socket]" = weakref.WeakSet()
        self._lock = threading.Lock()
        self._watcher: Optional[threading.Thread] = None
        self._over = threading.Event()
        #: Set by the command line: also raise the reason in the main thread (a signal).
        self.interrupt_main: Optional[Callable[[], None]] = None
        self.gate: Any = None  # a Session's shared rate gate (llmrun/wire/gate.py), if any
        self.emit: Callable[[dict], None] = _drop
        self.flush: Callable[[], None] = _nothing

    # -- what the run is doing ---------------------------------------------------------------
    @contextmanager
    def activity(self, what: str) -> Iterator[None]:
        """Name what the run is busy with, so a stop can say what it interrupted."""
        self._doing.append(what)
        try:
            yield
        finally:
            if self._doing:
                self._doing.pop()

    @property
    def doing(self) -> Optional[str]:
        return self._doing[-1] if self._doing else None

    # -- what the run started ----------------------------------------------------------------
    def add_process(self, proc: Any) -> None:
        with self._lock:
            self._procs.add(proc)
        if self.reason is not None:  # started while stopping: it goes too
            kill_group(proc)

    def discard_process(self, proc: Any) -> None:
        with self._lock:
            self._procs.discard(proc)

    def add_socket(self, sock: socket.socket) -> None:
        self._sockets.add(sock)
        if self.reason is not None:
            _shut(sock)

    def discard_socket(self, sock: socket.socket) -> None:
        """A pooled connection's socket goes back to its pool: another run may take it."""
        self._sockets.discard(sock)

    # -- stopping ----------------------------------------------------------------------------
    def stop(self, reason: Stop) -> Optional[Stop]:
        """Stop the run for `reason` (the first reason wins): kill its process groups, shut
        its connections; return the reason in force. Safe from any thread and from a signal
        handler (no lock is waited for)."""
        if self.reason is None and not self._over.is_set():  # an ended run stays as it ended
            reason.doing = reason.doing or self.doing
            self.reason = reason
            reason.killed = self.kill_processes()
            for sock in list(self._sockets):
                _shut(sock)
            self.stopped.set()
            if self.interrupt_main is not None and \
                    threading.current_thread() is not threading.main_thread():
                self.interrupt_main()  # the command line's run: raise it there too
        return self.reason

    def kill_processes(self) -> List[Tuple[int, str]]:
        """SIGKILL the process group of every process of this run; (group, program) each."""
        killed = []
        for proc in list(self._procs):  # copying a set is atomic under the GIL
            if kill_group(proc):
                args = proc.args if isinstance(proc.args, (list, tuple)) else [proc.args]
                killed.append((proc.pid, os.path.basename(str(args[0])) if args else "?"))
        return killed

    def reap(self, timeout: float = 5.0) -> None:
        """Wait for the killed processes to be gone (not in a signal handler): a zombie left
        to a parent that is about to exit may never be reaped."""
        end = time.monotonic() + timeout
        for proc in list(self._procs):
            try:
                proc.wait(timeout=max(0.0, end - time.monotonic()))
            except Exception:  # still there after the timeout; nothing more to do
                pass

    def check(self) -> None:
        """Raise the stop reason, if the run was stopped."""
        if self.reason is not None:
            raise self.reason

    def sleep(self, seconds: float) -> None:
        """Wait `seconds` (a retry's back-off), or less if the run is stopped meanwhile."""
        if seconds > 0:
            self.stopped.wait(seconds)
        self.check()

    def remaining(self) -> Optional[float]:
        """Seconds left before the deadline, or None without one."""
        if self.deadline_at is None:
            return None
        return max(0.0, self.deadline_at - time.monotonic())

    # -- the run's lifetime ------------------------------------------------------------------
    @contextmanager
    def running(self) -> Iterator["RunContext"]:
        """The run is going on in this thread: reachable by `current()` and by the signal
        handlers, its deadline and cancel watched."""
        _running.add(self)
        self._start_watch()
        try:
            with activate(self):
                yield self
        finally:
            self._over.set()
            _running.discard(self)

    def _start_watch(self) -> None:
        if self.deadline_at is None and self.cancel is None:
            return
        self._watcher = threading.Thread(target=self._watch, daemon=True,
                                         name="llmrun-deadline")
        self._watcher.start()

    def _watch(self) -> None:
        """Stop the run at its deadline, or as soon as its cancel event is set."""
        while not self._over.is_set() and self.reason is None:
            left = self.remaining()
            if left is not None and left <= 0:
                self.stop(DeadlineReached(self.deadline or 0.0))
                return
            if self.cancel is None:
                self._over.wait(left)
                continue
            if self.cancel.wait(min(0.05, left) if left is not None else 0.05):
                self.stop(Interrupt(signal.SIGINT))
                return


def _drop(event: dict) -> None:
    """The sink of a context nobody listens to."""


def _nothing() -> None:
    """No sink to flush."""


def kill_group(proc: Any, sig: int = signal.SIGKILL) -> bool:
    """Signal `proc`'s process group: a Popen started with start_new_session (the pid is the
    group id), or anything with its own `kill_group` (a confined tool call)."""
    own = getattr(proc, "kill_group", None)
    if own is not None:
        return own(sig)
    try:
        os.killpg(proc.pid, sig)
        return True
    except OSError:
        return False



def _shut(sock: socket.socket) -> None:
    """Wake whoever reads or writes `sock` in another thread (close alone does not)."""
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


@contextmanager
def activate(ctx: "RunContext") -> Iterator[None]:
    """Make `ctx` this thread's current context (a worker thread of the run calls this)."""
    stack = _stack()
    stack.append(ctx)
    try:
        yield
    finally:
        stack.pop()


def _stack() -> List[RunContext]:
    stack = getattr(_local, "stack", None)
    if stack is None:
        stack = _local.stack = []
    return stack


def current() -> RunContext:
    """The context of the run going on in this thread; a fresh one, that nothing else can
    reach, outside any run (say, `llmrun tools run` before it sets its own)."""
    stack = _stack()
    return stack[-1] if stack else RunContext()


def activity(what: str) -> Any:
    """Name what the current run is doing (see RunContext.activity)."""
    return current().activity(what)


def running_runs() -> List[RunContext]:
    """Every run going on in this process (for the command line's signal handlers)."""
    return list(_running)

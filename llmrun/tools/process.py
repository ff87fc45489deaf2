"""One tool process: a single fork/exec in its own session, output read as it arrives.

The process gets its own session (and so its own process group), which lets a timeout or an
interrupt kill it together with everything it started. stdout is read incrementally and kept
only up to the cap, so a tool that writes gigabytes costs no memory; once over the cap the
pipe is closed, as `| head -c N` would.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Set

READ_SIZE = 64 * 1024
STDERR_TAIL = 4096
_IDLE_POLL = 0.05  # while pipes are quiet, how often to look whether the process exited

_running: Set[subprocess.Popen] = set()
_running_lock = threading.Lock()


@dataclass
class Outcome:
    stdout: bytes  # at most `cap` bytes
    cut: bool  # stdout went over the cap
    stderr_tail: bytes
    returncode: Optional[int]  # None when it was killed for the timeout
    timed_out: bool


def run_process(argv: List[str], env: Dict[str, str], timeout: float, cap: int) -> Outcome:
    """Run `argv` (no shell), stdin from /dev/null, in the current directory.

    Raises OSError/ValueError/UnicodeEncodeError when it cannot even start.
    """
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, start_new_session=True)
    with _running_lock:
        _running.add(proc)
    try:
        return _collect(proc, time.monotonic() + timeout, cap)
    except BaseException:
        stop_group(proc)
        raise
    finally:
        for pipe in (proc.stdout, proc.stderr):
            if pipe is not None and not pipe.closed:
                pipe.close()
        with _running_lock:
            _running.discard(proc)


def _collect(proc: subprocess.Popen, deadline: float, cap: int) -> Outcome:
    out, err = bytearray(), bytearray()
    cut = timed_out = False
    sel = selectors.DefaultSelector()
    sel.register(proc.stdout, selectors.EVENT_READ, out)  # type: ignore[arg-type]
    sel.register(proc.stderr, selectors.EVENT_READ, err)  # type: ignore[arg-type]
    while sel.get_map():
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            timed_out = True
            break
        events = sel.select(min(remaining, _IDLE_POLL))
        if not events and proc.poll() is not None:
            events = sel.select(0)  # a last look: output written just before the exit
            if not events:
                break  # exited; whatever still holds the pipes is a leftover child
        for key, _ in events:
            data = os.read(key.fd, READ_SIZE)
            if not data:
                sel.unregister(key.fileobj)
                key.fileobj.close()  # type: ignore[union-attr]
            elif key.data is out:
                out += data
                if len(out) > cap:
                    cut = True
                    del out[cap:]
                    sel.unregister(key.fileobj)
                    key.fileobj.close()  # type: ignore[union-attr]
            else:
                err += data
                if len(err) > 2 * STDERR_TAIL:
                    del err[:-STDERR_TAIL]
    sel.close()
    returncode = None if timed_out else _wait(proc, deadline)
    if returncode is None:
        timed_out = True
        stop_group(proc)
    return Outcome(bytes(out), cut, bytes(err[-STDERR_TAIL:]), returncode, timed_out)


def _wait(proc: subprocess.Popen, deadline: float) -> Optional[int]:
    """The exit status, or None when the process is still running at the deadline."""
    try:
        return proc.wait(timeout=max(0.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        return None


def stop_group(proc: subprocess.Popen) -> None:
    """Kill the tool and every process it started (they share its process group)."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL cannot be ignored
        pass


def stop_all() -> int:
    """Kill every tool process still running (Ctrl-C, SIGTERM); returns how many."""
    with _running_lock:
        procs = list(_running)
    for proc in procs:
        stop_group(proc)
    return len(procs)

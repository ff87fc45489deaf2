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
from typing import Any, Dict, List, Optional

from llmrun.base.context import current, kill_group

READ_SIZE = 64 * 1024
STDERR_TAIL = 4096
_IDLE_POLL = 0.05  # while pipes are quiet, how often to look whether the process exited



@dataclass
class Outcome:
    stdout: bytes  # at most `cap` bytes
    cut: bool  # stdout went over the cap
    stderr_tail: bytes
    returncode: Optional[int]  # None when it was killed for the timeout
    timed_out: bool


def run_process(argv: List[str], env: Dict[str, str], timeout: float, cap: int,
                stdin: Optional[bytes] = None, policy: Any = None) -> Outcome:
    """Run `argv` (no shell) in the current directory, stdin from /dev/null or `stdin`;
    under the sandbox supervisor when `policy` (llmrun.sandbox.policy.Policy) is enabled.

    Raises OSError/ValueError/UnicodeEncodeError when it cannot even start.
    """
    if policy is not None and policy.enabled:  # under its supervisor, started ahead
        from llmrun.sandbox.launch import start
        from llmrun.tools.childenv import is_secret

        proc = start(argv, policy, env, is_secret=is_secret)
        if stdin is None:
            proc.stdin.close()  # type: ignore[union-attr]  # the tool reads end-of-file
    else:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL if stdin is None else
                                subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=env, start_new_session=True)
    ctx = current()  # the run's: its deadline, cancel or signal kills this group
    ctx.add_process(proc)
    try:
        if stdin is not None:  # a thread: a child that never reads must not block us
            threading.Thread(target=_feed, args=(proc, stdin), daemon=True).start()
        return _collect(proc, time.monotonic() + timeout, cap)
    except BaseException:
        stop_group(proc)
        raise
    finally:
        for pipe in (proc.stdout, proc.stderr):  # stdin is closed by its feeder
            if pipe is not None and not pipe.closed:
                pipe.close()
        ctx.discard_process(proc)
        release = getattr(proc, "release", None)  # confined: its keeper may now let go
        if release is not None:
            release()


def _feed(proc: subprocess.Popen, data: bytes) -> None:
    try:
        proc.stdin.write(data)  # type: ignore[union-attr]
    except (OSError, ValueError):  # it exited or was killed before reading everything
        pass
    try:
        proc.stdin.close()  # type: ignore[union-attr]
    except (OSError, ValueError):
        pass


def _exited(proc: subprocess.Popen) -> bool:
    """Whether the process has exited, without reaping it: while it is an unreaped zombie
    its pid -- and so its process group id -- cannot be reused by another process."""
    if proc.returncode is not None:
        return True
    if hasattr(proc, "kill_group"):  # confined: not our child; its keeper holds the zombie
        return proc.poll() is not None
    if not hasattr(os, "waitid"):  # not on every Unix: reap, and lose only that guarantee
        return proc.poll() is not None
    try:
        return os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None
    except ChildProcessError:
        return True


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
        if not events and _exited(proc):
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
    if not timed_out and not _wait(proc, deadline):
        timed_out = True
    returncode = None if timed_out else _reap(proc)
    if timed_out:
        stop_group(proc)
    return Outcome(bytes(out), cut, bytes(err[-STDERR_TAIL:]), returncode, timed_out)


def _wait(proc: subprocess.Popen, deadline: float) -> bool:
    """Wait (without reaping) until the process exits; False when the deadline comes first."""
    if hasattr(proc, "kill_group"):  # confined: its keeper's report wakes us, no polling
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            return True
        except subprocess.TimeoutExpired:
            return False
    pause = 0.0005
    while not _exited(proc):
        if time.monotonic() >= deadline:
            return False
        time.sleep(pause)
        pause = min(pause * 2, _IDLE_POLL)
    return True


def _reap(proc: subprocess.Popen) -> Optional[int]:
    """The tool exited: kill what it left running in its process group (a daemon it started,
    a `sleep &`), then collect its exit status."""
    kill_group(proc)  # the unreaped leader keeps the group id ours
    return proc.wait()


def stop_group(proc: subprocess.Popen) -> None:
    """Kill the tool and every process it started (they share its process group; a
    confined tool's keeper also kills what left it, before it reports the exit)."""
    kill_group(proc)
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:  # pragma: no cover - SIGKILL cannot be ignored
        pass


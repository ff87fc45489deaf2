"""A tool call started by the fork server, as the tools layer sees it: the interface of
subprocess.Popen that llmrun uses (pid, the three pipes, poll, wait, returncode), plus
`kill_group` and `release`.

The tool is not llmrun's child, so its exit code comes from its keeper on the report pipe:
`P<pid>` once it started (in a process group of its own, whose id is the pid), `S<code>` once
it has exited and everything it started is killed and its TMPDIR removed. Until llmrun closes
the hold pipe (`release`), the keeper keeps the tool unreaped, so its group id cannot be given
to another process: a kill of the group never hits a stranger. Writing to the hold pipe asks
the keeper to stop the call now (it also kills what left the tool's group).
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import threading
import time
from typing import Any, List, Optional


class Confined:
    def __init__(self, args: List[str], stdin: int, stdout: int, stderr: int, report: int,
                 hold: int) -> None:
        self.args = args
        self.stdin: Any = open(stdin, "wb")
        self.stdout: Any = open(stdout, "rb")
        self.stderr: Any = open(stderr, "rb")
        os.set_blocking(report, False)
        self._report, self._hold = report, hold
        self.pid = 0
        self.returncode: Optional[int] = None
        self._heard = False  # the keeper said anything at all
        self._buffer = b""
        self._lock = threading.Lock()
        self._released = False

    def started(self, timeout: float) -> bool:
        """Wait for the keeper's first word; False when the report pipe closed without one
        (the fork server died before it took the call: nothing of it runs)."""
        end = time.monotonic() + timeout
        while not self._heard and self.returncode is None:
            if not self._listen(end - time.monotonic()):
                raise OSError("the sandbox's fork server did not answer")
        return self._heard

    def poll(self) -> Optional[int]:
        if self.returncode is None:
            self._listen(0)
        return self.returncode

    def wait(self, timeout: Optional[float] = None) -> int:
        end = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None:
            left = None if end is None else end - time.monotonic()
            if left is not None and left <= 0:
                raise subprocess.TimeoutExpired(self.args, timeout or 0)
            self._listen(left)
        return self.returncode

    def _listen(self, timeout: Optional[float]) -> bool:
        """Read what the keeper said, waiting at most `timeout`; False when nothing came."""
        if self._released:  # its descriptors are closed (their numbers may be reused)
            self._end(-signal.SIGKILL)
            return True
        try:
            if not select.select([self._report], [], [], None if timeout is None
                                 else max(timeout, 0))[0]:
                return False
        except (OSError, ValueError):  # released meanwhile
            self._end(-signal.SIGKILL)
            return True
        with self._lock:
            try:
                data = os.read(self._report, 512)
            except BlockingIOError:  # another thread read it first
                return True
            except OSError:
                data = b""
            if not data:
                self._end(-signal.SIGKILL)  # the keeper died without a word: killed
                return True
            self._heard = True
            self._buffer += data
            *lines, self._buffer = self._buffer.split(b"\n")
            for line in lines:
                if line.startswith(b"P") and line[1:].isdigit():
                    self.pid = int(line[1:])
                elif line.startswith(b"S"):
                    self._end(int(line[1:] or -signal.SIGKILL))
        return True

    def _end(self, code: int) -> None:
        if self.returncode is None:
            self.returncode = code

    def kill_group(self, sig: int = signal.SIGKILL) -> bool:
        """Signal the tool's process group; SIGKILL and SIGTERM also stop the call (what
        left the group goes too). Safe in a signal handler; nothing once the call is over."""
        if self.returncode is not None or self._released:
            return False
        if self.pid:
            try:
                os.killpg(self.pid, sig)
            except OSError:
                pass
        if sig in (signal.SIGKILL, signal.SIGTERM):
            try:
                os.write(self._hold, b"K")
            except OSError:
                pass
        return True

    def kill(self) -> None:
        self.kill_group(signal.SIGKILL)

    def release(self) -> None:
        """The call is over for llmrun: the keeper may reap the tool and exit."""
        if self._released:
            return
        self._released = True
        for fd in (self._hold, self._report):
            try:
                os.close(fd)
            except OSError:
                pass
        for pipe in (self.stdin, self.stdout, self.stderr):
            try:
                pipe.close()
            except (OSError, ValueError):
                pass

    def __del__(self) -> None:
        try:
            self.release()
        except Exception:
            pass

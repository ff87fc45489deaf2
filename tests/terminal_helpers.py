"""A pseudo-terminal for tests: run llmrun on it, watch what it draws, and replay the
carriage returns the way a terminal would to get the lines a person finally sees."""

from __future__ import annotations

import codecs
import fcntl
import os
import re
import struct
import subprocess
import sys
import termios
import threading
import time
from typing import Any, Callable, List, Optional

from conftest import ROOT

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class Screen:
    """Everything written to a pty's master side, read by a thread as it arrives."""

    def __init__(self) -> None:
        self._chunks: List[str] = []
        self._cond = threading.Condition()
        self._fd: Optional[int] = None
        self._thread: Optional[threading.Thread] = None

    @classmethod
    def on_fd(cls, fd: int) -> "Screen":
        screen = cls()
        screen.attach(fd)
        return screen

    def attach(self, fd: int) -> None:
        self._fd = fd
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        while True:
            try:
                data = os.read(self._fd, 65536)
            except OSError:  # EIO: every slave descriptor is closed
                data = b""
            with self._cond:
                self._chunks.append(decoder.decode(data, final=not data))
                self._cond.notify_all()
            if not data:
                return

    @property
    def fd(self) -> Optional[int]:
        """The master side: what is written here is typed on the terminal."""
        return self._fd

    @property
    def raw(self) -> str:
        with self._cond:
            return "".join(self._chunks)

    def has(self, text: str) -> bool:
        return text in self.raw

    def wait_for(self, predicate: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def close(self) -> None:
        if self._thread is not None:
            self._thread.join(30)
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def lines(self) -> List[str]:
        """The non-empty lines left on screen: colours dropped, `\\r` overwrites applied."""
        text = ANSI.sub("", self.raw).replace("\r\n", "\n")
        out = []
        for line in text.split("\n"):
            cells: List[str] = []
            pos = 0
            for ch in line:
                if ch == "\r":
                    pos = 0
                elif ch == "\b":
                    pos = max(pos - 1, 0)
                else:
                    cells[pos:pos + 1] = [ch]
                    pos += 1
            shown = "".join(cells).rstrip()
            if shown:
                out.append(shown)
        return out


#: Run in the child first: its pty becomes its controlling terminal (what /dev/tty opens).
CONTROLLING = ("import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
               "os.execv(sys.executable, [sys.executable] + sys.argv[1:])")


def spawn_on_pty(args: List[str], env: dict, screen: Screen, stdout: Any = None,
                 columns: int = 120, controlling: bool = False) -> subprocess.Popen:
    """`python ARGS` with stdin and stderr (and stdout, unless given) on a new pty."""
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, columns, 0, 0))
    if controlling:
        args = ["-c", CONTROLLING, *args]
    try:
        proc = subprocess.Popen([sys.executable, *args], stdin=slave,
                                stdout=slave if stdout is None else stdout, stderr=slave,
                                env=env, cwd=ROOT, start_new_session=True)
    finally:
        os.close(slave)
    screen.attach(master)
    return proc


def read_until_closed(master: int, quiet: float = 10) -> bytes:
    """Everything a pty shows until its process closes it (or `quiet` seconds of silence)."""
    import select

    shown = b""
    while select.select([master], [], [], quiet)[0]:
        try:
            data = os.read(master, 4096)
        except OSError:  # EIO: the other side closed
            break
        if not data:
            break
        shown += data
    return shown

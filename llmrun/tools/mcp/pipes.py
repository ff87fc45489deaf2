"""The two pipes of a stdio server that a hostile server could use against llmrun.

Its stdin: a server that stops reading lets the pipe fill, and a plain `write` would then
block forever (inside a lock, so every later call and the clean-up too). `PipeWriter` writes
without blocking: what the pipe has room for at once, the rest from a thread of its own with
`select`, so a caller never waits and the call's `timeout` holds; `close` ends the writer at
once, whatever the server does, and the queue is bounded.

Its stderr: a line without a newline could be any size. `TailReader` reads in bounded pieces
and keeps only the last lines, each cut to a bounded length, so memory stays small.
"""

from __future__ import annotations

import collections
import os
import select
import threading
from typing import Callable, Deque, Optional

MAX_QUEUED = 256 * 1024 * 1024  # bytes waiting for a server that does not read, at most
READ_PIECE = 65536  # bytes read from stderr at a time
LINE_KEPT = 2000  # bytes of one stderr line kept (the rest of a long line is dropped)


class PipeFull(Exception):
    """The server has not read what it was sent, and the queue is at its bound."""


class PipeWriter:
    """Bytes for a child's stdin: written at once while the pipe has room, else queued for a
    daemon thread that writes them as it gets room."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        os.set_blocking(fd, False)
        self._queue: Deque[bytes] = collections.deque()
        self._queued = 0
        self._cond = threading.Condition()
        self._closing = False
        self.broken = False  # the server closed its stdin (or exited)
        self._thread = threading.Thread(target=self._run, name="llmrun-mcp-writer", daemon=True)
        self._thread.start()

    def put(self, data: bytes) -> None:
        """Write or queue `data`; never blocks. BrokenPipeError once the pipe is closed,
        PipeFull when the server left more than MAX_QUEUED bytes unread."""
        with self._cond:
            if self.broken or self._closing:
                raise BrokenPipeError("the server's stdin is closed")
            if not self._queue:  # nothing ahead of it: what the pipe has room for goes now,
                data = self._write_now(data)  # not after a hand-over to the writer thread
                if not data:
                    return
            if self._queued + len(data) > MAX_QUEUED:
                raise PipeFull(f"the server has not read the last {self._queued // 2**20} MiB "
                               "sent to it")
            self._queue.append(data)
            self._queued += len(data)
            self._cond.notify()

    def _write_now(self, data: bytes) -> bytes:
        """Write what the pipe takes without waiting; return the rest."""
        try:
            return data[os.write(self._fd, data):]
        except BlockingIOError:
            return data
        except OSError:  # EPIPE: the server closed its stdin or exited
            self.broken = True
            raise BrokenPipeError("the server's stdin is closed") from None

    def close(self, grace: float = 0.2) -> None:
        """Stop writing (what the server has not taken within `grace` seconds is dropped)
        and close the pipe, so the server sees end of input."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(grace + 0.5)
        try:
            os.close(self._fd)
        except OSError:
            pass

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if not self._queue:
                    return
                data = self._queue[0]
            if not self._write_all(memoryview(data)):
                return
            with self._cond:
                self._queue.popleft()
                self._queued -= len(data)

    def _write_all(self, view: memoryview) -> bool:
        """Write `view` whole; False when the pipe broke or llmrun is closing it."""
        while view:
            try:
                _, ready, _ = select.select([], [self._fd], [], 0.1)
            except (OSError, ValueError):
                self.broken = True
                return False
            if not ready:
                if self._closing:
                    return False  # the server does not read: nothing more is owed to it
                continue
            try:
                view = view[os.write(self._fd, view):]
            except BlockingIOError:
                continue
            except OSError:  # EPIPE: the server closed its stdin or exited
                self.broken = True
                return False
        return True


class TailReader:
    """Reads a stream to its end in bounded pieces; keeps the last `keep` lines, each cut to
    LINE_KEPT bytes, and hands each finished line to `show`."""

    def __init__(self, stream: object, keep: int,
                 show: Optional[Callable[[str], None]] = None) -> None:
        self._stream = stream
        self._show = show
        self.tail: Deque[str] = collections.deque(maxlen=keep)
        self._line = bytearray()
        self._dropped = False  # the current line was longer than LINE_KEPT
        self.thread = threading.Thread(target=self._run, name="llmrun-mcp-stderr", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        read = getattr(self._stream, "read1", None) or getattr(self._stream, "read")
        while True:
            try:
                data = read(READ_PIECE)
            except (OSError, ValueError):
                data = b""
            if not data:
                break
            self._feed(data)
        if self._line:
            self._end_line()

    def _feed(self, data: bytes) -> None:
        start = 0
        while True:
            end = data.find(b"\n", start)
            piece = data[start:] if end < 0 else data[start:end]
            room = LINE_KEPT - len(self._line)
            if len(piece) > room:
                self._dropped = True
            self._line += piece[:max(room, 0)]
            if end < 0:
                return
            self._end_line()
            start = end + 1

    def _end_line(self) -> None:
        line = self._line.decode("utf-8", "replace").rstrip() + (" …" if self._dropped else "")
        self._line.clear()
        self._dropped = False
        self.tail.append(line)
        if self._show is not None:
            self._show(line)

    def text(self, settle: float = 0.0) -> str:
        """The kept lines; with `settle`, first wait that long for the stream's end (once a
        server exited, the end of what it wrote is what explains why)."""
        if settle:
            self.thread.join(settle)
        return "\n".join(self.tail)

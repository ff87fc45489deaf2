"""A one-line spinner on a terminal, drawn by a daemon thread.

It shares its lock with the Renderer: every frame is drawn under that lock, and the
renderer erases the spinner's line (under the same lock) before it writes anything else, so
a frame never lands inside a line of text. The line is erased with a carriage return and
spaces, not an ANSI code, so it works on any terminal. One thread per Renderer at most,
started on the first `show` and joined by `close`.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Optional

from llmrun.base.safetext import name_shown

UNICODE_FRAMES = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
ASCII_FRAMES = "|/-\\"


def columns(stream: Any, default: int = 80) -> int:
    """The width of the terminal behind `stream` (the default when it has none)."""
    try:
        width = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, ValueError, OSError):
        return default
    return width if width > 0 else default


def _frames_for(stream: Any) -> str:
    try:
        UNICODE_FRAMES.encode(getattr(stream, "encoding", None) or "ascii")
    except (UnicodeError, LookupError):
        return ASCII_FRAMES
    return UNICODE_FRAMES


class Spinner:
    """Call `show`, `hide` and `erase` with `lock` held; `close` without it."""

    def __init__(self, stream: Any, lock: Any, paint: Any = None,
                 interval: float = 0.08) -> None:
        self.stream = stream
        self.lock = lock
        self.paint = paint or (lambda text: text)
        self.interval = interval
        self.frames = _frames_for(stream)
        self.label: Optional[str] = None
        self.held = 0  # > 0 while someone else owns the terminal (a confirmation prompt)
        self._since = 0.0
        self._tick = 0
        self._drawn = 0  # columns of the frame now on screen; 0 when the line is clean
        self._closed = threading.Event()
        self._thread: Optional[threading.Thread] = None
        self._broken = False

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def show(self, label: str) -> None:
        """Spin with `label` (the clock restarts only when the spinner was idle)."""
        if self._closed.is_set() or self._broken:
            return
        if self.label is None:
            self._since = time.monotonic()
        self.label = label
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="llmrun-spinner",
                                            daemon=True)
            self._thread.start()
        self._draw()

    def hide(self) -> None:
        """Stop spinning and leave the line clean."""
        self.label = None
        self.erase()

    def erase(self) -> None:
        """Clear the frame now on screen; the next tick draws it again if still spinning."""
        if self._drawn:
            self._write("\r" + " " * self._drawn + "\r")
            self._drawn = 0

    def close(self) -> None:
        """Erase the line and end the thread (it never outlives its renderer)."""
        with self.lock:
            self.hide()
            self._closed.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    # -- the thread -------------------------------------------------------------------------
    def _loop(self) -> None:
        from llmrun.base.signals import leave_to_main_thread

        leave_to_main_thread()
        while not self._closed.wait(self.interval):
            with self.lock:
                if self._closed.is_set() or self._broken:
                    return
                if self.label is not None:
                    self._tick += 1
                    self._draw()

    def _draw(self) -> None:
        if self.held or self.label is None:
            return
        elapsed = time.monotonic() - self._since
        text = f"{self.frames[self._tick % len(self.frames)]} {name_shown(self.label)}"
        if elapsed >= 1:
            text += f" ({elapsed:.0f} s)"
        text = text[:max(columns(self.stream) - 1, 1)]  # never wrap: \r could not erase it
        pad = " " * max(self._drawn - len(text), 0)
        self._write("\r" + self.paint(text) + pad)
        self._drawn = len(text)

    def _write(self, data: str) -> None:
        try:
            self.stream.write(data)
            self.stream.flush()
        except (OSError, ValueError):  # the terminal went away: stop drawing, quietly
            self._broken = True
            self._drawn = 0

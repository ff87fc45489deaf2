"""A batch's progress line on a terminal (done/total, failed, cost, rate, time left) and its
summary line at the end.

The line is the spinner's (output/spinner.py): one daemon thread redraws it, `\r` erases it,
so no library is needed and start-up costs nothing. Off a terminal only the summary is
written, and with `-q` nothing at all but errors.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator, Optional


def _cost(cost: Optional[float]) -> str:
    return "cost unknown" if cost is None else f"${cost:.4f}"


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


class Progress:
    """Counts what the batch did; draws it while running (on a terminal), sums it up at
    the end. `item_done` may be called from any worker thread."""

    def __init__(self, stream: Any, total: int, terminal: bool, quiet: bool) -> None:
        self.stream = stream
        self.total = total
        self.done = 0
        self.failed = 0
        self.cost: Optional[float] = None
        self.started = time.monotonic()
        self.quiet = quiet
        self._lock = threading.Lock()
        self._spinner: Any = None
        if terminal and not quiet and total:
            from llmrun.output.spinner import Spinner

            self._spinner = Spinner(stream, self._lock, interval=0.25)
            with self._lock:
                self._spinner.show(self.line())

    def add_cost(self, cost: Optional[float]) -> None:
        """A step's cost, as it is reported (the batch's budget reads `self.cost`)."""
        if cost is None:
            return
        with self._lock:
            self.cost = round((self.cost or 0.0) + cost, 12)

    def item_done(self, ok: bool) -> None:
        with self._lock:
            self.done += 1
            self.failed += 0 if ok else 1
            if self._spinner is not None:
                self._spinner.show(self.line())

    def line(self) -> str:
        """`12/40 done · 1 failed · $0.0123 · 3.1/s · about 9 s left`"""
        elapsed = max(time.monotonic() - self.started, 1e-6)
        parts = [f"{self.done}/{self.total} done", f"{self.failed} failed", _cost(self.cost)]
        if self.done:
            rate = self.done / elapsed
            parts.append(f"{rate:.1f}/s" if rate >= 1 else f"{rate * 60:.1f}/min")
            parts.append(f"about {_duration((self.total - self.done) / rate)} left")
        return " · ".join(parts)

    @contextmanager
    def above(self) -> Iterator[None]:
        """Write something else to the terminal (stdout's item lines) without the progress
        line in the middle of it: the line is erased first and redrawn on the next tick."""
        with self._lock:
            if self._spinner is not None:
                self._spinner.erase()
            yield

    def note(self, message: str) -> None:
        """A line of its own (a warning) above the progress line."""
        with self._lock:
            if self._spinner is not None:
                self._spinner.erase()
            self.stream.write(message + "\n")
            self.stream.flush()

    def close(self, stopped: str = "") -> None:
        """Erase the line; then (unless -q) the summary: what ran, failed, cost, how long."""
        if self._spinner is not None:
            self._spinner.close()
        if self.quiet:
            return
        elapsed = time.monotonic() - self.started
        text = (f"llmrun: batch: {self.done} item{'s' if self.done != 1 else ''} done of "
                f"{self.total}, {self.failed} failed, {_cost(self.cost)}, "
                f"{_duration(elapsed)}")
        if stopped:
            text += f"; {stopped}"
        try:
            self.stream.write(text + "\n")
            self.stream.flush()
        except (OSError, ValueError):
            pass

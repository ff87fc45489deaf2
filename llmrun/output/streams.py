"""stdout and stderr, made safe once at start-up: the one place output errors are handled.

- A closed pipe (`llmrun … | head`) ends llmrun quietly, as any Unix filter: exit 141 (the
  code of a SIGPIPE death), no message -- never the bug code 1.
- stdout closed before the start, or a write that fails otherwise (a full disk): one
  `llmrun: error:` line on stderr and exit 3.
- The answer is written as UTF-8 whatever the locale (or PYTHONIOENCODING) says; stderr
  never fails on a character it cannot encode.
Both are raised as exceptions that are not OSError, so nothing on the way (click included)
mistakes them for something else; the running tools and MCP servers are stopped on the way
out as for any other end.
"""

from __future__ import annotations

import os
import sys
from typing import Any


class OutputClosed(Exception):
    """The reader of stdout went away."""


class OutputFailed(Exception):
    """stdout cannot be written (closed before the start, a full disk…)."""


class _Guarded:
    """A text stream whose write and flush errors become OutputClosed / OutputFailed."""

    def __init__(self, stream: Any, quiet_failures: bool = False) -> None:
        self._stream = stream
        self._quiet = quiet_failures  # stderr: nothing to report a failure on

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as exc:
            return self._failed(exc)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            self._failed(exc)

    def _failed(self, exc: OSError) -> int:
        if self._quiet:
            return 0
        if isinstance(exc, BrokenPipeError):
            raise OutputClosed() from None
        raise OutputFailed(exc.strerror or str(exc)) from None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def prepare() -> None:
    """Guard sys.stdout and sys.stderr (call once, before anything is written)."""
    if sys.stdout is None:
        raise OutputFailed("standard output is closed")
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is None or isinstance(stream, _Guarded):
            continue
        try:
            if name == "stdout":
                stream.reconfigure(encoding="utf-8", errors="replace")
            else:
                stream.reconfigure(errors="backslashreplace")
        except (AttributeError, ValueError, OSError):
            pass  # not a TextIOWrapper (a test runner's): left as it is
        setattr(sys, name, _Guarded(stream, quiet_failures=name == "stderr"))


def leave_quietly() -> None:
    """After OutputClosed: nothing more may reach the closed pipe, not even at exit."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
    except OSError:
        pass

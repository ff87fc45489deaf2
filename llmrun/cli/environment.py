"""The standard streams a command works with, and whether each is a terminal (httpie's
Environment): handed to every command so that nothing below asks `sys` itself, and tests can
swap it."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream is not None and stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


@dataclass
class Environment:
    stdin: Any
    stdout: Any
    stderr: Any
    stdin_isatty: bool
    stdout_isatty: bool
    stderr_isatty: bool

    @classmethod
    def from_process(cls) -> "Environment":
        """The process's streams as they are now (main() has guarded them)."""
        return cls(sys.stdin, sys.stdout, sys.stderr, _isatty(sys.stdin), _isatty(sys.stdout),
                   _isatty(sys.stderr))

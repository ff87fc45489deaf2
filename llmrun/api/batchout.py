"""A batch's output: one JSON line per item, written and flushed as each item ends, under a
lock (completion order); and `--resume`, which reads what a previous run of the same
command already answered.

Each line is written with a single `write` on a file opened for appending, so a crash tears
at most the last line; `--resume` cuts a torn last line off before it appends.
"""

from __future__ import annotations

import json
import os
import threading
from contextlib import contextmanager
from typing import Any, Dict, Iterator, Optional, Set

from llmrun.base.errors import ConfigError


def answered_ids(path: str) -> Set[str]:
    """The ids that already have a line with exit_code 0 in `path` (after cutting a torn
    last line off the file); nothing when the file does not exist yet."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return set()
    except OSError as exc:
        raise ConfigError(f"--resume: cannot open {path}: {exc.strerror}") from None
    try:
        with os.fdopen(fd, "r+b") as fh:
            data = fh.read()
            end = data.rfind(b"\n") + 1
            if end < len(data):  # the last line never got its newline: a crash tore it
                fh.truncate(end)
                data = data[:end]
    except OSError as exc:
        raise ConfigError(f"--resume: cannot read {path}: {exc.strerror}") from None
    done: Set[str] = set()
    for line in data.splitlines():
        try:
            obj = json.loads(line)
        except ValueError:
            continue  # not ours, or damaged: that item simply runs again
        if isinstance(obj, dict) and obj.get("exit_code") == 0 and isinstance(obj.get("id"), str):
            done.add(obj["id"])
    return done


class Output:
    """Where the item lines go: a file (`-o`, truncated, or appended to with --resume) or
    standard output. `write` is safe from any thread."""

    def __init__(self, path: Optional[str], stream: Any, append: bool = False,
                 guard: Any = None) -> None:
        self.path = path
        self.guard = guard  # a context the terminal's progress line steps aside in
        self._lock = threading.Lock()
        self._stream = stream
        self._fh: Any = None
        if path is not None:
            try:
                self._fh = open(path, "ab" if append else "wb", buffering=0)
            except OSError as exc:
                raise ConfigError(f"cannot write the output file {path}: "
                                  f"{exc.strerror}") from None

    def write(self, obj: Dict[str, Any]) -> None:
        """One item's line, flushed before the next item's can start."""
        line = json.dumps(obj, ensure_ascii=False, allow_nan=False) + "\n"
        with self._lock:
            if self._fh is None:
                with self.guard() if self.guard is not None else _nothing():
                    self._stream.write(line)
                    self._stream.flush()
                return
            data = line.encode("utf-8")
            try:
                written = self._fh.write(data)
                while written < len(data):  # a short write (a signal): finish the line
                    written += self._fh.write(data[written:])
            except OSError as exc:
                raise ConfigError(f"cannot write the output file {self.path}: "
                                  f"{exc.strerror} (is the disk full?)") from None

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


@contextmanager
def _nothing() -> Iterator[None]:
    yield

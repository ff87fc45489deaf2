"""Keeping llmrun's own secrets from its tools: llmrun is made not dumpable, and the values
of secret variables are overwritten in its initial environment block.

`/proc/PID/environ` shows that block (the strings the kernel copied at exec, between
env_start and env_end of /proc/PID/stat), not `os.environ`: Python copied the environment
into os.environ at start-up, so overwriting the block changes nothing llmrun reads, while a
tool that reads `/proc/$PPID/environ` finds only the names. Not dumpable, a process's /proc
files (environ, mem, maps) are closed to other processes of the same user without
CAP_SYS_PTRACE, which no confined tool has.
"""

from __future__ import annotations

import ctypes
import threading
from typing import Callable, Set

PR_SET_DUMPABLE = 4
_lock = threading.Lock()
_wiped: Set[bytes] = set()


def harden(is_secret: Callable[[str], bool]) -> int:
    """Not dumpable, and every secret's value wiped from the environment block; returns how
    many values were wiped now. Cheap to call again (say, once more names are secret)."""
    with _lock:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
        return _wipe(is_secret)


def _wipe(is_secret: Callable[[str], bool]) -> int:
    try:
        with open("/proc/self/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
        start, end = int(fields[47]), int(fields[48])  # fields 50 and 51 of proc(5)
    except (OSError, IndexError, ValueError):
        return 0
    if not 0 < start < end or end - start > 16 * 2**20:
        return 0
    block = ctypes.string_at(start, end - start)
    wiped, offset = 0, 0
    for entry in block.split(b"\0"):
        name, eq, value = entry.partition(b"=")
        if eq and value.strip(b"\0") and is_secret(name.decode("utf-8", "replace")):
            at = start + offset + len(name) + 1
            ctypes.memset(at, 0, len(value))
            _wiped.add(name)
            wiped += 1
        offset += len(entry) + 1
    return wiped

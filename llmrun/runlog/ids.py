"""Run ids that sort by time, and telling a run that is still going from one that was
killed: by the writer's pid, the machine's boot id and the process start time together (a
bare pid may have been reused)."""

from __future__ import annotations

import os
import time
from typing import Any, Optional, Tuple

#: Crockford's base32, lower case: its characters sort in ASCII order.
_DIGITS = "0123456789abcdefghjkmnpqrstvwxyz"
_BOOT_ID = "/proc/sys/kernel/random/boot_id"


def new_id(now: Optional[float] = None) -> str:
    """Milliseconds since the epoch in 9 base32 digits, then 3 random ones: 12 characters
    that sort by start time (until the year 5700), unique enough for any number of writers
    (a clash is retried by the caller)."""
    ms = int((time.time() if now is None else now) * 1000)
    return _base32(ms, 9) + _base32(int.from_bytes(os.urandom(2), "big") & 0x7fff, 3)


def _base32(number: int, width: int) -> str:
    out = []
    for _ in range(width):
        out.append(_DIGITS[number & 31])
        number >>= 5
    return "".join(reversed(out))


def host() -> str:
    try:
        return os.uname().nodename
    except (AttributeError, OSError):  # not on Windows
        import socket

        return socket.gethostname()


def boot_id() -> Optional[str]:
    try:
        with open(_BOOT_ID, encoding="ascii") as fh:
            return fh.read().strip() or None
    except OSError:
        return None


def start_time(pid: int) -> Optional[str]:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            stat = fh.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()  # the name may hold spaces and parens
    return fields[19] if len(fields) > 19 else None


def identity() -> Tuple[str, int, Optional[str], Optional[str]]:
    """host, pid, boot id and start time of this process, written with a run's row."""
    pid = os.getpid()
    return host(), pid, boot_id(), start_time(pid)


def still_running(row: Any, here: Optional[Tuple[Any, ...]] = None) -> bool:
    """Is the process that wrote this `running` row alive? Another machine's run cannot be
    judged from here: it is taken at its word."""
    me = here or (host(), os.getpid(), boot_id(), None)
    if row["host"] != me[0]:
        return True
    if row["boot_id"] and me[2] and row["boot_id"] != me[2]:
        return False  # the machine rebooted since
    pid = row["pid"]
    if not isinstance(pid, int) or pid <= 0:
        return False
    if row["proc_start"]:
        return start_time(pid) == row["proc_start"]
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True

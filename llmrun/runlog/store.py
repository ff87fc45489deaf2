"""Opening the run log file: its folder (0700) and file (0600), WAL and a busy timeout, the
schema at its version, and a rollback journal where WAL cannot work (network filesystems).

Every failure here is a LogUnavailable with a message in words; the recorder turns it into
one warning and the run goes on.
"""

from __future__ import annotations

import os
import re
from typing import Any, Callable, Optional

#: How long a writer waits for another one; transactions are one step or one call, so the
#: wait is normally milliseconds.
BUSY_S = 5.0
#: Filesystems on which SQLite's WAL (shared memory beside the file) does not work.
NETWORK_FS = {"nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "afs", "ceph", "glusterfs",
              "lustre", "gpfs", "fuse.sshfs", "sshfs", "fuse.rclone", "davfs", "fuse.s3fs",
              "ncpfs", "coda"}
MOUNTINFO = "/proc/self/mountinfo"


class LogUnavailable(Exception):
    """The log cannot be opened or written; the message says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def open_log(path: str, warn: Optional[Callable[[str], None]] = None, create: bool = True) -> Any:
    """A connection to the log at `path`, ready to write (autocommit; callers BEGIN)."""
    if create:
        _make_folder(os.path.dirname(path))
        _make_file(path)
    elif not os.path.exists(path):
        raise LogUnavailable(f"there is no run log at {path} yet")
    import sqlite3

    from llmrun.runlog import schema

    try:
        conn = sqlite3.connect(path, timeout=BUSY_S, isolation_level=None,
                               check_same_thread=False)
    except sqlite3.Error as exc:
        raise LogUnavailable(f"cannot open the run log {path}: {exc}") from None
    try:
        _journal(conn, path, warn)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        if not schema.ensure(conn):
            raise LogUnavailable(f"the run log {path} was written by a newer llmrun (schema "
                                 f"version {conn.execute('PRAGMA user_version').fetchone()[0]},"
                                 f" this one knows {schema.VERSION}); it is left alone")
    except sqlite3.Error as exc:
        conn.close()
        raise LogUnavailable(f"cannot use the run log {path}: {exc}") from None
    except BaseException:
        conn.close()
        raise
    return conn


def _make_folder(folder: str) -> None:
    """Create the missing folders, each 0700 (the log holds prompts and tool output)."""
    missing = []
    while folder and not os.path.isdir(folder):
        missing.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    for one in reversed(missing):
        try:
            os.mkdir(one, 0o700)
        except FileExistsError:
            if not os.path.isdir(one):
                raise LogUnavailable(f"cannot create the run log folder: {one} is a file")
        except OSError as exc:
            raise LogUnavailable(f"cannot create the run log folder {one}: "
                                 f"{exc.strerror}") from None


def _make_file(path: str) -> None:
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
    except OSError as exc:
        raise LogUnavailable(f"cannot create the run log {path}: {exc.strerror}") from None


def _journal(conn: Any, path: str, warn: Optional[Callable[[str], None]]) -> None:
    """WAL, unless the file is on a network filesystem: then a rollback journal, said once."""
    current = conn.execute("PRAGMA journal_mode").fetchone()[0].lower()
    if current == "wal":
        return  # set by an earlier run, which found a local filesystem
    fs = network_fs(os.path.dirname(path))
    want = "delete" if fs else "wal"
    if fs and warn is not None:
        warn(f"the run log {path} is on a network filesystem ({fs}), where SQLite's WAL does "
             "not work; using a rollback journal (set LLMRUN_LOG_DB to a local file to avoid "
             "this)")
    if current != want and not (fs and current != "wal"):
        conn.execute(f"PRAGMA journal_mode = {want}")


def network_fs(folder: str, mountinfo: Optional[str] = None) -> Optional[str]:
    """The type of the network filesystem that holds `folder`, or None (also off Linux)."""
    try:
        with open(mountinfo or MOUNTINFO, encoding="utf-8", errors="replace") as fh:
            lines = fh.read().splitlines()
    except OSError:
        return None
    where = os.path.realpath(folder)
    best, kind = "", ""
    for line in lines:
        fields = line.split()
        if "-" not in fields or len(fields) < 5:
            continue
        point = _unescape(fields[4])
        fstype = fields[fields.index("-") + 1] if fields.index("-") + 1 < len(fields) else ""
        inside = where == point or where.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= len(best):
            best, kind = point, fstype
    return kind if kind in NETWORK_FS or kind.startswith("nfs") else None


def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)

"""Removing runs: `log rm`, `log prune --older-than`, and `log_keep` as runs are logged."""

from __future__ import annotations

from typing import Any, Iterable, List

from llmrun.runlog.schema import has_search


def remove(conn: Any, ids: Iterable[str]) -> int:
    """Delete these runs and everything of theirs, in one transaction; how many went."""
    ids = list(ids)
    if not ids:
        return 0
    conn.execute("BEGIN IMMEDIATE")
    try:
        gone = _delete(conn, ids)
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return gone


def prune(conn: Any, before_ts: float) -> int:
    """Delete the runs that started before `before_ts`, except those still running."""
    from llmrun.runlog.ids import still_running

    rows = conn.execute("SELECT id, status, host, pid, boot_id, proc_start FROM runs "
                        "WHERE started_ts < ?", (before_ts,)).fetchall()
    keys = ("id", "status", "host", "pid", "boot_id", "proc_start")
    ids = [r[0] for r in rows
           if r[1] != "running" or not still_running(dict(zip(keys, r)))]
    return remove(conn, ids)


def _delete(conn: Any, ids: List[str]) -> int:
    gone = 0
    search = has_search(conn)
    for start in range(0, len(ids), 500):
        part = ids[start:start + 500]
        marks = ", ".join("?" * len(part))
        for table in ("steps", "tool_calls", "transcripts", "cuts"):
            conn.execute(f"DELETE FROM {table} WHERE run_id IN ({marks})", part)
        if search:
            conn.execute(f"DELETE FROM search WHERE run_id IN ({marks})", part)
        gone += conn.execute(f"DELETE FROM runs WHERE id IN ({marks})", part).rowcount
    return gone

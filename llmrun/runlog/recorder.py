"""The run log's consumer of a run's events: each step and each tool call committed as it ends.

    rec = open_recorder(settings, info, warn)   # None when the log is off (never raises)
    rec.event(event)                            # every event of the run, in order
    rec.close()                                 # after the result event, and on any end

(by default the recorder runs on a thread of its own: llmrun/runlog/background.py)

A run's row is written when the recorder opens, so a run that dies at once is still there;
SIGKILL loses only what had not finished. Nothing here can fail or stop a run: the first
problem is one warning through `warn`, and the recorder goes quiet for the rest of the run.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any, Callable, Dict, List, Optional

from llmrun.runlog.ids import identity, new_id
from llmrun.runlog.privacy import Texts, clean_url
from llmrun.runlog.settings import METADATA, LogSettings
from llmrun.runlog.store import LogUnavailable, open_log
from llmrun.runlog.values import USAGE_KEYS, add_usage, iso, to_pusd

Warn = Callable[[str], None]


def open_recorder(settings: Optional[LogSettings], info: Dict[str, Any], warn: Warn,
                  background: bool = True) -> Any:
    """A recorder for one run, or None when the log is off. In the background (the
    default) the file is opened and written by a thread of its own, so the run never waits
    on the disk but at `close`; a log that cannot be written is then one warning, and the
    recorder goes quiet. `background=False`: written as the events come, and None when the
    log cannot be opened (after the warning)."""
    if settings is None or not settings.enabled:
        return None
    if background:
        from llmrun.runlog.background import BackgroundRecorder

        return BackgroundRecorder(settings, info, warn, open_now)
    return open_now(settings, info, warn)


def open_now(settings: LogSettings, info: Dict[str, Any], warn: Warn) -> Optional["Recorder"]:
    try:
        return Recorder(settings, info, warn)
    except LogUnavailable as exc:
        _warn(warn, f"this run is not logged: {exc.message}")
    except Exception as exc:  # a full disk, a corrupt file, anything: never the run's problem
        _warn(warn, f"this run is not logged: the run log {settings.path} cannot be written "
                    f"({type(exc).__name__}: {exc})")
    return None


def _warn(warn: Warn, message: str) -> None:
    try:
        warn(message)
    except Exception:
        pass


def _checkpoint(conn: Any) -> None:
    """Fold the WAL that earlier runs left into the file, while this run has just begun and
    nothing waits for it: a run's own close is often cut short by its process's exit, and
    a WAL that grew run after run would cost every open and close all of it."""
    try:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    except Exception:  # busy or not WAL: the next run tries again
        pass


def dumps(value: Any) -> Optional[str]:
    return None if value is None else json.dumps(value, ensure_ascii=False)


class Recorder:
    """Writes one run. Thread-safe: tool results may arrive from the runner's threads."""

    def __init__(self, settings: LogSettings, info: Dict[str, Any], warn: Warn) -> None:
        self.settings, self.warn = settings, warn
        self.texts = Texts(settings.secrets, settings.mode == METADATA)
        self.lock = threading.Lock()
        self.finished = False
        self._pending: Optional[List[Any]] = None  # statements of the batch being written
        self.sources: Dict[str, str] = {}
        self.raw_args: Dict[str, str] = {}  # call id -> arguments as streamed
        self.sent: List[str] = []  # the messages of the last request, as JSON
        self.usage: Dict[str, Any] = {}
        self.pusd: Optional[int] = None
        self.calls = 0
        self.warnings: List[str] = []
        self.started = time.time()
        self.conn = open_log(settings.path, warn)
        try:
            from llmrun.runlog.schema import has_search

            self.searchable = has_search(self.conn)
            self.id = self._insert_run(info)
            _checkpoint(self.conn)
        except BaseException:
            self.conn.close()
            raise

    # -- the interface -------------------------------------------------------------------------
    def event(self, event: Dict[str, Any]) -> None:
        handler = _HANDLERS.get(event.get("type"))
        if handler is None or self.conn is None:
            return
        with self.lock:
            if self.conn is None:
                return
            try:
                handler(self, event)
            except Exception as exc:
                self._fail(exc)

    def events(self, batch: List[Dict[str, Any]]) -> None:
        """Events that arrived together (a replay, a fast model), in one transaction: fewer
        commits, and each step still lands before the thread waits for the next event."""
        if len(batch) == 1:
            self.event(batch[0])
            return
        with self.lock:
            if self.conn is None:
                return
            self._pending = []
            try:
                for event in batch:
                    handler = _HANDLERS.get(event.get("type"))
                    if handler is not None:
                        handler(self, event)
                pending, self._pending = self._pending, None
                if pending:  # a batch of tool calls alone writes nothing: no write lock
                    self._tx(pending)
            except Exception as exc:
                self._pending = None
                self._fail(exc)

    def finish(self) -> None:
        """The events are over: a run that sent no result ended abruptly (a bug)."""
        with self.lock:
            if self.conn is None or self.finished:
                return
            try:
                self.conn.execute("UPDATE runs SET status = 'killed', ended_at = ? "
                                  "WHERE id = ? AND status = 'running'",
                                  (iso(time.time()), self.id))
                self.finished = True
            except Exception as exc:
                self._fail(exc)

    def close(self) -> None:
        self.finish()
        with self.lock:
            if self.conn is not None:
                try:
                    self.conn.close()
                except Exception:
                    pass
                self.conn = None

    # -- writing -------------------------------------------------------------------------------
    def _fail(self, exc: Exception) -> None:
        """One warning, then quiet: the run goes on and its outcome is its own."""
        conn, self.conn = self.conn, None
        try:
            if conn is not None:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                conn.close()
        except Exception:
            pass
        _warn(self.warn, f"the run log {self.settings.path} could not be written, so this "
                         f"run is logged only in part: {exc}")

    def _tx(self, statements: List[Any]) -> None:
        """One transaction: a step, or a tool call, lands whole or not at all (in `events`,
        the statements wait for the batch's one transaction)."""
        if self._pending is not None:
            self._pending.extend(statements)
            return
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            for sql, args in statements:
                conn.execute(sql, args)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _insert_run(self, info: Dict[str, Any]) -> str:
        import sqlite3

        t = self.texts
        host, pid, boot, proc_start = identity()
        kind = info.get("kind") or ("batch" if info.get("batch_id") is not None else "ask")
        attachments = [{k: a.get(k) for k in ("path", "type", "size", "sha256")}
                       for a in info.get("attachments") or [] if isinstance(a, dict)]
        argv = None if t.metadata_only else t.value(list(info.get("argv") or []), "argv")
        row = {"started_at": iso(self.started), "started_ts": self.started,
               "status": "running", "kind": kind, "provider": t.clean(info.get("provider"), ""),
               "base_url": t.clean(clean_url(info.get("base_url")), ""),
               "requested_model": t.clean(info.get("model"), ""),
               "model": t.clean(info.get("model"), ""), "batch_id": _str(info.get("batch_id")),
               "item_id": _str(info.get("item_id")), "cwd": t.clean(info.get("cwd"), "cwd"),
               "host": host, "pid": pid, "boot_id": boot, "proc_start": proc_start,
               "mode": self.settings.mode, "argv": dumps(argv),
               "attachments": dumps(t.value(attachments, "attachments")),
               "system": t.text(info.get("system"), "system"),
               "prompt": t.text(info.get("prompt"), "prompt")}
        names = ", ".join(row)
        marks = ", ".join("?" * (len(row) + 1))
        for _ in range(8):
            run_id = new_id(self.started)
            try:
                statements = [(f"INSERT INTO runs (id, {names}) VALUES ({marks})",
                               (run_id, *row.values()))]
                if row["prompt"]:
                    statements.append(self._search(run_id, "prompt", row["prompt"]))
                statements += self._cut_rows(run_id)
                self._tx([s for s in statements if s])
                return run_id
            except sqlite3.IntegrityError:
                continue  # two runs in the same millisecond drew the same suffix
        raise LogUnavailable("no free run id (the clock is stuck?)")

    def _cut_rows(self, run_id: str) -> List[Any]:
        rows = [("INSERT INTO cuts (run_id, what, full_bytes) VALUES (?, ?, ?)",
                 (run_id, what, size)) for what, size in self.texts.cuts]
        if rows:
            rows.append(("UPDATE runs SET cut = 1 WHERE id = ?", (run_id,)))
        self.texts.cuts = []
        return rows

    def _search(self, run_id: str, kind: str, text: Optional[str]) -> Any:
        """The full-text row for `--search` (None without FTS5: search scans instead)."""
        if not text or not self.searchable:
            return None
        return ("INSERT INTO search (text, run_id, kind) VALUES (?, ?, ?)", (text, run_id, kind))

    # -- the events ----------------------------------------------------------------------------
    def _start(self, e: Dict[str, Any]) -> None:
        self.sources = {str(k): str(v) for k, v in (e.get("_tool_sources") or {}).items()}
        t = self.texts
        self._tx([(
            "UPDATE runs SET provider = ?, requested_model = ?, model = ?, tools = ?, "
            "tool_sources = ?, base_url = coalesce(?, base_url), "
            "system = coalesce(?, system), attachments = coalesce(?, attachments) WHERE id = ?",
            (t.clean(e.get("provider"), ""), t.clean(e.get("model"), ""),
             t.clean(e.get("model"), ""), dumps(t.value(list(e.get("tools") or []), "")),
             dumps(t.value(self.sources, "")), t.clean(clean_url(e.get("_base_url")), ""),
             t.text(e.get("_system"), "system"), _attachments(t, e), self.id))])

    def _warning(self, e: Dict[str, Any]) -> None:
        self.warnings.append(self.texts.clean(e.get("message"), "warning") or "")
        self._tx([("UPDATE runs SET warnings = ? WHERE id = ?", (dumps(self.warnings), self.id))])

    def _step(self, e: Dict[str, Any]) -> None:
        from llmrun.runlog.steps import step_rows

        for call in e.get("_tool_calls") or []:
            if isinstance(call, dict) and call.get("id") is not None:
                self.raw_args[str(call["id"])] = str(call.get("arguments") or "")
        usage = e.get("usage") if isinstance(e.get("usage"), dict) else {}
        self.usage = add_usage(self.usage, usage)
        step_pusd = to_pusd(usage.get("cost"))
        if step_pusd is not None:
            self.pusd = (self.pusd or 0) + step_pusd
        statements = step_rows(self, e)
        totals = [self.usage.get(k, 0) or 0 for k in USAGE_KEYS]
        statements.append((
            "UPDATE runs SET steps = ?, model = coalesce(?, model), finish_reason = ?, "
            + ", ".join(f"{k} = ?" for k in USAGE_KEYS) + ", cost = ?, cost_pusd = ? "
            "WHERE id = ?",
            (e.get("step"), self.texts.clean(e.get("model"), ""),
             self.texts.clean(e.get("finish_reason"), ""), *totals, self.usage.get("cost"),
             self.pusd, self.id)))
        self._tx(statements + self._cut_rows(self.id))

    def _tool_result(self, e: Dict[str, Any]) -> None:
        t = self.texts
        self.calls += 1
        call_id = _str(e.get("id"))
        name = _str(e.get("name"))
        arguments = self.raw_args.get(call_id or "")
        if arguments is None:
            arguments = dumps(e.get("arguments"))
        result = t.text(e.get("result"), f"tool call {self.calls} result")
        statements = [(
            "INSERT INTO tool_calls (run_id, position, step, call_id, tool, source, arguments,"
            " result, is_error, duration_s, ended_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (self.id, self.calls, e.get("step"), t.clean(call_id, ""), t.clean(name, ""),
             t.clean(self.sources.get(name or ""), ""),
             t.text(arguments, f"tool call {self.calls} arguments"), result,
             1 if e.get("is_error") else 0, e.get("duration_s"), iso(time.time()))),
            ("UPDATE runs SET tool_call_count = ? WHERE id = ?", (self.calls, self.id))]
        statements.append(self._search(self.id, "tool_result", result))
        self._tx([s for s in statements if s] + self._cut_rows(self.id))

    def _result(self, e: Dict[str, Any]) -> None:
        from llmrun.runlog.finish import result_rows

        self._tx(result_rows(self, e) + self._cut_rows(self.id))
        self.finished = True
        if self.settings.keep_s:
            from llmrun.runlog.maintain import prune

            prune(self.conn, time.time() - self.settings.keep_s)


def _attachments(t: Any, e: Dict[str, Any]) -> Optional[str]:
    """The start event's attachments (path, type, size, SHA-256: never the bytes)."""
    found = e.get("_attachments")
    if not found:
        return None
    kept = [{k: a.get(k) for k in ("path", "type", "size", "sha256")}
            for a in found if isinstance(a, dict)]
    return dumps(t.value(kept, "attachments"))


def _str(value: Any) -> Optional[str]:
    return None if value is None else str(value)


_HANDLERS: Dict[Any, Callable[[Recorder, Dict[str, Any]], None]] = {
    "start": Recorder._start, "warning": Recorder._warning, "step": Recorder._step,
    "tool_result": Recorder._tool_result, "result": Recorder._result}

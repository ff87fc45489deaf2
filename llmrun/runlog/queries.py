"""Reading the log back: the runs a filter picks, one run whole, and summed cost.

A `running` row whose writer is gone is reported as `killed` (llmrun.runlog.ids); nothing is
written while reading, so a read-only log can be read.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Tuple

from llmrun.base.errors import ConfigError
from llmrun.runlog.ids import still_running
from llmrun.runlog.schema import has_search
from llmrun.runlog.values import from_pusd

LIST_COLUMNS = ("id, started_at, started_ts, exit_code, status, provider, model, "
                "requested_model, steps, tool_call_count, cost, duration_s, prompt, host, "
                "pid, boot_id, proc_start, error_type")


@dataclass
class Filter:
    limit: Optional[int] = 20
    since: Optional[float] = None
    until: Optional[float] = None
    failed: bool = False
    exit_code: Optional[int] = None
    model: Optional[str] = None
    provider: Optional[str] = None
    tool: Optional[str] = None
    search: Optional[str] = None
    batch: Optional[str] = None


def status_of(row: Any) -> str:
    if row["status"] == "running" and not still_running(row):
        return "killed"
    return row["status"]


def _where(conn: Any, f: Filter) -> Tuple[str, List[Any]]:
    parts: List[str] = []
    args: List[Any] = []
    if f.since is not None:
        parts.append("started_ts >= ?")
        args.append(f.since)
    if f.until is not None:
        parts.append("started_ts < ?")
        args.append(f.until)
    if f.failed:
        parts.append("(status != 'done' OR exit_code IS NULL OR exit_code != 0)")
    if f.exit_code is not None:
        parts.append("exit_code = ?")
        args.append(f.exit_code)
    if f.model:
        parts.append("(model = ? OR requested_model = ? OR model LIKE ? ESCAPE '\\')")
        args += [f.model, f.model, _like_prefix(f.model)]
    if f.provider:
        parts.append("provider = ?")
        args.append(f.provider)
    if f.tool:
        parts.append("id IN (SELECT run_id FROM tool_calls WHERE tool = ?)")
        args.append(f.tool)
    if f.batch:
        parts.append("batch_id = ?")
        args.append(f.batch)
    if f.search:
        clause, more = _search(conn, f.search)
        parts.append(clause)
        args += more
    return (" WHERE " + " AND ".join(parts)) if parts else "", args


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _search(conn: Any, text: str) -> Tuple[str, List[Any]]:
    """Full text (FTS5) when the file has it: every word must occur, as a word; else a
    plain substring scan over the same texts."""
    words = text.split()
    if has_search(conn) and words:
        query = " ".join('"' + w.replace('"', '""') + '"' for w in words)
        return "id IN (SELECT run_id FROM search WHERE search MATCH ?)", [query]
    like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return ("(prompt LIKE ? ESCAPE '\\' OR answer LIKE ? ESCAPE '\\' OR id IN (SELECT run_id "
            "FROM tool_calls WHERE result LIKE ? ESCAPE '\\'))", [like, like, like])


def list_runs(conn: Any, f: Filter) -> List[Dict[str, Any]]:
    """Newest first; the `log --json` objects (plus `error_type`)."""
    where, args = _where(conn, f)
    sql = f"SELECT {LIST_COLUMNS} FROM runs{where} ORDER BY started_ts DESC, id DESC"
    if f.limit is not None:
        sql += " LIMIT ?"
        args.append(f.limit + (16 if f.failed else 0))  # a few running ones are dropped
    out = []
    for row in conn.execute(sql, args):
        status = status_of(row)
        if f.failed and status == "running":
            continue
        out.append({"id": row["id"], "started_at": row["started_at"],
                    "exit_code": row["exit_code"] if status == "done" else None,
                    "status": status, "provider": row["provider"],
                    "model": row["model"] or row["requested_model"], "steps": row["steps"],
                    "tool_call_count": row["tool_call_count"], "cost": row["cost"],
                    "duration_s": row["duration_s"], "prompt": row["prompt"],
                    "error_type": row["error_type"]})
    return out[:f.limit] if f.limit is not None else out


def resolve_id(conn: Any, word: str, path: str) -> str:
    """`last`, a whole id, or the unique start of one."""
    if word == "last":
        row = conn.execute("SELECT id FROM runs ORDER BY started_ts DESC, id DESC "
                           "LIMIT 1").fetchone()
        if row is None:
            raise ConfigError(f"the run log {path} has no runs yet")
        return row[0]
    rows = conn.execute("SELECT id FROM runs WHERE id >= ? AND id < ? ORDER BY id LIMIT 2",
                        (word, word + "\x7f")).fetchall()
    exact = [r[0] for r in rows if r[0] == word]
    if exact:
        return exact[0]
    if len(rows) == 1:
        return rows[0][0]
    if not rows:
        raise ConfigError(f"no run {word!r} in the run log {path} (see 'llmrun log')")
    raise ConfigError(f"{word!r} is the start of more than one run id; give more of it")


def cost(conn: Any, since: Optional[float], until: Optional[float],
         by: Optional[str]) -> List[Dict[str, Any]]:
    """Summed tokens and cost per group (exact: picodollars summed as integers)."""
    where, args = _where(conn, Filter(since=since, until=until))
    sums = ("count(*) AS runs, total(prompt_tokens) AS prompt_tokens, "
            "total(completion_tokens) AS completion_tokens, sum(cost_pusd) AS pusd, "
            "sum(cost_pusd IS NULL) AS without")
    if by == "tool":
        sql = (f"SELECT t.tool AS key, {sums}, sum(t.calls) AS calls FROM (SELECT run_id, "
               "tool, count(*) AS calls FROM tool_calls GROUP BY run_id, tool) AS t JOIN "
               f"(SELECT * FROM runs{where}) AS r ON r.id = t.run_id GROUP BY t.tool "
               "ORDER BY pusd DESC, runs DESC, key")
    elif by:
        key = {"day": "substr(started_at, 1, 10)", "model": "coalesce(model, requested_model)",
               "provider": "provider", "cwd": "cwd"}[by]
        order = "key" if by == "day" else "pusd DESC, runs DESC, key"
        sql = f"SELECT {key} AS key, {sums} FROM runs{where} GROUP BY key ORDER BY {order}"
    else:
        sql = f"SELECT {sums} FROM runs{where}"
    out = []
    for row in conn.execute(sql, args):
        line: Dict[str, Any] = {by: row["key"]} if by else {}
        line.update({"runs": row["runs"], "prompt_tokens": int(row["prompt_tokens"]),
                     "completion_tokens": int(row["completion_tokens"]),
                     "cost": from_pusd(row["pusd"]), "runs_without_cost": row["without"] or 0})
        if by == "tool":
            line["calls"] = row["calls"]
        out.append(line)
    return out


def run_row(conn: Any, run_id: str) -> Any:
    return conn.execute("SELECT * FROM runs WHERE id = ?", (run_id,)).fetchone()


def show(conn: Any, run_id: str) -> Dict[str, Any]:
    """`log show --json`: the run's --json object (as printed, or rebuilt for a run that
    never printed one) plus where and when it ran, and its steps."""
    row = run_row(conn, run_id)
    status = status_of(row)
    transcript = conn.execute("SELECT result FROM transcripts WHERE run_id = ?",
                              (run_id,)).fetchone()
    obj = json.loads(transcript[0]) if transcript and transcript[0] else rebuilt(conn, row,
                                                                                 status)
    obj.update({"id": row["id"], "started_at": row["started_at"], "ended_at": row["ended_at"],
                "status": status, "exit_code": row["exit_code"] if status == "done" else None,
                "prompt": row["prompt"], "system": row["system"], "cwd": row["cwd"],
                "argv": _json(row["argv"]), "batch_id": row["batch_id"],
                "item_id": row["item_id"], "host": row["host"], "base_url": row["base_url"],
                "requested_model": row["requested_model"], "log_mode": row["mode"],
                "cut": [dict(what=w, full_bytes=b) for w, b in conn.execute(
                    "SELECT what, full_bytes FROM cuts WHERE run_id = ?", (run_id,))],
                "attachments": _json(row["attachments"]) or [],
                "warnings": _json(row["warnings"]) or [], "step_log": step_log(conn, run_id)})
    logged = tool_calls(conn, run_id)
    if len(logged) == len(obj.get("tool_calls") or []):  # where each call ran, and its source
        for shown, row_call in zip(obj["tool_calls"], logged):
            if isinstance(shown, dict):
                shown.update(step=row_call["step"], source=row_call["source"])
    return obj


def tool_calls(conn: Any, run_id: str) -> List[Dict[str, Any]]:
    out = []
    for c in conn.execute("SELECT * FROM tool_calls WHERE run_id = ? ORDER BY position",
                          (run_id,)):
        args = c["arguments"]
        try:
            args = json.loads(args) if args and args.strip() else ({} if args == "" else args)
        except ValueError:
            pass
        out.append({"id": c["call_id"], "name": c["tool"], "arguments": args,
                    "result": c["result"], "is_error": bool(c["is_error"]),
                    "duration_s": c["duration_s"], "step": c["step"], "source": c["source"]})
    return out


def step_log(conn: Any, run_id: str) -> List[Dict[str, Any]]:
    out = []
    for s in conn.execute("SELECT step, model, finish_reason, prompt_tokens, "
                          "completion_tokens, total_tokens, reasoning_tokens, cached_tokens, "
                          "cache_write_tokens, cost, duration_s, text, reasoning FROM steps "
                          "WHERE run_id = ? ORDER BY step", (run_id,)):
        usage = {k: s[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens",
                                   "reasoning_tokens", "cached_tokens", "cache_write_tokens",
                                   "cost")}
        out.append({"step": s["step"], "model": s["model"],
                    "finish_reason": s["finish_reason"], "usage": usage,
                    "duration_s": s["duration_s"], "text": s["text"],
                    "reasoning": s["reasoning"]})
    return out


def rebuilt(conn: Any, row: Any, status: str) -> Dict[str, Any]:
    """The --json object a run would have printed, from its rows (killed, or logged by an
    llmrun that stored none)."""
    steps = step_log(conn, row["id"])
    reasoning = [s["reasoning"] for s in steps if s["reasoning"]]
    obj: Dict[str, Any] = {
        "answer": row["answer"] or "", "model": row["model"] or row["requested_model"],
        "provider": row["provider"], "finish_reason": row["finish_reason"],
        "steps": row["steps"], "tool_calls": tool_calls(conn, row["id"]),
        "reasoning": "\n".join(reasoning) if reasoning else None,
        "usage": {k: row[k] for k in ("prompt_tokens", "completion_tokens", "total_tokens",
                                      "reasoning_tokens", "cached_tokens",
                                      "cache_write_tokens", "cost")},
        "duration_s": row["duration_s"]}
    if status == "killed":
        obj["error"] = {"type": "killed", "message": "the run ended before it finished "
                                                     "(killed, or its machine went down)"}
    elif row["error_type"]:
        obj["error"] = {"type": row["error_type"], "message": row["error_message"]}
    return obj


def _json(text: Optional[str]) -> Any:
    try:
        return json.loads(text) if text else None
    except ValueError:
        return None

"""The end of a run as rows: its outcome, answer and totals, the --json object and the
messages that `--continue` resends, and the answer for full-text search."""

from __future__ import annotations

import json
import time
from typing import Any, Dict, List, Optional

from llmrun.runlog.values import USAGE_KEYS, cost_value, iso, to_pusd

#: --json keys that hold texts: dropped from the stored object under `log: metadata`.
_TEXT_KEYS = ("answer", "reasoning", "data")


def public(event: Dict[str, Any]) -> Dict[str, Any]:
    """The event without its private keys (`_messages`…) and its `type`."""
    return {k: v for k, v in event.items() if not k.startswith("_") and k != "type"}


def stored_result(rec: Any, e: Dict[str, Any]) -> Dict[str, Any]:
    """The --json object as it may be kept (cleaned; texts dropped in metadata mode)."""
    t = rec.texts
    obj = public(e)
    if t.metadata_only:
        for key in _TEXT_KEYS:
            if obj.get(key) is not None:
                obj[key] = None
        obj["tool_calls"] = [{k: v for k, v in c.items() if k not in ("arguments", "result")}
                             for c in obj.get("tool_calls") or [] if isinstance(c, dict)]
    return t.value(obj, "result")


def result_rows(rec: Any, e: Dict[str, Any]) -> List[Any]:
    """The UPDATE of the run and the transcript, in one transaction with the search row."""
    t = rec.texts
    usage = e.get("usage") if isinstance(e.get("usage"), dict) else rec.usage or {}
    error = e.get("error") if isinstance(e.get("error"), dict) else {}
    cost = cost_value(usage.get("cost"))  # negative or not finite: hostile, never summed
    pusd = rec.pusd if rec.pusd is not None and cost is not None and \
        abs(rec.pusd / 1e12 - cost) < 1e-9 else to_pusd(cost)  # the steps' exact sum
    calls = e.get("tool_calls") if isinstance(e.get("tool_calls"), list) else []
    answer = t.text(e.get("answer"), "answer")
    data = e.get("data")
    row = {"ended_at": iso(time.time()), "duration_s": e.get("duration_s"), "status": "done",
           "exit_code": e.get("exit_code", e.get("_exit_code")), "error_type": t.clean(error.get("type"), ""),
           "error_message": t.clean(error.get("message"), "error message"),
           "provider": t.clean(e.get("provider"), ""), "model": t.clean(e.get("model"), ""),
           "steps": e.get("steps") or 0, "tool_call_count": max(len(calls), rec.calls),
           "finish_reason": t.clean(e.get("finish_reason"), ""),
           **{k: usage.get(k) or 0 for k in USAGE_KEYS}, "cost": cost, "cost_pusd": pusd,
           "answer": answer, "reasoning": t.text(e.get("reasoning"), "reasoning"),
           "data": None if data is None or t.metadata_only else
           json.dumps(t.value(data, "data"), ensure_ascii=False)}
    sets = ", ".join(f"{k} = ?" for k in row)
    messages = None
    if not t.metadata_only and isinstance(e.get("_messages"), list):
        messages = json.dumps(t.value(e["_messages"], "messages"), ensure_ascii=False)
    statements = [
        (f"UPDATE runs SET {sets} WHERE id = ?", (*row.values(), rec.id)),
        ("INSERT OR REPLACE INTO transcripts (run_id, messages, result) VALUES (?, ?, ?)",
         (rec.id, messages, json.dumps(stored_result(rec, e), ensure_ascii=False)))]
    search: Optional[Any] = rec._search(rec.id, "answer", answer)
    return statements + ([search] if search else [])

"""One step as rows: its usage and texts, the request as sent, and the response as
normalised events — the text, reasoning (with its signed details), tool calls, finish
reason, model and usage the stream carried — from which `log cassette` rebuilds the stream.

Each request repeats the whole conversation, so only the messages new since the previous
request are stored (`{"from": N, "new": [...]}`): the log grows with the run, not with its
square. `replay.py` puts the requests back together.
"""

from __future__ import annotations

import json
import time
from typing import Any, Dict, List, Optional

from llmrun.runlog.values import USAGE_KEYS, iso


def response_events(e: Dict[str, Any]) -> List[Dict[str, Any]]:
    """The step's response, in the order a stream brings it."""
    events: List[Dict[str, Any]] = [{"type": "model", "model": e.get("model")}]
    if e.get("_reasoning") or e.get("_reasoning_details"):
        events.append({"type": "reasoning", "text": e.get("_reasoning") or "",
                       "details": e.get("_reasoning_details") or None})
    if e.get("_text"):
        events.append({"type": "text", "text": e.get("_text")})
    calls = [{"id": c.get("id"), "name": c.get("name"), "arguments": c.get("arguments") or ""}
             for c in e.get("_tool_calls") or [] if isinstance(c, dict)]
    if calls:
        events.append({"type": "tool_calls", "calls": calls})
    events.append({"type": "finish", "finish_reason": e.get("finish_reason")})
    if isinstance(e.get("usage"), dict):
        events.append({"type": "usage", "usage": e.get("usage")})
    return events


def request_delta(rec: Any, request: Any) -> Optional[Dict[str, Any]]:
    """The request with only its new messages; None when there is none to keep."""
    if not isinstance(request, dict):
        return None
    messages = request.get("messages") if isinstance(request.get("messages"), list) else []
    encoded = [json.dumps(m, ensure_ascii=False, sort_keys=True) for m in messages]
    same = 0
    for old, new in zip(rec.sent, encoded):
        if old != new:
            break
        same += 1
    rec.sent = encoded
    body = {k: v for k, v in request.items() if k != "messages"}
    body["messages"] = {"from": same, "new": messages[same:]}
    return body


def step_rows(rec: Any, e: Dict[str, Any]) -> List[Any]:
    """The INSERT of one step (the caller adds the run's new totals, in one transaction)."""
    t = rec.texts
    number = e.get("step")
    usage = e.get("usage") if isinstance(e.get("usage"), dict) else {}
    request = response = None
    if not t.metadata_only:
        request = t.value(request_delta(rec, e.get("_request")), f"step {number} request")
        response = t.value(response_events(e), f"step {number} response")
    row = {"run_id": rec.id, "step": number, "ended_at": iso(time.time()),
           "model": t.clean(e.get("model"), ""),
           "finish_reason": t.clean(e.get("finish_reason"), ""),
           **{k: usage.get(k) for k in USAGE_KEYS}, "cost": usage.get("cost"),
           "duration_s": e.get("_duration_s"),
           "text": t.text(e.get("_text"), f"step {number} text"),
           "reasoning": t.text(e.get("_reasoning"), f"step {number} reasoning"),
           "request": _dumps(request), "response": _dumps(response)}
    names = ", ".join(row)
    marks = ", ".join("?" * len(row))
    return [(f"INSERT OR REPLACE INTO steps ({names}) VALUES ({marks})", tuple(row.values()))]


def _dumps(value: Any) -> Optional[str]:
    return None if value is None else json.dumps(value, ensure_ascii=False)

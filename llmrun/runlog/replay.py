"""A logged run's model traffic, put back together: each step's request as it was sent and
its response as a stream, for `llmrun log cassette` (a go-vcr v2 cassette) and for
continuing a run that never wrote its final messages.

The stream is rebuilt from the normalised events, so it is what llmrun read — redacted —
never the raw bytes, in which a key split across deltas or `\\u`-escaped could survive.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

from llmrun.base.errors import ConfigError


def requests(conn: Any, run_id: str) -> List[Dict[str, Any]]:
    """Every step's request body, whole (the log keeps only each one's new messages)."""
    out: List[Dict[str, Any]] = []
    messages: List[Any] = []
    for (text,) in conn.execute("SELECT request FROM steps WHERE run_id = ? ORDER BY step",
                                (run_id,)):
        body = json.loads(text) if text else None
        if not isinstance(body, dict):
            raise ConfigError(f"run {run_id} has a step without its request in the log")
        delta = body.get("messages") if isinstance(body.get("messages"), dict) else {}
        messages = messages[:int(delta.get("from") or 0)] + list(delta.get("new") or [])
        body["messages"] = messages
        out.append(body)
    return out


def responses(conn: Any, run_id: str) -> List[List[Dict[str, Any]]]:
    out = []
    for (text,) in conn.execute("SELECT response FROM steps WHERE run_id = ? ORDER BY step",
                                (run_id,)):
        events = json.loads(text) if text else None
        if not isinstance(events, list):
            raise ConfigError(f"run {run_id} has a step without its response in the log")
        out.append(events)
    return out


def wire_usage(usage: Dict[str, Any]) -> Dict[str, Any]:
    """Our usage object in the shape a provider streams it."""
    out: Dict[str, Any] = {k: usage.get(k) or 0 for k in
                           ("prompt_tokens", "completion_tokens", "total_tokens")}
    out["prompt_tokens_details"] = {"cached_tokens": usage.get("cached_tokens") or 0,
                                    "cache_write_tokens": usage.get("cache_write_tokens") or 0}
    out["completion_tokens_details"] = {"reasoning_tokens": usage.get("reasoning_tokens") or 0}
    if usage.get("cost") is not None:
        out["cost"] = usage["cost"]
    return out


def sse_body(events: List[Dict[str, Any]], name: str) -> str:
    """One step's response as the SSE text a server would send."""
    model = next((e.get("model") for e in events if e.get("type") == "model"), None) or ""
    chunks: List[Dict[str, Any]] = []

    def chunk(delta: Dict[str, Any], finish: Optional[str] = None) -> None:
        chunks.append({"id": name, "object": "chat.completion.chunk", "model": model,
                       "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})

    for e in events:
        kind = e.get("type")
        if kind == "reasoning":
            delta: Dict[str, Any] = {"role": "assistant", "reasoning": e.get("text") or ""}
            if e.get("details"):
                delta["reasoning_details"] = e["details"]
            chunk(delta)
        elif kind == "text":
            chunk({"role": "assistant", "content": e.get("text") or ""})
        elif kind == "tool_calls":
            chunk({"role": "assistant", "tool_calls": [
                {"index": i, "id": c.get("id"), "type": "function",
                 "function": {"name": c.get("name"), "arguments": c.get("arguments") or ""}}
                for i, c in enumerate(e.get("calls") or [])]})
        elif kind == "finish":
            chunk({}, e.get("finish_reason") or "stop")
        elif kind == "usage" and isinstance(e.get("usage"), dict):
            chunks.append({"id": name, "object": "chat.completion.chunk", "model": model,
                           "choices": [], "usage": wire_usage(e["usage"])})
    lines = [f"data: {json.dumps(c, ensure_ascii=False)}\n\n" for c in chunks]
    return "".join(lines) + "data: [DONE]\n\n"


def interactions(conn: Any, run: Any) -> List[Dict[str, Any]]:
    """The go-vcr interactions of a logged run (refused when the log cannot give them
    exactly: texts dropped by `log: metadata`, or cut at 1 MiB)."""
    run_id = run["id"]
    if run["mode"] != "full":
        raise ConfigError(f"run {run_id} was logged without its texts (log: metadata); it "
                          "has no traffic to write")
    if run["cut"]:
        raise ConfigError(f"run {run_id} has a text cut at 1 MiB in the log; its cassette "
                          "would not be the run")
    bodies, streams = requests(conn, run_id), responses(conn, run_id)
    if not bodies:
        raise ConfigError(f"run {run_id} made no request that the log holds")
    url = (run["base_url"] or "").rstrip("/") + "/chat/completions"
    durations = [r[0] for r in conn.execute(
        "SELECT duration_s FROM steps WHERE run_id = ? ORDER BY step", (run_id,))]
    out = []
    for number, (body, events) in enumerate(zip(bodies, streams)):
        text = json.dumps(body, ensure_ascii=False)
        out.append({
            "id": number,
            "request": {"proto": "HTTP/1.1", "proto_major": 1, "proto_minor": 1,
                        "content_length": len(text.encode("utf-8")), "host": "",
                        "body": text, "form": {},
                        "headers": {"Content-Type": ["application/json"]},
                        "url": url, "method": "POST"},
            "response": {"proto": "HTTP/1.1", "proto_major": 1, "proto_minor": 1,
                         "content_length": -1,
                         "body": sse_body(events, f"gen-{run_id}-{number + 1}"),
                         "headers": {"Content-Type": ["text/event-stream"]},
                         "status": "200 OK", "code": 200,
                         "duration": f"{float(durations[number] or 0):.6f}s"}})
    return out

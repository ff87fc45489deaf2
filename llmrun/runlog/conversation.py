"""`ask -c/--continue` and `--cid ID`: a logged run's conversation, ready to go on.

The messages are those the run sent (signed reasoning included), or, for a run that was
killed, rebuilt from its last request and the calls that finished; a tool call that never
got a result is dropped. Refused, with exit 3: a log that is off or empty, a run logged
without texts or with a cut one, an attachment that changed, a tool file that is gone.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from llmrun.base.errors import ConfigError
from llmrun.runlog.settings import LogSettings


@dataclass
class Conversation:
    run_id: str
    messages: List[Dict[str, Any]]
    provider: Optional[str]
    model: Optional[str]
    base_url: Optional[str]
    system: Optional[str]
    tool_sources: Dict[str, str] = field(default_factory=dict)  # tool -> file | mcp:NAME
    tools: List[str] = field(default_factory=list)

    def tool_files(self) -> List[str]:
        return sorted({s for s in self.tool_sources.values() if not s.startswith("mcp:")})

    def mcp_servers(self) -> List[str]:
        return sorted({s[4:] for s in self.tool_sources.values() if s.startswith("mcp:")})


def load_conversation(settings: Optional[LogSettings], cid: Optional[str]) -> Conversation:
    """The newest finished `ask` run (cid None), or run `cid` (an id, its start, or `last`)."""
    from llmrun.runlog.queries import resolve_id, run_row, status_of
    from llmrun.runlog.store import LogUnavailable, open_log

    what = f"--cid {cid}" if cid else "-c/--continue"
    if settings is None or not settings.enabled:
        raise ConfigError(f"{what} needs the run log, which is off (--no-log, LLMRUN_NO_LOG "
                          "or 'log: false' in the config file)")
    try:
        conn = open_log(settings.path, create=False)
    except LogUnavailable as exc:
        raise ConfigError(f"{what}: {exc.message}") from None
    try:
        import sqlite3

        conn.row_factory = sqlite3.Row
        if cid:
            run_id = resolve_id(conn, cid, settings.path)
        else:
            row = conn.execute("SELECT id FROM runs WHERE status = 'done' AND kind = 'ask' "
                               "ORDER BY started_ts DESC, id DESC LIMIT 1").fetchone()
            if row is None:
                raise ConfigError(f"-c/--continue: the run log {settings.path} has no finished "
                                  "ask run to continue")
            run_id = row[0]
        run = run_row(conn, run_id)
        if status_of(run) == "running":
            raise ConfigError(f"{what}: run {run_id} is still running")
        return _conversation(conn, run)
    finally:
        conn.close()


def _conversation(conn: Any, run: Any) -> Conversation:
    run_id = run["id"]
    if run["mode"] != "full":
        raise ConfigError(f"run {run_id} was logged without its texts (log: metadata); it "
                          "cannot be continued")
    if run["cut"]:
        raise ConfigError(f"run {run_id} has a text cut at 1 MiB in the log; continuing it "
                          "would send a cut conversation")
    _check_attachments(run_id, json.loads(run["attachments"] or "[]"))
    row = conn.execute("SELECT messages FROM transcripts WHERE run_id = ?",
                       (run_id,)).fetchone()
    messages = json.loads(row[0]) if row and row[0] else _rebuilt(conn, run_id)
    if not messages:
        raise ConfigError(f"run {run_id} has no conversation in the log to continue")
    return Conversation(run_id, answered_only(messages), run["provider"],
                        run["requested_model"] or run["model"], run["base_url"], run["system"],
                        json.loads(run["tool_sources"] or "{}"), json.loads(run["tools"] or "[]"))


def check_tool_files(conv: Conversation) -> None:
    """A tool file the run used that no longer exists is an error, not a silent drop."""
    for name, source in sorted(conv.tool_sources.items()):
        if not source.startswith("mcp:") and not os.path.exists(source):
            raise ConfigError(f"run {conv.run_id} used tool '{name}' from {source}, which no "
                              "longer exists (give the tools with -t PATH)")


def _check_attachments(run_id: str, attachments: List[Dict[str, Any]]) -> None:
    for a in attachments:
        path = a.get("path")
        if not path or path == "-" or "://" in path or not a.get("sha256"):
            continue
        try:
            with open(path, "rb") as fh:
                digest = hashlib.file_digest(fh, "sha256").hexdigest() \
                    if hasattr(hashlib, "file_digest") else hashlib.sha256(fh.read()).hexdigest()
        except OSError as exc:
            raise ConfigError(f"run {run_id} attached {path}, which cannot be read now "
                              f"({exc.strerror}); --continue needs it unchanged") from None
        if digest != a["sha256"]:
            raise ConfigError(f"run {run_id} attached {path}, which changed since (its "
                              "SHA-256 differs); --continue will not send a different file")


def answered_only(messages: List[Dict[str, Any]]) -> List[Dict[str, Any]]:
    """The messages without the tool calls that never got a result (a killed run)."""
    answered = {m.get("tool_call_id") for m in messages if m.get("role") == "tool"}
    out = []
    for m in messages:
        calls = m.get("tool_calls") if m.get("role") == "assistant" else None
        if calls:
            kept = [c for c in calls if c.get("id") in answered]
            m = dict(m)
            if kept:
                m["tool_calls"] = kept
            else:
                m.pop("tool_calls")
                if not m.get("content"):
                    continue
        out.append(m)
    return out


def _rebuilt(conn: Any, run_id: str) -> List[Dict[str, Any]]:
    """A killed run: its last request's messages, then that step's calls and results."""
    from llmrun.runlog.replay import requests, responses

    bodies = requests(conn, run_id)
    if not bodies:
        return []
    messages = [_unmarked(m) for m in bodies[-1]["messages"]]
    events = responses(conn, run_id)[-1]
    message: Dict[str, Any] = {"role": "assistant"}
    for e in events:
        if e.get("type") == "text" and e.get("text"):
            message["content"] = e["text"]
        elif e.get("type") == "tool_calls":
            message["tool_calls"] = [
                {"id": c.get("id"), "type": "function",
                 "function": {"name": c.get("name"), "arguments": c.get("arguments")}}
                for c in e.get("calls") or []]
        elif e.get("type") == "reasoning" and e.get("details"):
            message["reasoning_details"] = e["details"]
    messages.append(message)
    step = len(bodies)
    for call_id, result in conn.execute("SELECT call_id, result FROM tool_calls WHERE "
                                        "run_id = ? AND step = ? ORDER BY position",
                                        (run_id, step)):
        messages.append({"role": "tool", "tool_call_id": call_id, "content": result or ""})
    return messages


def _unmarked(value: Any) -> Any:
    """A message without the prompt-caching marks its request carried (the next request
    sets its own)."""
    if isinstance(value, list):
        return [_unmarked(v) for v in value]
    if isinstance(value, dict):
        return {k: _unmarked(v) for k, v in value.items() if k != "cache_control"}
    return value

"""The run log attached to a run: a Consumer of its events that feeds the recorder
(llmrun/runlog), and `--continue`/`--cid`, which start a run from a logged conversation.

Whatever the log does, the run's outcome is its own: opening it never raises, and a log that
cannot be written is one `warning` event (shown by the renderer, kept in result.warnings).
"""

from __future__ import annotations

import os
import sys
from dataclasses import replace
from typing import Any, Callable, Dict, List, Optional, Tuple

from llmrun.base.events import Consumer


def _log_settings(no_log: bool) -> Any:
    """The run log's settings from the environment and the config file; None when the
    config cannot be read (its `log: false` might be in it: then nothing is logged)."""
    from llmrun.base.errors import LlmrunError
    from llmrun.runlog.settings import from_config
    from llmrun.settings.config import load_config
    from llmrun.tools.childenv import is_secret

    try:
        cfg = load_config()
    except LlmrunError:
        return None
    return from_config(cfg, no_log, is_secret=is_secret)


class LogConsumer(Consumer):
    """Writes the run's events to the run log; inert when the log is off."""

    def __init__(self, options: Any, prompt: str, info: Optional[Dict[str, Any]]) -> None:
        self.options, self.prompt = options, prompt
        self.info = dict(info or {})
        self.recorder: Any = None
        self.parts: Any = None  # the run's attachment parts (loop/attachments.Parts)

    def open(self, emit: Callable[[Dict[str, Any]], None]) -> None:
        """Start the run's row (before the run does anything); never raises."""
        if self.options.no_log or os.environ.get("LLMRUN_NO_LOG", "") not in ("", "0"):
            return  # cheap: not even the config file is read
        try:
            from llmrun.runlog.background import BackgroundRecorder
            from llmrun.runlog.recorder import open_now

            o = self.options
            info = {"argv": None, "cwd": _cwd(), "provider": o.provider, "model": o.model,
                    "base_url": o.base_url, "system": o.system, "prompt": self.prompt,
                    "attachments": [], "batch_id": None, "item_id": None, "kind": "api"}
            info.update(self.info)
            # the config file is read on the recorder's thread too: the run does not wait
            self.recorder = BackgroundRecorder(lambda: _log_settings(o.no_log), info,
                                               lambda message: emit(
                                                   {"type": "warning", "message": message}),
                                               open_now)
        except Exception as exc:  # the log is never the run's problem
            emit({"type": "warning", "message": f"this run is not logged: {exc}"})

    def event(self, event: Dict[str, Any]) -> None:
        recorder = self.recorder
        if recorder is None:
            return
        recorder.event(self._without_attachments(event))
        if event["type"] == "result":
            self.recorder = None
            recorder.close()

    def _without_attachments(self, event: Dict[str, Any]) -> Dict[str, Any]:
        """The log keeps an attachment's path, type, size and SHA-256, never its bytes: in the
        requests and the conversation, each attachment part becomes its record
        (loop/attachments.py; `--continue` reads the file again)."""
        kind = event["type"]
        if kind == "start":
            self.parts = event.get("_attachment_parts")
        parts = self.parts
        if parts is None:
            return event
        if kind == "step" and "_request" in event:
            return dict(event, _request=parts.strip_body(event["_request"]))
        if kind == "result" and "_messages" in event:
            return dict(event, _messages=parts.strip(event["_messages"]))
        return event

    def close(self) -> None:
        """The run ended without its result event (a bug): the row says so."""
        recorder, self.recorder = self.recorder, None
        if recorder is not None:
            recorder.close()


def _cwd() -> Optional[str]:
    try:
        return os.getcwd()
    except OSError:
        return None


def cli_info() -> Dict[str, Any]:
    """What the command line adds to a run's row: its argv, and that it is an `ask`."""
    return {"argv": ["llmrun", *sys.argv[1:]], "kind": "ask"}


def continued(o: Any) -> Tuple[Any, Optional[List[Dict[str, Any]]]]:
    """For `--continue`/`--cid`: the options with the logged run's provider, model, system
    prompt and tools filled in where the caller gave none, and its messages (system message
    left out: the run's own goes first). (o, None) when the run starts afresh."""
    if not o.continue_last and not o.cid:
        return o, None
    from llmrun.runlog.conversation import check_tool_files, load_conversation
    from llmrun.settings.providers import GENERIC

    conv = load_conversation(_log_settings(False) if not o.no_log else None, o.cid)
    changes: Dict[str, Any] = {}
    if not o.provider and not o.base_url:
        if conv.provider and conv.provider != GENERIC:
            changes["provider"] = conv.provider
        else:
            changes["base_url"] = conv.base_url
    if not o.model and conv.model:
        changes["model"] = conv.model
    if o.system is None and conv.system:
        changes["system"] = conv.system
    if not o.tools and not o.mcp and conv.tool_sources:
        check_tool_files(conv)
        changes.update(tools=conv.tool_files(), mcp=conv.mcp_servers())
        if not o.tool:
            changes["tool"] = sorted(conv.tool_sources)
    messages = [m for m in conv.messages if m.get("role") != "system"]
    return replace(o, **changes), messages


def first_messages(system: Optional[str], prompt: Any,
                   earlier: Optional[List[Dict[str, Any]]]) -> List[Dict[str, Any]]:
    """The messages of the first request: the earlier conversation, if any, then the prompt."""
    from llmrun.loop.conversation import first_messages as fresh

    if earlier is None:
        return fresh(system, prompt)
    head = [{"role": "system", "content": system}] if system else []
    return head + earlier + [{"role": "user", "content": prompt}]

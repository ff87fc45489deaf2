"""The run as a stream of events, and the consumers that read it.

The tool loop, the transport and the tool sources emit events through the run context
(`ctx.emit`); they know nothing of who listens. Each event is a dict with a `type`:

    start        {"version", "provider", "model", "tools": [names]}
    text         {"step", "text"}                 a delta of the answer
    reasoning    {"step", "text"}                 a delta of the reasoning
    tool_call    {"step", "id", "name", "arguments"}
    tool_result  {"step", "id", "name", "result", "is_error", "duration_s"}
    step         {"step", "finish_reason", "model", "usage"}
    retry        {"attempt", "wait_s", "reason"}
    note         {"message"}                      a choice llmrun made, a server's line, a
                                                  tool's sandbox policy (-v; not public)
    warning      {"message"}
    result       the keys of the --json object, and "exit_code"; last, on every end

Keys that start with `_` are private: the consumers inside llmrun read them (the whole step
for the run log, the raw arguments for a progress line), `public()` drops them, so `--events`
lines and `llmrun.events()` carry exactly the keys above (and every type but `note`). The consumers: the plain and `--json`
renderers and `--events` (llmrun/output), the run log, a batch's aggregator, the API's queue.
"""

from __future__ import annotations

import threading
from typing import Any, Dict, Iterable, List, Optional

VERSION = 1
TYPES = ("start", "text", "reasoning", "tool_call", "tool_result", "step", "retry", "note",
         "warning", "result")


#: What scripts see (`--events`, `llmrun.events()`): every type but `note`, which is the -v
#: chatter on stderr (and the run log's).
PUBLIC_TYPES = frozenset(t for t in TYPES if t != "note")


def public(event: Dict[str, Any]) -> Dict[str, Any]:
    """The event without its private keys: what scripts see."""
    return {k: v for k, v in event.items() if not k.startswith("_")}


class Consumer:
    """Reads a run's events. `event` may be called from several threads (a server's lines);
    `flush` after each network read: deltas may be buffered until then, never longer."""

    def event(self, event: Dict[str, Any]) -> None:
        """One event, in order."""

    def flush(self) -> None:
        """Push out what is buffered: the run is about to wait."""


class Bus:
    """Hands each event of one run to every consumer, in order: `start` first and `result`
    last, always (a note or a warning of the set-up waits for `start`, or for `result`
    when the run fails before it starts)."""

    def __init__(self, consumers: Iterable[Consumer] = ()) -> None:
        self.consumers: List[Consumer] = [c for c in consumers if c is not None]
        self._held: Optional[List[Dict[str, Any]]] = []  # None once `start` went out
        self._lock = threading.Lock()

    def emit(self, event: Dict[str, Any]) -> None:
        if self._held is not None:
            with self._lock:
                if self._held is not None:
                    if event["type"] not in ("start", "result"):
                        self._held.append(event)
                        return
                    held, self._held = self._held, None
                    if event["type"] == "start":
                        self._send(event)
                    for early in held:
                        self._send(early)
                    if event["type"] == "start":
                        return
        self._send(event)

    def _send(self, event: Dict[str, Any]) -> None:
        for consumer in self.consumers:
            consumer.event(event)

    def flush(self) -> None:
        for consumer in self.consumers:
            consumer.flush()

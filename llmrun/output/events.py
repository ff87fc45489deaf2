"""`--events`: stdout is the run's events, one JSON object per line, for scripts to follow.

The lines are exactly the events the run emits (base/events.py), private keys dropped: this
renderer only writes them. stderr keeps what the plain renderer puts there (progress at a
terminal, the usage line, errors). Events are flushed as they are written, except text and
reasoning deltas, which are flushed once per network read (the run's `flush`, before llmrun
waits for more): no event ever sits in a buffer while llmrun waits.
"""

from __future__ import annotations

from json.encoder import encode_basestring
from typing import Any, Dict

from llmrun.base.events import PUBLIC_TYPES, public
from llmrun.base.jsonsafe import dumps
from llmrun.base.safetext import mend
from llmrun.output.render import Renderer


class EventsRenderer(Renderer):
    """A Renderer whose stdout is the event stream."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["json_mode"] = True  # no answer text on stdout: it comes as events
        super().__init__(**kwargs)
        self._pending = False  # delta events written, not flushed yet

    def event(self, event: Dict[str, Any]) -> None:
        kind = event["type"]
        if kind in ("text", "reasoning"):
            if event["text"]:
                self._delta(kind, event["step"], event["text"])
        elif kind in PUBLIC_TYPES:
            if kind in ("step", "result"):
                self.flush()
            self._emit(public(event))
        super().event(event)

    def _emit(self, event: Dict[str, Any]) -> None:
        line = mend(dumps(event)) + "\n"  # RFC 8259 always (llmrun.base.jsonsafe)
        with self._lock:
            self.out.write(line)
            self.out.flush()
            self._pending = False

    def _delta(self, kind: str, step: int, text: str) -> None:
        with self._lock:  # the common case, kept cheap: one string, one write
            self.out.write(f'{{"type": "{kind}", "step": {step}, "text": '
                           f'{encode_basestring(mend(text))}}}\n')
            self._pending = True

    def flush(self) -> None:
        if self._pending:
            with self._lock:
                self._pending = False
                self.out.flush()
        super().flush()

    def write_result(self, result: Dict[str, Any]) -> None:
        """The result event is already on stdout (written as it came)."""

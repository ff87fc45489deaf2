"""`--events`: stdout is one JSON object per line, as things happen, for scripts to follow.

The third renderer beside the plain and `--json` ones (llmrun.output.render), with the same
interface: the tool loop does not know which one it talks to. stderr keeps what the others
put there (progress at a terminal, the usage line, errors). Events of other kinds are flushed
as they are written; text and reasoning deltas are flushed once per network read, which the
stream reader signals with `flush` before it waits for more: no event ever sits in a buffer
while llmrun waits.

    {"type": "start", "version": 1, "provider", "model", "tools": [names]}
    {"type": "text" | "reasoning", "step", "text"}
    {"type": "tool_call", "step", "id", "name", "arguments"}
    {"type": "tool_result", "step", "id", "result", "is_error", "duration_s"}
    {"type": "step", "step", "finish_reason", "model", "usage"}
    {"type": "retry", "attempt", "wait_s", "reason"}
    {"type": "result", …the keys of the --json object}   -- last, on every kind of end
"""

from __future__ import annotations

from json.encoder import encode_basestring
from typing import Any, Dict, List, Optional

from llmrun.base.errors import LlmrunError
from llmrun.base.jsonsafe import dumps
from llmrun.base.safetext import mend
from llmrun.output.render import Renderer, json_object

VERSION = 1


class EventsRenderer(Renderer):
    """A Renderer whose stdout is the event stream."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs["json_mode"] = True  # no answer text on stdout: it comes as events
        super().__init__(**kwargs)
        self._step = 0
        self._pending = False  # delta events written, not flushed yet

    def _emit(self, event: Dict[str, Any], flush: bool = True) -> None:
        line = mend(dumps(event)) + "\n"  # RFC 8259 always (llmrun.base.jsonsafe)
        with self._lock:
            self.out.write(line)
            if flush:
                self.out.flush()
                self._pending = False

    def _delta(self, kind: str, text: str) -> None:
        with self._lock:  # the common case, kept cheap: one string, one write
            self.out.write(f'{{"type": "{kind}", "step": {self._step}, "text": '
                           f'{encode_basestring(mend(text))}}}\n')
            self._pending = True

    # -- the renderer interface ---------------------------------------------------------------
    def start(self, provider: str, model: str, tools: List[str]) -> None:
        self._emit({"type": "start", "version": VERSION, "provider": provider, "model": model,
                    "tools": tools})

    def waiting(self) -> None:
        self._step += 1
        super().waiting()

    def text(self, delta: str) -> None:
        self._delta("text", delta)
        super().text(delta)

    def reasoning(self, delta: str) -> None:
        if delta:
            self._delta("reasoning", delta)
        super().reasoning(delta)

    def flush(self) -> None:
        if self._pending:
            with self._lock:
                self._pending = False
                self.out.flush()
        super().flush()

    def step_done(self, step: Any, result: Any) -> None:
        self.flush()
        usage = step.usage.as_dict() if step.usage is not None else None
        self._emit({"type": "step", "step": self._step, "finish_reason": step.finish_reason,
                    "model": step.model or result.model, "usage": usage})
        super().step_done(step, result)

    def tool_start(self, call: Any) -> None:
        self._emit({"type": "tool_call", "step": self._step, "id": call.id, "name": call.name,
                    "arguments": _arguments(call.arguments)})
        super().tool_start(call)

    def tool_done(self, call: Any, result: Any) -> None:
        self._emit({"type": "tool_result", "step": self._step, "id": call.id,
                    "result": result.content, "is_error": result.is_error,
                    "duration_s": round(result.duration, 3)})
        super().tool_done(call, result)

    def retry(self, attempt: int, wait_s: float, reason: str) -> None:
        self._emit({"type": "retry", "attempt": attempt, "wait_s": round(wait_s, 3),
                    "reason": reason})
        super().retry(attempt, wait_s, reason)

    def write_result(self, result: Any, error: Optional[LlmrunError]) -> None:
        self.flush()
        event = {"type": "result"}
        event.update(json_object(result, error))
        self._emit(event)


def _arguments(text: str) -> Any:
    """Parsed arguments when they are a sane JSON value, else the string as streamed."""
    from llmrun.base.jsonsafe import shown_arguments

    return shown_arguments(text)

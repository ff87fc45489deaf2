"""A run as a value: what it gathered, how it ended, and the `--json` object it makes."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from llmrun.base.errors import LlmrunError
from llmrun.loop.accumulator import Step
from llmrun.loop.usage import Usage


@dataclass
class RunResult:
    """Everything gathered so far; complete on success, partial when a run fails.

    Filled only by the tool loop (a step is added once it is whole) and, at the end, by the
    run that owns it (`error`, `warnings`); everything else reads it."""

    provider: str
    model: str
    answer: str = ""
    finish_reason: Optional[str] = None
    steps: int = 0
    tool_calls: List[Dict[str, Any]] = field(default_factory=list)
    reasoning: List[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    requested_model: str = ""
    started: float = field(default_factory=time.monotonic)
    ended: Optional[float] = None
    data: Any = None  # --schema: the parsed answer
    has_schema: bool = False
    error: Optional[LlmrunError] = None
    warnings: List[str] = field(default_factory=list)
    messages: List[Dict[str, Any]] = field(default_factory=list)  # as the next turn sends

    def add_step(self, step: Step) -> None:
        self.steps += 1
        self.model = step.model or self.requested_model or self.model
        self.finish_reason = step.finish_reason
        if step.reasoning:
            self.reasoning.append(step.reasoning)
        if step.usage is not None:
            self.usage = self.usage + step.usage

    def add_tool_call(self, call: Any, outcome: Any) -> Dict[str, Any]:
        from llmrun.base.jsonsafe import shown_arguments

        entry = {"id": call.id, "name": call.name, "arguments": shown_arguments(call.arguments),
                 "result": outcome.content, "is_error": outcome.is_error,
                 "duration_s": round(outcome.duration, 3)}
        self.tool_calls.append(entry)
        return entry

    @property
    def tool_errors(self) -> int:
        return sum(1 for c in self.tool_calls if c["is_error"])

    @property
    def duration(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    @property
    def exit_code(self) -> int:
        return self.error.exit_code if self.error is not None else 0

    @property
    def answered(self) -> bool:
        """Whether the answer stands (and is printed): no error, or one that keeps it."""
        return self.error is None or self.error.keeps_answer

    def to_dict(self) -> Dict[str, Any]:
        """Exactly the `--json` object (and the keys of the `result` event)."""
        obj: Dict[str, Any] = {
            "answer": self.answer,
            "model": self.model,
            "provider": self.provider,
            "finish_reason": self.finish_reason,
            "steps": self.steps,
            "tool_calls": self.tool_calls,
            "reasoning": "".join(self.reasoning) or None,
            "usage": self.usage.as_dict(),
            "duration_s": round(self.duration, 3),
        }
        if self.has_schema:
            obj["data"] = self.data
        if self.error is not None:
            obj["error"] = {"type": self.error.kind, "message": self.error.message,
                            "exit_code": self.error.exit_code}
        return obj

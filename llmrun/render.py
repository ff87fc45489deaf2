"""Everything llmrun writes: the answer on stdout, progress, usage and errors on stderr."""

from __future__ import annotations

import json
import sys
from typing import Any, Dict, Optional, TextIO

from llmrun.errors import LlmrunError


def _fmt_cost(cost: float) -> str:
    return f"${cost:.6f}".rstrip("0").rstrip(".") if cost else "$0"


class Renderer:
    """One run's output. stdout gets the answer (or one JSON object) and nothing else."""

    def __init__(self, *, stream: bool, json_mode: bool, quiet: bool, verbose: bool,
                 show_progress: bool, out: Optional[TextIO] = None,
                 err: Optional[TextIO] = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.stream = stream and not json_mode
        self.json_mode = json_mode
        self.quiet = quiet
        self.verbose = verbose and not quiet
        self.progress = (show_progress or verbose) and not quiet
        self._streamed = False  # some answer text is already on stdout
        self._line_open = False  # stdout's last text did not end with a newline

    # -- during the run ---------------------------------------------------------------------
    def waiting(self) -> None:
        """A request is on its way."""

    def text(self, delta: str) -> None:
        if self.stream:
            self.out.write(delta)
            self.out.flush()
            self._streamed = True
            self._line_open = not delta.endswith("\n")

    def reasoning(self, delta: str) -> None:
        if self.verbose:
            self.err.write(delta)
            self.err.flush()

    def step_done(self, step: Any, result: Any) -> None:
        if self.verbose and step.reasoning:
            self.err.write("\n")
        if self.stream and step.tool_calls and self._line_open:
            self.out.write("\n")
            self._line_open = False
        if self.verbose and step.usage is not None:
            u = step.usage
            self._note(f"step {result.steps}: {u.prompt_tokens} prompt + "
                       f"{u.completion_tokens} completion tokens, finish: {step.finish_reason}")

    def tool_start(self, call: Any) -> None:
        if self.progress:
            self._note(f"→ {call.name} {call.arguments}")

    def tool_done(self, call: Any, result: Any) -> None:
        if self.progress:
            first = result.content.splitlines()[0] if result.content else ""
            more = " …" if len(result.content.splitlines()) > 1 else ""
            mark = "✗" if result.is_error else "←"
            self._note(f"{mark} {first}{more} ({result.duration:.2f} s)")

    def _note(self, line: str) -> None:
        self.err.write(line + "\n")
        self.err.flush()

    # -- at the end -------------------------------------------------------------------------
    def finish(self, result: Any, error: Optional[LlmrunError] = None) -> None:
        if self.json_mode:
            self.out.write(json.dumps(json_object(result, error), ensure_ascii=False) + "\n")
        elif self.stream:
            if self._line_open:
                self.out.write("\n")
                self._line_open = False
        elif error is None:
            self.out.write(result.answer + "\n")
        self.out.flush()
        if result is not None and not self.quiet and (result.steps or error is None):
            self._note(usage_line(result))
        if error is not None:
            self.error(error.message)

    def error(self, message: str) -> None:
        self.err.write(f"llmrun: error: {message}\n")
        self.err.flush()


def usage_line(result: Any) -> str:
    u = result.usage
    calls = len(result.tool_calls)
    parts = [f"{result.steps} step{'s' if result.steps != 1 else ''}",
             f"{calls} tool call{'s' if calls != 1 else ''}",
             f"{u.prompt_tokens} prompt + {u.completion_tokens} completion tokens "
             f"({u.reasoning_tokens} reasoning, {u.cached_tokens} cached)"]
    if u.cost is not None:
        parts.append(_fmt_cost(u.cost))
    parts.append(f"{result.duration:.2f} s")
    return "llmrun: " + " · ".join(parts)


def json_object(result: Any, error: Optional[LlmrunError] = None) -> Dict[str, Any]:
    obj: Dict[str, Any] = {
        "answer": result.answer,
        "model": result.model,
        "provider": result.provider,
        "finish_reason": result.finish_reason,
        "steps": result.steps,
        "tool_calls": result.tool_calls,
        "reasoning": "".join(result.reasoning) or None,
        "usage": result.usage.as_dict(),
        "duration_s": round(result.duration, 3),
    }
    if error is not None:
        obj["error"] = {"type": error.kind, "message": error.message,
                        "exit_code": error.exit_code}
    return obj

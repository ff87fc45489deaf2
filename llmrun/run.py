"""The tool loop: ask, run the tools the model wants, feed results back, until it answers."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from llmrun.accumulator import Step, StepAccumulator
from llmrun.conversation import (RequestOptions, assistant_message, request_body,
                                 tool_message)
from llmrun.errors import MaxStepsError
from llmrun.signals import activity
from llmrun.usage import Usage


@dataclass
class RunResult:
    """Everything gathered so far; complete on success, partial when a run fails."""

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

    def add_step(self, step: Step) -> None:
        self.steps += 1
        self.model = step.model or self.requested_model or self.model
        self.finish_reason = step.finish_reason
        if step.reasoning:
            self.reasoning.append(step.reasoning)
        if step.usage is not None:
            self.usage = self.usage + step.usage

    def add_tool_call(self, call: Any, result: Any) -> None:
        """The call as the output shows it: arguments parsed when they are sane JSON, else
        the string as streamed (too deep to write back out is not sane)."""
        from llmrun.tools.validate import too_deep

        try:
            arguments = json.loads(call.arguments) if call.arguments.strip() else {}
        except (ValueError, RecursionError):
            arguments = call.arguments
        if too_deep(arguments):
            arguments = call.arguments
        self.tool_calls.append({"id": call.id, "name": call.name, "arguments": arguments,
                                "result": result.content, "is_error": result.is_error,
                                "duration_s": round(result.duration, 3)})

    @property
    def duration(self) -> float:
        return time.monotonic() - self.started


def run(result: RunResult, client: Any, toolbox: Any, renderer: Any, opts: RequestOptions,
        messages: List[Dict[str, Any]], max_steps: int) -> RunResult:
    """Run the conversation to its answer, filling `result` as it goes."""
    tools = toolbox.schemas()
    for number in range(1, max_steps + 1):
        body = request_body(client.provider.dialect, opts, messages, tools)
        acc = StepAccumulator(on_text=renderer.text, on_reasoning=renderer.reasoning,
                              on_batch=renderer.flush)
        renderer.waiting()
        try:
            client.complete(body, acc)
        finally:
            result.answer = acc.text  # keep what arrived, even from a failed step
        step = acc.finish()
        result.add_step(step)
        renderer.step_done(step, result)
        if not step.tool_calls:
            result.answer = step.text
            return result
        if number == max_steps:
            break  # their results could not be sent: do not run them
        messages.append(assistant_message(step))
        with activity("running tool " + ", ".join(c.name for c in step.tool_calls)):
            results = toolbox.run_calls(step.tool_calls, renderer.tool_start, renderer.tool_done)
        for call, outcome in zip(step.tool_calls, results):
            messages.append(tool_message(call.id, outcome.content))
            result.add_tool_call(call, outcome)
    raise MaxStepsError(f"the model still asked for tools after {max_steps} steps; its last "
                        "calls were not run (raise --max-steps)")

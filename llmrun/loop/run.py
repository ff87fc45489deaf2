"""The tool loop: ask, run the tools the model wants, feed results back, until it answers."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from llmrun.base.errors import MaxStepsError
from llmrun.base.signals import activity
from llmrun.loop.accumulator import Step, StepAccumulator
from llmrun.loop.conversation import RequestOptions, assistant_message, request_body, tool_message
from llmrun.loop.limits import Limits, cut_tool_calls
from llmrun.loop.usage import Usage


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
    structured: Any = None  # the StructuredAnswer of a --schema run: `data` in the output

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
        from llmrun.base.jsonsafe import shown_arguments

        self.tool_calls.append({"id": call.id, "name": call.name,
                                "arguments": shown_arguments(call.arguments),
                                "result": result.content, "is_error": result.is_error,
                                "duration_s": round(result.duration, 3)})

    @property
    def tool_errors(self) -> int:
        return sum(1 for c in self.tool_calls if c["is_error"])

    @property
    def duration(self) -> float:
        return time.monotonic() - self.started


def run(result: RunResult, client: Any, toolbox: Any, renderer: Any, opts: RequestOptions,
        messages: List[Dict[str, Any]], limits: Limits, structured: Any = None) -> RunResult:
    """Run the conversation to its answer, filling `result` as it goes."""
    tools = toolbox.schemas()
    result.structured = structured
    for number in range(1, limits.max_steps + 1):
        limits.before_step(result)
        body = request_body(client.provider.dialect, opts, messages, tools)
        if structured is not None:
            structured.shape(body, bool(tools))
        step = _one_step(result, client, renderer, body, limits)
        answer = _final_text(step, structured)
        if answer is not None:
            fix = _check(structured, step, answer)
            if fix is None:
                result.answer = answer
                return result
            messages.extend(fix)
            continue
        if step.finish_reason == "length":
            raise cut_tool_calls(step)
        if number == limits.max_steps:
            break  # their results could not be sent: do not run them
        if not step.tool_calls:  # --schema as a tool, answered in words: ask for the call
            messages.append({"role": "assistant", "content": step.text})
            structured.force = True
            continue
        limits.before_tools(result, step)
        _run_tools(result, toolbox, renderer, step, messages)
    steps = f"{limits.max_steps} step{'s' if limits.max_steps != 1 else ''}"
    raise MaxStepsError(f"the model still asked for tools after {steps}; its last calls were "
                        "not run (raise --max-steps)")


def _one_step(result: RunResult, client: Any, renderer: Any, body: Dict[str, Any],
              limits: Limits) -> Step:
    acc = StepAccumulator(on_text=renderer.text, on_reasoning=renderer.reasoning,
                          on_batch=renderer.flush)
    renderer.waiting()
    try:
        client.complete(body, acc)
    finally:
        result.answer = acc.text  # keep what arrived, even from a failed step
    step = acc.finish()
    limits.price(step.usage)
    result.add_step(step)
    renderer.step_done(step, result)
    return step


def _final_text(step: Step, structured: Any) -> Optional[str]:
    """The answer this step gave, or None when it asked for tools (or must be asked again)."""
    if structured is not None:
        call = structured.answer_call(step)
        if call is not None:
            return call.arguments
        if structured.mode == "tool":
            return None
    return None if step.tool_calls else step.text


def _check(structured: Any, step: Step, answer: str) -> Optional[List[Dict[str, Any]]]:
    """None when the answer stands; else the repair turn's messages (once), or exit 8."""
    if structured is None:
        return None
    problem = f"the model refused: {step.refusal}" if step.refusal else structured.check(answer)
    if problem is None:
        return None
    if structured.repaired or step.refusal:
        raise structured.fail(problem)
    return structured.repair(step, answer, problem)


def _run_tools(result: RunResult, toolbox: Any, renderer: Any, step: Step,
               messages: List[Dict[str, Any]]) -> None:
    messages.append(assistant_message(step))
    with activity("running tool " + ", ".join(c.name for c in step.tool_calls)):
        results = toolbox.run_calls(step.tool_calls, renderer.tool_start, renderer.tool_done)
    for call, outcome in zip(step.tool_calls, results):
        messages.append(tool_message(call.id, outcome.content))
        result.add_tool_call(call, outcome)

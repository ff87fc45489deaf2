"""The tool loop: ask, run the tools the model wants, feed results back, until it answers.

It knows nothing of terminals: everything it does is an event (base/events.py) handed to the
run context's sink, and whatever it gathers goes into the RunResult it fills.
"""

from __future__ import annotations

import time
from typing import Any, Dict, List, Optional

from llmrun.base.context import RunContext
from llmrun.base.errors import MaxStepsError
from llmrun.loop.accumulator import Step, StepAccumulator
from llmrun.loop.conversation import RequestOptions, assistant_message, request_body, tool_message
from llmrun.loop.limits import Limits, cut_tool_calls
from llmrun.loop.result import RunResult


def run(ctx: RunContext, result: RunResult, client: Any, toolbox: Any, opts: RequestOptions,
        messages: List[Dict[str, Any]], limits: Limits, structured: Any = None) -> RunResult:
    """Run the conversation to its answer, filling `result` as it goes."""
    tools = toolbox.schemas()
    result.messages = messages
    result.has_schema = structured is not None
    for number in range(1, limits.max_steps + 1):
        ctx.check()
        limits.before_step(result)
        body = request_body(client.provider.dialect, opts, messages, tools)
        if structured is not None:
            structured.shape(body, bool(tools))
        step = _one_step(ctx, result, client, body, limits)
        answer = _final_text(step, structured)
        if answer is not None:
            fix = _check(structured, step, answer)
            if fix is None:
                result.answer = answer
                result.data = structured.data if structured is not None else None
                messages.append({"role": "assistant", "content": answer})
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
        _run_tools(ctx, result, toolbox, step, messages)
    steps = f"{limits.max_steps} step{'s' if limits.max_steps != 1 else ''}"
    raise MaxStepsError(f"the model still asked for tools after {steps}; its last calls were "
                        "not run (raise --max-steps)")


def _one_step(ctx: RunContext, result: RunResult, client: Any, body: Dict[str, Any],
              limits: Limits) -> Step:
    number = result.steps + 1
    emit = ctx.emit
    acc = StepAccumulator(
        on_text=lambda text: emit({"type": "text", "step": number, "text": text}),
        on_reasoning=lambda text: emit({"type": "reasoning", "step": number, "text": text}),
        on_batch=ctx.flush)
    started = time.monotonic()
    try:
        client.complete(body, acc)
    finally:
        result.answer = acc.text  # keep what arrived, even from a failed step
    step = acc.finish()
    limits.price(step.usage)
    result.add_step(step)
    emit(step_event(number, step, result, body, time.monotonic() - started))
    return step


def step_event(number: int, step: Step, result: RunResult, body: Dict[str, Any],
               duration: float) -> Dict[str, Any]:
    """The `step` event; its private keys carry the whole step for the run log."""
    return {"type": "step", "step": number, "finish_reason": step.finish_reason,
            "model": step.model or result.model,
            "usage": step.usage.as_dict() if step.usage is not None else None,
            "_text": step.text, "_reasoning": step.reasoning or None,
            "_reasoning_details": step.reasoning_details or None,
            "_tool_calls": [{"id": c.id, "name": c.name, "arguments": c.arguments}
                            for c in step.tool_calls],
            "_refusal": step.refusal or None,
            "_duration_s": round(duration, 3), "_request": body}


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


def _run_tools(ctx: RunContext, result: RunResult, toolbox: Any, step: Step,
               messages: List[Dict[str, Any]]) -> None:
    from llmrun.base.jsonsafe import shown_arguments

    messages.append(assistant_message(step))
    number = result.steps
    emit = ctx.emit

    def started(call: Any) -> None:
        emit({"type": "tool_call", "step": number, "id": call.id, "name": call.name,
              "arguments": shown_arguments(call.arguments), "_raw": call.arguments,
              "_calls_in_step": len(step.tool_calls)})

    def done(call: Any, outcome: Any) -> None:
        emit({"type": "tool_result", "step": number, "id": call.id, "name": call.name,
              "result": outcome.content, "is_error": outcome.is_error,
              "duration_s": round(outcome.duration, 3), "_log": getattr(outcome, "log", "")})

    with ctx.activity("running tool " + ", ".join(c.name for c in step.tool_calls)):
        results = toolbox.run_calls(step.tool_calls, started, done)
    for call, outcome in zip(step.tool_calls, results):
        messages.append(tool_message(call.id, outcome.content))
        result.add_tool_call(call, outcome)

"""Plays a realistic event sequence of one run into the run log's recorder, the way the tool
loop emits it: start, step 1 asking for a tool (with signed reasoning), the call and its
result, step 2 answering, the result with the messages as sent."""

import copy
import os
from typing import Any, Dict, List, Optional

WEATHER_TOOL = {"type": "function", "function": {
    "name": "weather", "description": "Get weather information for a location",
    "parameters": {"type": "object", "properties": {"location": {"type": "string"}},
                   "required": ["location"]}}}


def settings(tmp_path, **kw):
    from llmrun.runlog.settings import LogSettings

    return LogSettings(path=str(tmp_path / "state" / "llmrun" / "runs.db"), **kw)


def info(prompt="What's the weather in Florence?", **kw):
    base = {"argv": ["llmrun", "ask", prompt], "cwd": os.getcwd(), "host": "test",
            "provider": "generic", "base_url": "http://127.0.0.1:9/v1", "model": "test-model",
            "system": "You are terse.", "prompt": prompt, "attachments": [],
            "batch_id": None, "item_id": None}
    base.update(kw)
    return base


def usage(prompt=10, completion=5, cost=None):
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion, "reasoning_tokens": 0, "cached_tokens": 0,
            "cache_write_tokens": 0, "cost": cost}


def one_tool_run(prompt="What's the weather in Florence?", answer="It is 40 C.",
                 result="40 C", arguments='{"location":"Florence"}', costs=(0.0001, 0.0002),
                 reasoning="Look it up.", exit_code=0, error=None,
                 stop_after: Optional[str] = None) -> List[Dict[str, Any]]:
    """The events of a one-tool ask; `stop_after` ('step1', 'tool') cuts the run there."""
    sources = {"weather": "/tools/weather.yaml"}
    messages: List[Dict[str, Any]] = [{"role": "system", "content": "You are terse."},
                                      {"role": "user", "content": prompt}]
    details = [{"type": "reasoning.text", "text": reasoning, "signature": "sig-1",
                "format": "anthropic-claude-v1", "index": 0}]
    request1 = {"model": "test-model", "messages": copy.deepcopy(messages),
                "tools": [WEATHER_TOOL], "tool_choice": "auto", "stream": True,
                "stream_options": {"include_usage": True}}
    u1, u2 = usage(10, 5, costs[0]), usage(20, 7, costs[1])
    events: List[Dict[str, Any]] = [
        {"type": "start", "version": 1, "provider": "generic", "model": "test-model",
         "tools": ["weather"], "_tool_sources": sources},
        {"type": "reasoning", "step": 1, "text": reasoning},
        {"type": "step", "step": 1, "finish_reason": "tool_calls", "model": "test-model-1",
         "usage": u1, "_text": "", "_reasoning": reasoning, "_reasoning_details": details,
         "_tool_calls": [{"id": "call_1", "name": "weather", "arguments": arguments}],
         "_duration_s": 0.25, "_request": request1}]
    if stop_after == "step1":
        return events
    events += [
        {"type": "tool_call", "step": 1, "id": "call_1", "name": "weather",
         "arguments": {"location": "Florence"}},
        {"type": "tool_result", "step": 1, "id": "call_1", "name": "weather", "result": result,
         "is_error": False, "duration_s": 0.01}]
    if stop_after == "tool":
        return events
    messages.append({"role": "assistant", "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "weather", "arguments": arguments}}], "reasoning_details": details})
    messages.append({"role": "tool", "tool_call_id": "call_1", "content": result})
    request2 = dict(request1, messages=copy.deepcopy(messages))
    request2["messages"][-1] = dict(request2["messages"][-1],
                                    cache_control={"type": "ephemeral"})
    events += [
        {"type": "text", "step": 2, "text": answer},
        {"type": "step", "step": 2, "finish_reason": "stop", "model": "test-model-1",
         "usage": u2, "_text": answer, "_reasoning": "", "_reasoning_details": None,
         "_tool_calls": [], "_duration_s": 0.5, "_request": request2}]
    valid = [c for c in costs if c is not None and c == c and c >= 0]  # as the loop sums
    total_cost = round(sum(valid), 12) if valid else None
    result_event = {
        "type": "result", "answer": answer, "model": "test-model-1", "provider": "generic",
        "finish_reason": "stop", "steps": 2,
        "tool_calls": [{"id": "call_1", "name": "weather", "arguments": {"location": "Florence"},
                        "result": result, "is_error": False, "duration_s": 0.01}],
        "reasoning": reasoning,
        "usage": dict(usage(30, 12, total_cost)), "duration_s": 0.8, "exit_code": exit_code,
        "_messages": messages + [{"role": "assistant", "content": answer}]}
    if error:
        result_event["error"] = error
    events.append(result_event)
    return events


def play(log_settings, events, run_info=None, warnings=None, close=True):
    """Feed `events` to a recorder; the recorder (closed unless close=False) and its id."""
    from llmrun.runlog.recorder import open_recorder

    warned = warnings if warnings is not None else []
    rec = open_recorder(log_settings, run_info or info(), warned.append)
    assert rec is not None, warned
    for event in events:
        rec.event(event)
    if close:
        rec.close()
        if hasattr(rec, "thread"):  # and the file closed too, so its -wal is gone
            rec.thread.join(30)
    return rec

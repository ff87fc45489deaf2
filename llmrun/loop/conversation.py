"""The messages a careful client sends, and the request body around them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, List, Optional

from llmrun.loop.accumulator import Step
from llmrun.settings.providers import Dialect


@dataclass
class RequestOptions:
    model: str
    max_tokens: Optional[int] = None
    temperature: Optional[float] = None
    reasoning_effort: Optional[str] = None
    cache: bool = True  # ask for prompt caching where the model needs to be asked


def first_messages(system: Optional[str], prompt: Any) -> List[Dict[str, Any]]:
    """The system message and the user's: `prompt` is its text, or a list of content parts
    when there are attachments (loop/attachments.py)."""
    messages: List[Dict[str, Any]] = []
    if system:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": prompt})
    return messages


def assistant_message(step: Step) -> Dict[str, Any]:
    """The assistant turn that asked for tools, echoed back exactly as it streamed."""
    message: Dict[str, Any] = {"role": "assistant"}
    if step.text:
        message["content"] = step.text
    message["tool_calls"] = [
        {"id": c.id, "type": "function", "function": {"name": c.name, "arguments": c.arguments}}
        for c in step.tool_calls]
    if step.reasoning_details:  # signed reasoning must come back for the next turn
        message["reasoning_details"] = step.reasoning_details
    return message


def tool_message(call_id: str, content: str) -> Dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def request_body(dialect: Dialect, opts: RequestOptions, messages: List[Dict[str, Any]],
                 tools: List[Dict[str, Any]]) -> Dict[str, Any]:
    body: Dict[str, Any] = {"model": opts.model, "messages": messages}
    if opts.max_tokens is not None:
        body[dialect.max_tokens_field(opts.model)] = opts.max_tokens
    if opts.temperature is not None:
        body["temperature"] = opts.temperature
    if tools:
        body["tools"] = tools
        body["tool_choice"] = "auto"
    if opts.reasoning_effort:
        body.update(dialect.reasoning(opts.reasoning_effort))
    body.update(dialect.extras())
    if opts.cache:
        dialect.mark_cache(body, opts.model)
    body["stream"] = True
    body["stream_options"] = {"include_usage": True}
    return body

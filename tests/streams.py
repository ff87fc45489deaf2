"""Builders for synthetic chat-completion chunks, shaped like real providers send them."""

from typing import Any, Dict, List, Optional


def chunk(delta: Optional[Dict[str, Any]] = None, finish: Optional[str] = None,
          usage: Optional[Dict[str, Any]] = None, model: str = "test-model",
          choices: bool = True, **extra: Any) -> Dict[str, Any]:
    body: Dict[str, Any] = {"id": "gen-1", "object": "chat.completion.chunk", "created": 1,
                            "model": model}
    body["choices"] = [{"index": 0, "delta": delta or {}, "finish_reason": finish}] \
        if choices else []
    if usage is not None:
        body["usage"] = usage
    body.update(extra)
    return body


def text(t: str, **kw: Any) -> Dict[str, Any]:
    return chunk({"role": "assistant", "content": t}, **kw)


def call_header(index: int, call_id: str, name: str, args: str = "") -> Dict[str, Any]:
    return chunk({"role": "assistant", "content": None, "tool_calls": [
        {"index": index, "id": call_id, "type": "function",
         "function": {"name": name, "arguments": args}}]})


def call_args(index: Optional[int], fragment: Any) -> Dict[str, Any]:
    call: Dict[str, Any] = {"function": {"arguments": fragment}}
    if index is not None:
        call["index"] = index
    return chunk({"content": None, "tool_calls": [call]})


def usage(prompt: int = 10, completion: int = 5, **more: Any) -> Dict[str, Any]:
    return {"prompt_tokens": prompt, "completion_tokens": completion,
            "total_tokens": prompt + completion, **more}


def weather_call_step(call_id: str = "call_1", args: str = '{"location":"Florence"}',
                      ) -> List[Dict[str, Any]]:
    """A typical first step: one weather call, finish tool_calls, usage trailer."""
    return [call_header(0, call_id, "weather"), call_args(0, args),
            chunk(finish="tool_calls"), chunk(usage=usage(), choices=False)]


def answer_step(answer: str = "It is 40 C.") -> List[Dict[str, Any]]:
    return [text(answer), chunk(finish="stop"), chunk(usage=usage(20, 7), choices=False)]

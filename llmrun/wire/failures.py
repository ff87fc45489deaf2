"""Plain-words descriptions of network failures and of provider error bodies."""

from __future__ import annotations

import json
import re
from typing import Any, Callable, Iterator, List, Optional


# -- network failures -------------------------------------------------------------------------
def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, its wrapped reasons, arguments, causes and contexts, without loops."""
    seen: List[int] = []
    todo: List[Any] = [exc]
    while todo:
        item = todo.pop(0)
        if not isinstance(item, BaseException) or id(item) in seen:
            continue
        seen.append(id(item))
        yield item
        todo.extend([getattr(item, "reason", None), item.__cause__, item.__context__])
        todo.extend(a for a in item.args if isinstance(a, BaseException))


def classify(exc: BaseException) -> str:
    """One of: timeout, refused, dns, tls, dropped, reset, incomplete, other."""
    import http.client
    import ssl

    from urllib3 import exceptions as u3

    kinds = [type(e) for e in _chain(exc)]
    checks = [("dns", (u3.NameResolutionError,)),
              ("refused", (ConnectionRefusedError,)),
              ("tls", (ssl.SSLError, u3.SSLError)),
              ("timeout", (u3.ReadTimeoutError, u3.ConnectTimeoutError, TimeoutError)),
              ("dropped", (http.client.RemoteDisconnected,)),
              ("reset", (ConnectionResetError, BrokenPipeError, ConnectionAbortedError)),
              ("incomplete", (http.client.IncompleteRead, u3.IncompleteRead,
                              u3.InvalidChunkLength))]
    for name, types in checks:
        if any(issubclass(k, types) for k in kinds):
            if name == "timeout" and any(issubclass(k, u3.NewConnectionError) for k in kinds):
                continue  # NewConnectionError subclasses ConnectTimeoutError in urllib3
            return name
    return "other"


def reason(exc: BaseException) -> str:
    """The innermost cause of a requests/urllib3 error, without the noise."""
    for item in _chain(exc):
        if isinstance(item, OSError) and item.strerror:
            return item.strerror
    text = str(exc)
    match = re.search(r"\[Errno -?\d+\] ([^'\")\]]+)", text)
    if match:
        return match.group(1).strip(" :'\"")
    match = re.search(r"(\w+Error)\('?(.*?)'?\)+$", text)
    if match and match.group(2):
        return match.group(2)[:300]
    return text[:300]


MIDSTREAM = {"reset": "the server reset the connection",
             "incomplete": "the server closed the connection before the body was complete",
             "dropped": "the server closed the connection"}


def wrap_read(read: Callable[[int], bytes],
              timeout: Optional[float] = None) -> Callable[[int], bytes]:
    """Wrap a raw read so a reset, a stall or a cut chunked body becomes a StreamError."""
    from urllib3.exceptions import HTTPError as Urllib3Error

    from llmrun.base.errors import StreamError

    def guarded(size: int) -> bytes:
        try:
            return read(size)
        except (Urllib3Error, OSError, ValueError) as exc:
            kind = classify(exc)
            if kind == "timeout":
                waited = f"for {timeout:g} s " if timeout else ""
                raise StreamError(f"the stream stalled: no data {waited}(the server may be "
                                  "overloaded; try again or raise --timeout)") from None
            why = MIDSTREAM.get(kind) or reason(exc)
            raise StreamError(f"the connection broke mid-stream: {why}; try again") from None

    return guarded


# -- provider error bodies --------------------------------------------------------------------
def error_detail(text: str) -> str:
    """The provider's own error message from a JSON body, or the first line of text/HTML."""
    text = text.strip()
    if not text:
        return ""
    if text.startswith(("data:", "event:")):  # an error sent as an event stream
        lines = [line[5:].strip() for line in text.splitlines() if line.startswith("data:")]
        text = next((line for line in lines if line and line != "[DONE]"), text)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        data = None
    if data is not None:
        found = find_message(data)
        if found:
            return " ".join(found.split())[:500]
    if "<" in text and ">" in text:  # HTML: the title or first text line
        title = re.search(r"<title[^>]*>(.*?)</title>", text, re.I | re.S)
        text = title.group(1) if title else re.sub(r"<[^>]+>", "\n", text)
    for line in text.splitlines():
        if line.strip():
            return " ".join(line.split())[:300]
    return ""


def find_message(data: Any, depth: int = 0) -> str:
    """OpenAI/OpenRouter `{"error": {"message"}}`, Vercel, `{"message"}`, `{"detail"}` …"""
    if isinstance(data, str):
        return data
    if depth > 8:
        return ""
    if isinstance(data, list) and data:
        return find_message(data[0], depth + 1)
    if not isinstance(data, dict):
        return ""
    error = data.get("error")
    if isinstance(error, dict):
        message = find_message(error, depth + 1)
        metadata = error.get("metadata")
        raw = metadata.get("raw") if isinstance(metadata, dict) else None
        if message and isinstance(raw, str) and raw and raw not in message:
            message += f" ({error_detail(raw)[:200]})"
        return message
    if isinstance(error, str):
        return error
    for key in ("message", "detail", "error_description", "msg"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, (dict, list)):
            return find_message(value, depth + 1)
    return ""

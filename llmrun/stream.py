"""Reading one response body (an SSE stream, or a plain JSON completion) into a step."""

from __future__ import annotations

import json
from typing import Any

from llmrun.accumulator import StepAccumulator
from llmrun.errors import StreamError
from llmrun.sse import SSEReader

READ_SIZE = 65536


def read_response(resp: Any, acc: StepAccumulator) -> None:
    """Feed the whole body of `resp` into `acc`; raise StreamError if it is not a full step."""
    ctype = (resp.headers.get("Content-Type") or "").lower()
    if "json" in ctype and "event-stream" not in ctype:
        _read_json(resp, acc)
    elif ctype and "event-stream" not in ctype:
        raise StreamError(f"expected an event stream but the server sent {ctype.split(';')[0]}"
                          " (is the base URL right?)")
    else:
        _read_sse(resp, acc)


def _read_sse(resp: Any, acc: StepAccumulator) -> None:
    read = _reader(resp)
    reader = SSEReader()
    feed = reader.feed
    loads = json.loads
    add = acc.add
    try:
        while True:
            data = read(READ_SIZE)
            events = feed(data) if data else reader.close()
            for event in events:
                payload = event.data
                if payload == b"[DONE]":
                    return
                try:
                    chunk = loads(payload)
                except ValueError as exc:  # also UnicodeDecodeError
                    raise StreamError(f"malformed stream: {_what(exc)} in event "
                                      f"{_preview(payload)}")
                if not isinstance(chunk, dict):
                    raise StreamError(f"malformed stream: event {_preview(payload)} is not "
                                      "a JSON object")
                if "error" in chunk and chunk["error"] or event.event == "error":
                    raise StreamError("the stream reported an error: " + _stream_error(chunk))
                add(chunk)
            if not data:
                break
    finally:
        resp.close()
    if not acc.finish_reason:
        raise StreamError("the stream was cut before the step finished (no finish_reason or "
                          "[DONE]); try again")


def _reader(resp: Any):
    """`read1` hands over whatever bytes have arrived, without waiting for a full buffer."""
    from llmrun.transport_errors import wrap_read

    raw = resp.raw
    read1 = getattr(raw, "read1", None)
    if read1 is None:  # pragma: no cover - every urllib3 2.x response has read1
        return wrap_read(raw.read)
    return wrap_read(read1)


def _read_json(resp: Any, acc: StepAccumulator) -> None:
    """A server that ignored `stream: true` and answered one ordinary completion."""
    read = _reader(resp)
    parts = []
    try:
        while True:
            data = read(READ_SIZE)
            if not data:
                break
            parts.append(data)
    finally:
        resp.close()
    body = b"".join(parts)
    try:
        chunk = json.loads(body)
    except ValueError as exc:
        raise StreamError(f"malformed response: {_what(exc)} in {_preview(body)}")
    if not isinstance(chunk, dict):
        raise StreamError(f"malformed response: {_preview(body)} is not a JSON object")
    if chunk.get("error"):
        raise StreamError("the server reported an error: " + _stream_error(chunk))
    acc.add(chunk)
    if not acc.finish_reason:
        acc.finish_reason = "tool_calls" if acc.has_tool_calls else "stop"


def _stream_error(chunk: dict) -> str:
    from llmrun.transport import _find_message

    error = chunk.get("error")
    message = _find_message(chunk) or json.dumps(chunk)[:300]
    code = error.get("code") if isinstance(error, dict) else None
    return f"{message} (code {code})" if code not in (None, "") else message


def _what(exc: Exception) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "invalid UTF-8"
    return f"invalid JSON ({str(exc).split(':')[0]})"


def _preview(data: bytes) -> str:
    text = data[:80].decode("utf-8", "replace")
    return repr(text + ("…" if len(data) > 80 else ""))

"""Reading one response body (an SSE stream, or a plain JSON completion) into a step."""

from __future__ import annotations

import json
import time
from typing import Any, Callable, Dict, Optional, Protocol

from llmrun.base.errors import StreamError
from llmrun.base.sse import SSEReader
from llmrun.wire.chunked import body_reader
from llmrun.wire.chunked import loads as fast_loads

READ_SIZE = 65536
Read = Callable[[int], bytes]


class StepAccumulator(Protocol):  # what llmrun.loop.accumulator.StepAccumulator offers
    finish_reason: Optional[str]
    has_tool_calls: bool
    progress: int  # grows with everything a step keeps (keep-alives and empty events do not)

    def add(self, chunk: Dict[str, Any]) -> None: ...

    def batch_done(self) -> None: ...
CUT = "the stream was cut before the step finished (no finish_reason or [DONE]); try again"


#: After [DONE], what is left of the body (a chunked body's last chunk, as a rule) is read if
#: it comes within this long and is this small: a body read to its end frees its connection
#: for the run's next request (urllib3 pools it), without a new TCP and TLS handshake.
END_WAIT = 0.05
END_BYTES = 65536


def read_response(resp: Any, acc: StepAccumulator, timeout: Optional[float] = None) -> None:
    """Feed the whole body of `resp` into `acc`; raise StreamError if it is not a full step.

    `timeout` is only named in the message when the stream stalls."""
    ctype = (resp.headers.get("Content-Type") or "").lower()
    try:
        if "json" in ctype and "event-stream" not in ctype:
            consume_json(_reader(resp, timeout), acc)
        elif ctype and "event-stream" not in ctype:
            raise StreamError(f"expected an event stream but the server sent "
                              f"{ctype.split(';')[0]} (is the base URL right?)")
        else:
            from llmrun.wire.failures import wrap_read

            raw_read = body_reader(resp.raw)
            read = wrap_read(raw_read, timeout)
            consume_sse(read, acc, timeout)
            acc.batch_done()  # every delta is out before the end of the body is waited for
            read_to_end(resp, read, getattr(raw_read, "__self__", None))
    finally:
        resp.close()  # a connection given back to the pool stays open; any other is closed
        acc.batch_done()  # whatever the last read brought, even on [DONE] or an error


def read_to_end(resp: Any, read: Read, reader: Any = None) -> bool:
    """Read what is left of the body once the step is complete, for about END_WAIT seconds
    (twice that at the most) and END_BYTES bytes; whether it ended there (urllib3 then pools
    its connection). `reader`: the de-chunker behind `read`, if any, which is given the
    deadline too. Its socket is urllib3's again once pooled: urllib3 sets its timeouts."""
    conn = getattr(resp.raw, "_connection", None)
    sock = getattr(conn, "sock", None)
    if sock is None:
        return conn is None  # pooled already (a body read to its end), or nothing to pool
    before = sock.gettimeout()
    end, left = time.monotonic() + END_WAIT, END_BYTES
    if hasattr(reader, "deadline"):
        reader.deadline = end  # each of its reads of the socket waits `wait` at the most
    try:
        while left > 0:
            wait = end - time.monotonic()
            if wait <= 0:
                return False
            sock.settimeout(wait)  # a server that holds the rest back costs END_WAIT at most
            data = read(left)
            if not data:
                return getattr(resp.raw, "_connection", None) is None
            left -= len(data)
        return False
    except (StreamError, OSError, ValueError):
        return False  # a stall, a reset, garbage after [DONE]: the connection is closed
    finally:
        if getattr(resp.raw, "_connection", None) is not None:  # still ours
            try:
                sock.settimeout(before)
            except OSError:
                pass


def consume_sse(read: Read, acc: StepAccumulator, timeout: Optional[float] = None) -> None:
    """Feed an SSE body, pulled with `read(n)`, into `acc` until [DONE] or its end.

    `timeout` counts from the last event that carried something: keep-alive comments and
    events with nothing in them (`{"choices": []}`) do not keep a stream alive for longer
    than a silent one."""
    reader = SSEReader()
    feed = reader.feed
    loads = fast_loads
    add = acc.add
    batch_done = acc.batch_done
    clock = time.monotonic
    last_event = clock()
    mark = acc.progress  # what acc kept so far: a stream that brings nothing stalls
    while True:
        data = read(READ_SIZE)
        events = feed(data) if data else reader.close()
        for event in events:
            payload = event.data
            if payload == b"[DONE]":
                return
            if event.event == "error":
                raise StreamError("the stream reported an error: " + _error_text(payload))
            try:
                chunk = loads(payload)
            except (ValueError, RecursionError) as exc:  # also UnicodeDecodeError
                raise _bad_event(exc, payload, at_end=not data) from None
            if not isinstance(chunk, dict):
                raise StreamError(f"malformed stream: event {_preview(payload)} is not "
                                  "a JSON object")
            if "error" in chunk and chunk["error"]:
                raise StreamError("the stream reported an error: " + _stream_error(chunk))
            add(chunk)
        now = acc.progress
        if now != mark:
            mark, last_event = now, clock()
        elif timeout and data and clock() - last_event > timeout:
            raise StreamError(f"the stream stalled: no event for {timeout:g} s, only keep-alive "
                              "comments or events with nothing in them (the server may be "
                              "overloaded; try again or raise --timeout)")
        if events:
            batch_done()  # before the next read may block: every delta is out by then
        if not data:
            break
    if not acc.finish_reason:
        raise StreamError(CUT)


def _bad_event(exc: BaseException, payload: bytes, at_end: bool) -> StreamError:
    if at_end:  # the body ended inside an event that never got its blank line
        return StreamError("the stream was cut in the middle of an event, before the step "
                           "finished; try again")
    return StreamError(f"malformed stream: {_what(exc)} in event {_preview(payload)}")


def _reader(resp: Any, timeout: Optional[float] = None) -> Read:
    """A read that hands over whatever bytes have arrived, without waiting for a full buffer
    (`read1`, or the bulk de-chunking reader of llmrun/wire.py)."""
    from llmrun.wire.failures import wrap_read

    return wrap_read(body_reader(resp.raw), timeout)


def consume_json(read: Read, acc: StepAccumulator) -> None:
    """A server that ignored `stream: true` and answered one ordinary completion."""
    from llmrun.base.sse import MAX_EVENT_BYTES

    parts, size = [], 0
    while True:
        data = read(READ_SIZE)
        if not data:
            break
        parts.append(data)
        size += len(data)
        if size > MAX_EVENT_BYTES:
            raise StreamError("the response is larger than the budget of "
                              f"{MAX_EVENT_BYTES // (1024 * 1024)} MiB; stopped reading")
    body = b"".join(parts)
    try:
        chunk = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise StreamError(f"malformed response: {_what(exc)} in {_preview(body)}")
    if not isinstance(chunk, dict):
        raise StreamError(f"malformed response: {_preview(body)} is not a JSON object")
    if chunk.get("error"):
        raise StreamError("the server reported an error: " + _stream_error(chunk))
    acc.add(chunk)
    if not acc.finish_reason:
        acc.finish_reason = "tool_calls" if acc.has_tool_calls else "stop"


def _error_text(payload: bytes) -> str:
    """What an `event: error` says: its JSON error message, or its first line of text."""
    try:
        chunk = json.loads(payload)
    except (ValueError, RecursionError):
        chunk = None
    if isinstance(chunk, dict):
        return _stream_error(chunk)
    from llmrun.wire.failures import error_detail

    return error_detail(payload.decode("utf-8", "replace")) or "(no details)"


def _stream_error(chunk: dict) -> str:
    from llmrun.wire.failures import find_message

    error = chunk.get("error")
    message = " ".join(find_message(chunk).split())[:500] or json.dumps(chunk)[:300]
    code = error.get("code") if isinstance(error, dict) else None
    return f"{message} (code {code})" if code not in (None, "") else message


def _what(exc: BaseException) -> str:
    if isinstance(exc, UnicodeDecodeError):
        return "invalid UTF-8"
    if isinstance(exc, RecursionError):
        return "JSON nested too deeply"
    return f"invalid JSON ({str(exc).split(':')[0]})"


def _preview(data: bytes) -> str:
    text = data[:80].decode("utf-8", "replace")
    return repr(text + ("…" if len(data) > 80 else ""))

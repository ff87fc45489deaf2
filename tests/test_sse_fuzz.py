"""Arbitrary bytes through the SSE reader, the stream reading and the step accumulator:
the only outcomes are events, a finished step, or llmrun's own StreamError."""

from __future__ import annotations

import json
from typing import List

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmrun.base.errors import StreamError
from llmrun.base.sse import Event, SSEReader
from llmrun.loop.accumulator import StepAccumulator
from llmrun.loop.conversation import assistant_message
from llmrun.loop.result import RunResult
from llmrun.wire.stream import consume_json, consume_sse

SETTINGS = settings(max_examples=300, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

scalars = (st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False)
           | st.text(max_size=8))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=6), inner, max_size=3), max_leaves=8)


def maybe(strategy):
    """A well-shaped value, or any JSON value at all in its place."""
    return strategy | values


text = st.text(max_size=12)
function = st.fixed_dictionaries({}, optional={"name": maybe(text), "arguments": maybe(text)})
tool_call = st.fixed_dictionaries({}, optional={
    "index": maybe(st.integers(0, 3)), "id": maybe(st.sampled_from(["call_1", "call_2", ""])),
    "type": maybe(st.just("function")), "function": maybe(function)})
detail = st.fixed_dictionaries({}, optional={
    "type": maybe(st.sampled_from(["reasoning.text", "reasoning.encrypted"])),
    "index": maybe(st.integers(0, 2)), "text": maybe(text), "signature": maybe(text),
    "data": maybe(text), "format": maybe(text)})
delta = st.fixed_dictionaries({}, optional={
    "role": maybe(st.just("assistant")), "content": maybe(text), "reasoning": maybe(text),
    "reasoning_content": maybe(text), "reasoning_details": maybe(st.lists(maybe(detail))),
    "tool_calls": maybe(st.lists(maybe(tool_call), max_size=3))})
choice = st.fixed_dictionaries({}, optional={
    "index": maybe(st.integers(0, 2)), "delta": maybe(delta), "message": maybe(delta),
    "finish_reason": maybe(st.sampled_from(["stop", "tool_calls", "length", None]))})
usage = st.fixed_dictionaries({}, optional={
    "prompt_tokens": maybe(st.integers(0, 99)), "completion_tokens": maybe(st.integers(0, 99)),
    "total_tokens": maybe(st.integers(0, 99)), "cost": maybe(st.floats(0, 1)),
    "prompt_tokens_details": maybe(st.fixed_dictionaries({"cached_tokens": values})),
    "completion_tokens_details": maybe(st.fixed_dictionaries({"reasoning_tokens": values}))})
chunks = st.fixed_dictionaries({}, optional={
    "id": maybe(text), "model": maybe(text), "choices": maybe(st.lists(maybe(choice), max_size=3)),
    "usage": maybe(usage), "error": st.none() | st.just({}) | values})
chunk_bytes = chunks.map(json.dumps).map(str.encode)
payloads = st.one_of(chunk_bytes, chunk_bytes, chunk_bytes, values.map(json.dumps).map(str.encode),
                     st.sampled_from([b"[DONE]", b"", b"{", b'{"choices": [', b"\xff\xfe",
                                      b"[" * 5000, b'{"error": {"message": "x", "code": 1}}']))
FINISH = b'data: {"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}\n\n'
DONE = b"data: [DONE]\n\n"
line_ends = st.sampled_from([b"\n", b"\r\n", b"\r"])
extras = st.sampled_from([b"", b": keep-alive", b"event: message", b"event: error", b"id: 7",
                          b"retry: 10", b"data", b"bogus field"])


@st.composite
def streams(draw) -> bytes:
    """A stream in any legal SSE spelling, built from (mostly) chunk-shaped events."""
    out = []
    for payload in draw(st.lists(payloads, max_size=8)):
        end = draw(line_ends)
        extra = draw(extras)
        if extra:
            out.append(extra + end)
        space = draw(st.sampled_from([b" ", b""]))
        for i, part in enumerate(payload.split(b"\n")):
            out.append(b"data:" + space + part + end)
        out.append(end)
    out.append(draw(st.sampled_from([b"", FINISH, DONE, FINISH + DONE])))
    return b"".join(out)


@st.composite
def split_streams(draw) -> List[bytes]:
    """A stream, maybe truncated, maybe with random bytes appended, cut at random points."""
    data = draw(streams() | st.binary(max_size=400))
    if draw(st.booleans()):
        data = data[:draw(st.integers(0, len(data)))]
    if draw(st.booleans()):
        data += draw(st.binary(max_size=40))
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    return [data[a:b] for a, b in zip([0] + cuts, cuts + [len(data)])]


def reader(pieces: List[bytes]):
    """read(n) over pieces, as a socket hands them over; b"" at the end."""
    queue = list(pieces)

    def read(size: int) -> bytes:
        while queue:
            piece = queue.pop(0)
            if piece:
                return piece
        return b""

    return read


def finish_all_the_way(acc: StepAccumulator) -> None:
    """Everything downstream of the accumulator must cope with what it built too: the JSON
    object and the next request are written as UTF-8, exactly as llmrun writes them."""
    def written(obj) -> None:
        json.dumps(obj, ensure_ascii=False).encode("utf-8")

    step = acc.finish()
    result = RunResult(provider="p", model="m")
    result.add_step(step)
    written(result.to_dict())
    step.text.encode("utf-8")
    if step.tool_calls:
        written(assistant_message(step))
        for call in step.tool_calls:
            result.add_tool_call(call, type("R", (), {"content": "x", "is_error": False,
                                                      "duration": 0.0})())
        written(result.to_dict())


@SETTINGS
@given(split_streams())
def test_sse_reader_only_yields_events_or_stream_error(pieces):
    reader_ = SSEReader(max_event_bytes=1024)
    try:
        events = [e for piece in pieces for e in reader_.feed(piece)] + reader_.close()
    except StreamError:
        return
    for event in events:
        assert isinstance(event, Event)
        assert isinstance(event.data, bytes) and isinstance(event.event, str)


def finish_or_refuse(acc: StepAccumulator) -> None:
    """The step is finished all the way, or refused as a stream failure (a usage no step can
    have, say a token count of -1, is hostile input: exit 5), never anything else."""
    try:
        finish_all_the_way(acc)
    except StreamError as exc:
        assert exc.exit_code == 5 and exc.message


@SETTINGS
@given(split_streams())
def test_stream_reading_and_accumulator_only_raise_stream_error(pieces):
    seen: List[str] = []
    acc = StepAccumulator(on_text=seen.append, on_reasoning=seen.append)
    try:
        consume_sse(reader(pieces), acc)
    except StreamError as exc:
        assert exc.exit_code == 5 and exc.message
    assert all(isinstance(s, str) for s in seen)
    finish_or_refuse(acc)


@SETTINGS
@given(st.one_of(chunks.map(json.dumps).map(str.encode), st.binary(max_size=200),
                 values.map(json.dumps).map(str.encode)),
       st.lists(st.integers(1, 50), max_size=5))
def test_plain_json_answers_only_raise_stream_error(body, sizes):
    pieces, at = [], 0
    for size in sizes:
        pieces.append(body[at:at + size])
        at += size
    pieces.append(body[at:])
    acc = StepAccumulator()
    try:
        consume_json(reader(pieces), acc)
    except StreamError:
        pass
    finish_or_refuse(acc)


@SETTINGS
@given(st.text(max_size=300) | values.map(json.dumps)
       | values.map(lambda v: json.dumps({"error": v})) | st.binary(max_size=200).map(
           lambda b: b.decode("utf-8", "replace")))
def test_error_bodies_always_give_a_one_line_detail(body):
    """HTTP error bodies are arbitrary too: the detail is always one line of text."""
    from llmrun.wire.failures import error_detail

    detail = error_detail(body)
    assert isinstance(detail, str) and "\n" not in detail and len(detail) <= 800


def test_valid_stream_split_anywhere_gives_the_same_step():
    """A sanity anchor for the property tests: they do reach real steps."""
    from server import good_stream

    body = good_stream("Hello there")
    for cut in range(len(body) + 1):
        acc = StepAccumulator()
        consume_sse(reader([body[:cut], body[cut:]]), acc)
        step = acc.finish()
        assert (step.text, step.finish_reason, step.usage.total_tokens) == \
            ("Hello there", "stop", 10)

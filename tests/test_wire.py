"""llmrun/wire.py: the bulk de-chunking reader and the fast JSON path give exactly what the
ordinary path gives — same bytes, same values, same errors — for any framing and any split."""

from __future__ import annotations

import contextlib
import http.client
import json

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st
from server import Reply, TestServer, chunk, good_stream, sse

from llmrun.wire import chunked as wire


def frame(pieces, ext=b""):
    """`pieces` as a chunked body: one chunk each, then the last chunk."""
    return b"".join(b"%x%s\r\n%s\r\n" % (len(p), ext, p) for p in pieces) + b"0\r\n\r\n"


def split_at(data, cuts):
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    return [data[a:b] for a, b in zip(points, points[1:]) if b > a]


def dechunk(wire_pieces, size=65536):
    """Run the de-chunker over bytes arriving in `wire_pieces`; return what it handed over."""
    arriving = iter(wire_pieces)
    reader = wire._Dechunker(lambda n: next(arriving, b""), contextlib.nullcontext)
    out = []
    while True:
        data = reader.read(size)
        if not data:
            return out
        out.append(data)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=300), max_size=20),
       st.lists(st.integers(min_value=0, max_value=10 ** 6), max_size=30),
       st.sampled_from([b"", b";name=value"]))
def test_any_framing_and_split_gives_the_body(pieces, cuts, ext):
    body = b"".join(pieces)
    got = dechunk(split_at(frame(pieces, ext), cuts))
    assert b"".join(got) == body
    assert all(got)  # never an empty read before the end


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=100), min_size=1, max_size=10),
       st.integers(min_value=0, max_value=10 ** 6), st.integers(min_value=1, max_value=7))
def test_a_cut_body_is_an_incomplete_read(pieces, cut, step):
    framed = frame(pieces)
    cut %= len(framed) - len(b"0\r\n")  # anywhere before the last chunk is complete
    with pytest.raises(http.client.IncompleteRead):
        dechunk(split_at(framed[:cut], range(0, cut, step)))


@pytest.mark.parametrize("bad", [b"zz\r\nabc\r\n", b"-5\r\nabc\r\n", b"1" * 70000])
def test_a_garbled_size_line_is_an_incomplete_read(bad):
    with pytest.raises(http.client.IncompleteRead):
        dechunk([b"3\r\nabc\r\n" + bad])


def test_good_bytes_before_a_garbled_size_line_come_first():
    arriving = iter([b"3\r\nabc\r\nzz\r\nmore"])
    reader = wire._Dechunker(lambda n: next(arriving, b""), contextlib.nullcontext)
    assert reader.read(65536) == b"abc"
    with pytest.raises(http.client.IncompleteRead):
        reader.read(65536)


def test_each_arrival_is_handed_over_at_once():
    """No read-ahead: bytes of a chunk still arriving come out as they come."""
    got = dechunk([b"a\r\n01234", b"56789\r\n", b"2\r\nab\r\n0\r\n\r\n"])
    assert got == [b"01234", b"56789", b"ab"]


def test_used_only_for_plain_chunked_responses(server):
    body = sse(chunk("Hi"), chunk(finish="stop"))
    server.replies += [Reply(body, mode="chunked"), Reply(body, mode="length"),
                       Reply(body, mode="chunked", headers={
                           "Content-Type": "text/event-stream", "Content-Encoding": "gzip"})]
    server.replies.append(Reply(body, mode="chunked"))
    readers = []
    for number in range(4):
        resp = requests.post(server.url + "/chat/completions", data=b"{}", stream=True)
        if number == 3:  # someone watches the bytes (as a recorder would): leave it be
            resp.raw.read1 = resp.raw.read1
        readers.append(wire.body_reader(resp.raw))
        resp.close()
    fast = [isinstance(getattr(r, "__self__", None), wire._Dechunker) for r in readers]
    assert fast == [True, False, False, False]


def test_real_stream_through_the_reader():
    with TestServer([Reply(good_stream(), mode="chunked")]) as srv:
        resp = requests.post(srv.url + "/chat/completions", data=b"{}", stream=True)
        read = wire.body_reader(resp.raw)
        got = b""
        while True:
            data = read(65536)
            if not data:
                break
            got += data
        resp.close()
    assert got == good_stream()


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text()
                    | st.floats(allow_nan=False),
                    lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(st.text(max_size=5), inner, max_size=4), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(JSON, st.sampled_from(["", " ", "\n", "\t "]), st.booleans())
def test_loads_equals_json_loads_on_json(value, pad, ascii_only):
    data = (pad + json.dumps(value, ensure_ascii=ascii_only) + pad).encode("utf-8")
    assert wire.loads(data) == json.loads(data)


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=60) | st.builds(lambda a, b: a + b, st.sampled_from(
    [b'{"a": 1}', b"[1, 2]", b'"x"', b"\xef\xbb\xbf{}", b'{"\xff": 1}', b"{\x00}"]),
    st.binary(max_size=8)))
def test_loads_fails_exactly_like_json_loads(data):
    try:
        expected = ("ok", json.loads(data))
    except (ValueError, RecursionError) as exc:
        expected = ("error", type(exc), str(exc))
    try:
        got = ("ok", wire.loads(data))
    except (ValueError, RecursionError) as exc:
        got = ("error", type(exc), str(exc))
    assert got == expected

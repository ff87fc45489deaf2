"""One connection for a run's requests (llmrun/wire/stream.py read_to_end, the de-chunker's end
of body): a chunked answer read to its end, trailers and all, leaves its connection to the next
request. A server that sends past its body, holds the body open after [DONE] or cuts it gets a
new connection next time (what it sent past the body is never read as an answer), and its
step is never held up for longer than END_WAIT."""

from __future__ import annotations

import contextlib
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from server import Reply, TestServer, sse
from streams import answer_step, text
from test_wire import frame, split_at

from llmrun.base.context import RunContext, activate
from llmrun.loop.accumulator import StepAccumulator
from llmrun.settings.providers import preset
from llmrun.wire import chunked as wire
from llmrun.wire.transport import Transport

HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"


@pytest.fixture
def counted():
    """A test server that counts the connections it accepted."""
    with TestServer() as server:
        server.accepted = []

        def verify(request, address):
            server.accepted.append(address)
            return True
        server.httpd.verify_request = verify
        yield server


def steps(server, count):
    """`count` steps of one run, one Transport (its pool) for them all; their answers."""
    provider = preset("openai")
    provider.base_url = server.url
    with activate(RunContext()):
        transport = Transport(provider, "k", timeout=30)
        answers = []
        for _ in range(count):
            acc = StepAccumulator()
            transport.complete({"model": "m", "messages": []}, acc)
            answers.append(acc.finish().text)
    return answers


def raw(data: bytes) -> Reply:
    """A reply written byte for byte: head and body as given."""
    def send(h):
        h.wfile.write(data)
        h.wfile.flush()
    return Reply(action=send)


def chunked(body: bytes, after: bytes = b"", trailer: bytes = b"") -> Reply:
    framed = frame([body])
    if trailer:
        framed = framed[:-2] + trailer + b"\r\n"
    return raw(HEAD + b"Transfer-Encoding: chunked\r\n\r\n" + framed + after)


def test_chunked_answers_share_one_connection(counted):
    counted.add(*[Reply(sse(*answer_step(f"a{n}"))) for n in range(3)])  # chunked, in pieces
    assert steps(counted, 3) == ["a0", "a1", "a2"]
    assert len(counted.accepted) == 1


def test_trailers_after_the_last_chunk_still_end_the_body(counted):
    body = sse(*answer_step("one"))
    counted.add(chunked(body, trailer=b"X-Checksum: 1\r\nX-More: 2\r\n"),
                Reply(sse(*answer_step("two"))))
    assert steps(counted, 2) == ["one", "two"]
    assert len(counted.accepted) == 1


@pytest.mark.parametrize("after", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nforged",  # an answer to a request not sent
    b"garbage",
])
def test_bytes_past_the_body_mean_a_new_connection(counted, after):
    counted.add(chunked(sse(*answer_step("one")), after=after), Reply(sse(*answer_step("two"))))
    assert steps(counted, 2) == ["one", "two"]
    assert len(counted.accepted) == 2


def test_a_forged_answer_past_a_content_length_body_never_answers_the_next_request(counted):
    """http.client reads exactly Content-Length bytes; what came with them is dropped with its
    buffer (urllib3 may pool the connection: a server that wrote more than its body arrives
    in no answer of ours)."""
    body = sse(*answer_step("one"))
    forged = sse(*answer_step("forged"))
    counted.add(raw(HEAD + b"Content-Length: %d\r\n\r\n%s" % (len(body), body) + HEAD
                    + b"Content-Length: %d\r\n\r\n%s" % (len(forged), forged)),
                Reply(sse(*answer_step("two"))))
    assert steps(counted, 2) == ["one", "two"]


def test_a_body_held_open_after_done_costs_a_new_connection_not_a_wait(counted):
    """[DONE] arrives, the last chunk never does: the step ends (after END_WAIT at most, far
    less than the 30 s timeout) and the next request goes over a new connection."""
    release = threading.Event()

    def held(h):
        body = sse(text("one"), *answer_step(""))
        h.wfile.write(HEAD + b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n" % (len(body), body))
        h.wfile.flush()
        release.wait(30)  # the terminator only comes once the test is over
        h.close_connection = True

    counted.add(Reply(action=held), Reply(sse(*answer_step("two"))))
    try:
        assert steps(counted, 2) == ["one", "two"]
    finally:
        release.set()
    assert len(counted.accepted) == 2


def test_a_server_that_trickles_framing_after_done_holds_the_step_no_longer(counted):
    """After [DONE], one byte of a chunk-size line every 20 ms: each comes well within the
    socket's wait, but no body byte ever does; the de-chunker's deadline ends the wait."""
    release = threading.Event()

    def trickle(h):
        body = sse(*answer_step("one"))
        h.wfile.write(HEAD + b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n" % (len(body), body))
        h.wfile.flush()
        while not release.wait(0.02):  # 64 KiB of size line at this pace: 20 minutes
            h.wfile.write(b"0")
            h.wfile.flush()
        h.close_connection = True

    counted.add(Reply(action=trickle), Reply(sse(*answer_step("two"))))
    started = time.monotonic()
    try:
        assert steps(counted, 2) == ["one", "two"]
        assert time.monotonic() - started < 10
    finally:
        release.set()
    assert len(counted.accepted) == 2


def test_past_its_deadline_the_dechunker_reads_no_more():
    reads = []
    reader = wire._Dechunker(lambda n: reads.append(n) or b"f", contextlib.nullcontext)
    reader.deadline = time.monotonic() - 1
    with pytest.raises(TimeoutError):
        reader.read(65536)
    assert reads == []


def _ended_calls(pieces):
    calls = []
    arriving = iter(pieces)
    reader = wire._Dechunker(lambda n: next(arriving, b""), contextlib.nullcontext,
                             lambda: calls.append(1))
    out = []
    while True:
        data = reader.read(65536)
        if not data:
            return b"".join(out), len(calls)
        out.append(data)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(min_size=1, max_size=200), max_size=10),
       st.lists(st.integers(min_value=0, max_value=10 ** 6), max_size=20),
       st.sampled_from([b"", b"X-A: 1\r\n", b"X-A: 1\r\nX-B: 2\r\n"]))
def test_any_split_with_trailers_gives_the_body_and_ends_it_once(pieces, cuts, trailer):
    framed = frame(pieces)[:-2] + trailer + b"\r\n"
    assert _ended_calls(split_at(framed, cuts)) == (b"".join(pieces), 1)


def test_bytes_in_the_same_read_as_the_end_do_not_end_it_cleanly():
    assert _ended_calls([frame([b"abc"]) + b"more"]) == (b"abc", 0)


def test_a_close_inside_the_trailers_is_the_end_of_a_whole_body():
    """As http.client reads it: the body is whole, but the connection is not for reuse."""
    assert _ended_calls([b"3\r\nabc\r\n0\r\nX-A: 1\r\n"]) == (b"abc", 0)


def test_a_connection_idle_longer_than_the_limit_is_not_reused(counted, monkeypatch):
    """A NAT or firewall may drop an idle connection without a word: past KEEP_IDLE_S the
    pool connects again rather than send into it (here the limit is 0: every time)."""
    from llmrun.wire import connections

    monkeypatch.setattr(connections, "KEEP_IDLE_S", 0.0)
    counted.add(*[Reply(sse(*answer_step(f"a{n}"))) for n in range(3)])
    assert steps(counted, 3) == ["a0", "a1", "a2"]
    assert len(counted.accepted) == 3

"""The stdin pipe of a stdio MCP server (llmrun/tools/mcp/pipes.py), on real pipes: a message is
in the pipe when `put` returns while there is room, what does not fit follows in order from the
writer thread, a server that stops reading never blocks `put` (PipeFull at the bound), and a
closed pipe is an error at once."""

import os
import select
import threading

import pytest

from llmrun.tools.mcp import pipes
from llmrun.tools.mcp.pipes import PipeFull, PipeWriter


@pytest.fixture
def pipe():
    read_end, write_end = os.pipe()
    writer = PipeWriter(write_end)
    yield read_end, writer
    writer.close(grace=0)
    try:
        os.close(read_end)
    except OSError:
        pass


def read_all(fd, size):
    got = bytearray()
    while len(got) < size:
        piece = os.read(fd, 1 << 16)
        assert piece, "the pipe ended early"
        got += piece
    return bytes(got)


def test_a_message_is_in_the_pipe_when_put_returns(pipe):
    """No hand-over to the writer thread while the pipe has room: the caller wrote it."""
    read_end, writer = pipe
    for n in range(50):
        writer.put(b'{"id": %d}\n' % n)
        ready, _, _ = select.select([read_end], [], [], 0)
        assert ready, f"message {n} was not written by put itself"
        assert os.read(read_end, 100) == b'{"id": %d}\n' % n


def test_what_does_not_fit_follows_in_order(pipe):
    read_end, writer = pipe
    big = bytes(range(256)) * 4096  # 1 MiB: far more than a pipe holds
    messages = [b"first\n", big, b"after the big one\n", b"x" * 70000, b"last\n"]
    got = {}
    reader = threading.Thread(target=lambda: got.update(data=read_all(
        read_end, sum(map(len, messages)))))
    for message in messages:  # none of these waits for the reader
        writer.put(message)
    reader.start()
    reader.join(30)
    assert got["data"] == b"".join(messages)


def test_a_server_that_never_reads_gets_pipe_full_at_the_bound_not_a_blocked_caller(
        pipe, monkeypatch):
    read_end, writer = pipe
    monkeypatch.setattr(pipes, "MAX_QUEUED", 1 << 20)
    done = threading.Event()
    raised = []

    def fill():
        try:
            for _ in range(100):
                writer.put(b"y" * (1 << 17))
        except PipeFull as exc:
            raised.append(exc)
        done.set()

    threading.Thread(target=fill, daemon=True).start()
    assert done.wait(10), "put blocked on a pipe nobody reads"
    assert raised and "has not read" in str(raised[0])


def test_a_pipe_closed_by_the_server_is_an_error_at_once(pipe):
    read_end, writer = pipe
    os.close(read_end)
    with pytest.raises(BrokenPipeError):
        writer.put(b"hello\n")
    assert writer.broken
    with pytest.raises(BrokenPipeError):  # and stays one
        writer.put(b"again\n")

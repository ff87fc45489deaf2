"""Each event reaches the accumulator while the server is still holding the rest back:
no read-ahead buffering, on chunked responses and on ones that just stay open."""

import threading

import pytest

from llmrun.accumulator import StepAccumulator
from llmrun.providers import preset
from llmrun.stream import read_response
from llmrun.transport import Transport
from server import Reply, sse
from streams import answer_step, text


@pytest.mark.parametrize("mode", ["chunked", "close"])
def test_event_arrives_before_the_server_sends_more(server, mode):
    got_first = threading.Event()
    seen_while_held = []

    def action(h):
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        if mode == "chunked":
            h.send_header("Transfer-Encoding", "chunked")
        else:
            h.send_header("Connection", "close")
        h.end_headers()

        def write(data):
            h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if mode == "chunked" else data)
            h.wfile.flush()

        write(sse(text("first"), done=False))
        # hold the rest back until the client has handed the first event over (or give up)
        seen_while_held.append(got_first.wait(10))
        write(sse(*answer_step("!")))
        if mode == "chunked":
            h.wfile.write(b"0\r\n\r\n")
        h.close_connection = True

    server.add(Reply(action=action))
    provider = preset("openai")
    provider.base_url = server.url
    acc = StepAccumulator(on_text=lambda t: got_first.set() if t == "first" else None)
    read_response(Transport(provider, "k").post({"model": "m", "messages": []}), acc)
    assert seen_while_held == [True]
    assert acc.finish().text == "first!"

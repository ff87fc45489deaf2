"""Each event reaches the accumulator while the server is still holding the rest back:
no read-ahead buffering, on chunked responses and on ones that just stay open."""

import threading

import pytest
from server import gated_reply, sse
from streams import answer_step, text

from llmrun.loop.accumulator import StepAccumulator
from llmrun.settings.providers import preset
from llmrun.wire.stream import read_response
from llmrun.wire.transport import Transport


@pytest.mark.parametrize("mode", ["chunked", "close"])
def test_event_arrives_before_the_server_sends_more(server, mode):
    got_first = threading.Event()
    # the rest is held back until the client has handed the first event over
    reply = gated_reply([(lambda: True, sse(text("first"), done=False)),
                         (got_first.is_set, sse(*answer_step("!")))], wait=10, mode=mode)
    server.add(reply)
    provider = preset("openai")
    provider.base_url = server.url
    acc = StepAccumulator(on_text=lambda t: got_first.set() if t == "first" else None)
    read_response(Transport(provider, "k").post({"model": "m", "messages": []}), acc)
    assert reply.opened == [True, True]
    assert acc.finish().text == "first!"

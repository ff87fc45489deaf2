"""The five recorded conversations, replayed live through a real HTTP server on 127.0.0.1,
streamed at random byte boundaries and rewritten into every legal SSE spelling."""

import os

import pytest
from conftest import SAMPLE_TOOLS
from recorded import CASSETTES, FORMS, cli_args, final_text, recorded_usage, replies, request_bodies

from llmrun.settings.providers import strip_cache_marks

NAMES = [os.path.basename(p)[:-5] for p in CASSETTES]


def test_all_five_cassettes_are_here():
    assert len(CASSETTES) == 5


def _assistant_matches(sent, want, cassette):
    assert sent["role"] == "assistant"
    assert sent.get("content") == want.get("content")
    assert [(c["id"], c["type"], c["function"]["name"], c["function"]["arguments"])
            for c in sent["tool_calls"]] == \
        [(c["id"], c["type"], c["function"]["name"], c["function"]["arguments"])
         for c in want["tool_calls"]]
    if "reasoning_details" not in want:
        assert "reasoning_details" not in sent
        return
    got, rec = sent["reasoning_details"], want["reasoning_details"]
    assert len(got) == len(rec) == 1
    for key in ("type", "format", "index", "signature"):
        assert got[0][key] == rec[0][key], key
    # The recording client (OpenAI Go SDK) dropped the first reasoning fragment ("The user is
    # asking for") from the text it echoed; we echo all of it, which ends with what it sent.
    assert got[0]["text"].endswith(rec[0]["text"])
    assert got[0]["text"].startswith("The user is asking for weather")


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("cassette", CASSETTES, ids=NAMES)
def test_replays_live_to_the_recorded_answer(cassette, form, server, run_cli):
    server.add(*replies(cassette, form, seed=hash((cassette, form)) & 0xffff))
    run = run_cli(cli_args(cassette, server.url) + ["-t", SAMPLE_TOOLS])
    assert run.code == 0, run
    out = run.json()
    assert out["answer"] == final_text(cassette)
    want_usage = recorded_usage(cassette)
    cost = want_usage.pop("cost")
    got_cost = out["usage"].pop("cost")
    assert out["usage"] == want_usage
    assert got_cost == pytest.approx(cost, rel=1e-9) if cost is not None else got_cost is None
    assert out["steps"] == 2 and out["finish_reason"] == "stop"
    assert [c["result"] for c in out["tool_calls"]] == ["40 C"]

    recorded = request_bodies(cassette)
    sent = server.bodies()
    assert len(sent) == len(recorded) == 2
    for got, want in zip(sent, recorded):
        assert got["model"] == want["model"]
        assert got["stream"] is True and got["stream_options"] == {"include_usage": True}
        assert [t["function"]["name"] for t in got["tools"]] == \
            [t["function"]["name"] for t in want["tools"]]
        for g, w in zip(got["tools"], want["tools"]):
            assert g["type"] == "function"
            assert g["function"]["description"] == w["function"]["description"]
            assert g["function"]["parameters"] == w["function"]["parameters"]
        for field in ("max_tokens", "max_completion_tokens", "reasoning", "reasoning_effort",
                      "usage"):
            assert got.get(field) == want.get(field), field
        assert len(got["messages"]) == len(want["messages"])
        for g, w in zip(strip_cache_marks(got["messages"]), want["messages"]):
            if w["role"] == "assistant":
                _assistant_matches(g, w, cassette)
            else:
                assert g == w

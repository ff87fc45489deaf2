"""Fuzz: any chunk JSON a hostile server can send (any types, any strings -- lone surrogates
too -- any depth) through the real path: loopback HTTP → SSE reader → accumulator → tool loop
→ renderer. Whatever arrives, llmrun never exits 1, and `--json` always prints exactly one
JSON object with the contract's keys, in RFC 8259 JSON (a strict parser: no NaN, no
Infinity, even when the server sent them)."""

import contextlib
import io
import json

import pytest
from attacks import strict
from conftest import SAMPLE_TOOLS
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from server import Reply, TestServer, sse
from streams import answer_step

KEYS = {"answer", "model", "provider", "finish_reason", "steps", "tool_calls", "reasoning",
        "usage", "duration_s"}

any_text = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x10FFFF,
                                          blacklist_categories=()), max_size=30)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), any_text,
                    st.floats(allow_nan=True, allow_infinity=True))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(any_text, inner, max_size=4)), max_leaves=12)
loose = st.one_of(values, any_text)


def maybe(strategy):
    return st.one_of(st.none(), strategy)


tool_call = st.fixed_dictionaries({}, optional={
    "index": st.one_of(st.integers(-2, 3), loose), "id": loose, "type": loose,
    "function": st.one_of(loose, st.fixed_dictionaries({}, optional={
        "name": st.one_of(st.sampled_from(["weather", "t"]), loose),
        "arguments": st.one_of(any_text, loose, st.just('{"a": ' + "[" * 1500 + "]" * 1500 + "}"),
                               st.just('{"location": "Flo'), st.just("{}"))}))})
detail = st.fixed_dictionaries({}, optional={
    "type": st.one_of(st.sampled_from(["reasoning.text", "reasoning.encrypted",
                                       "reasoning.summary"]), loose),
    "text": loose, "signature": loose, "data": loose, "summary": loose, "index": loose,
    "id": loose, "format": loose})
delta = st.fixed_dictionaries({}, optional={
    "role": loose, "content": st.one_of(any_text, loose), "reasoning": loose,
    "reasoning_content": loose, "refusal": loose,
    "reasoning_details": st.one_of(loose, st.lists(st.one_of(detail, loose), max_size=3)),
    "tool_calls": st.one_of(loose, st.lists(st.one_of(tool_call, loose), max_size=3))})
choice = st.fixed_dictionaries({}, optional={
    "index": st.one_of(st.just(0), loose), "delta": st.one_of(delta, loose),
    "message": st.one_of(delta, loose),
    "finish_reason": st.one_of(st.sampled_from(["stop", "tool_calls", "length"]), loose)})
usage = st.fixed_dictionaries({}, optional={
    k: st.one_of(st.integers(-5, 10**20), loose) for k in
    ("prompt_tokens", "completion_tokens", "total_tokens", "cost")} | {
    "prompt_tokens_details": st.one_of(loose, st.fixed_dictionaries({}, optional={
        "cached_tokens": st.one_of(st.integers(), loose)}))})
chunk = st.one_of(loose, st.fixed_dictionaries({}, optional={
    "model": loose, "id": loose, "usage": st.one_of(usage, loose),
    "choices": st.one_of(loose, st.lists(st.one_of(choice, loose), max_size=2)),
    "error": st.one_of(st.none(), loose)}))


@pytest.fixture(scope="module")
def shared_server():
    with TestServer() as srv:
        yield srv


def run_ask(url):
    """`llmrun ask --json` in-process, with stdout and stderr that refuse what UTF-8 cannot
    carry (click's test runner would quietly replace it). An exception escaping here is
    what the CLI reports as an internal error, exit 1."""
    from llmrun.cli.ask import AskOptions, ask

    out, err = io.BytesIO(), io.BytesIO()
    out_text = io.TextIOWrapper(out, "utf-8", write_through=True)
    err_text = io.TextIOWrapper(err, "utf-8", write_through=True)
    with contextlib.redirect_stdout(out_text), contextlib.redirect_stderr(err_text):
        code = ask(AskOptions(prompt=("go",), json=True, no_stdin=True, max_steps=2,
                              base_url=url, model="m", tools=(SAMPLE_TOOLS,)))
    result = out.getvalue().decode("utf-8"), err.getvalue().decode("utf-8")
    out_text.detach(), err_text.detach()
    return (code,) + result


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(chunks=st.lists(chunk, max_size=6), done=st.booleans())
def test_any_chunks_give_one_json_object_and_never_exit_1(shared_server, monkeypatch, chunks,
                                                          done):
    monkeypatch.setenv("LLMRUN_API_KEY", "sk-fuzz-key")
    shared_server.replies.clear()
    body = sse(*[json.dumps(c) for c in chunks], done=done)  # lone surrogates as \ud800
    shared_server.add(Reply(body), Reply(sse(*answer_step("ok"))))
    code, stdout, stderr = run_ask(shared_server.url)
    assert code != 1, stderr
    obj = strict(stdout)  # exactly one RFC 8259 JSON value, and it is the result object
    assert isinstance(obj, dict) and KEYS <= set(obj), stdout
    assert ("error" in obj) == (code != 0), (code, stdout)


def test_lone_surrogates_everywhere_still_give_one_object(shared_server, monkeypatch):
    """The shapes the fuzzer must be able to find, pinned: a lone surrogate in each field."""
    monkeypatch.setenv("LLMRUN_API_KEY", "sk-fuzz-key")
    odd = "\ud800"
    chunks = [{"model": odd, "choices": [{"index": 0, "delta": {
        "content": odd, "reasoning": odd, "reasoning_details": [{"type": odd, "text": odd}],
        "tool_calls": [{"index": 0, "id": odd, "function": {"name": odd, "arguments": odd}}]},
        "finish_reason": odd}]}]
    shared_server.replies.clear()
    shared_server.add(Reply(sse(*[json.dumps(c) for c in chunks])),
                      Reply(sse(*answer_step("ok"))))
    code, stdout, _ = run_ask(shared_server.url)
    assert code == 0 and json.loads(stdout)["tool_calls"][0]["id"] == "\ufffd"

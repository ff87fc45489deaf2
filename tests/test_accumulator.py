"""The step accumulator against every delta, finish and usage shape providers send."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st
from streams import call_args, call_header, chunk, text, usage

from llmrun.loop.accumulator import StepAccumulator


def step_of(*chunks):
    acc = StepAccumulator()
    for c in chunks:
        acc.add(c)
    return acc.finish()


def calls(step):
    return [(c.id, c.name, c.arguments) for c in step.tool_calls]


def test_header_then_fragments():
    step = step_of(call_header(0, "call_1", "weather"), call_args(0, '{"loc'),
                   call_args(0, 'ation": "Flo"}'), chunk(finish="tool_calls"))
    assert calls(step) == [("call_1", "weather", '{"location": "Flo"}')]
    assert step.finish_reason == "tool_calls"


def test_header_holds_first_fragment_and_extra_empty_deltas():
    step = step_of(call_header(0, "toolu_1", "weather", '{"a"'), call_args(0, ""),
                   call_args(0, None), call_args(0, ': 1}'), chunk(finish="tool_calls"))
    assert calls(step) == [("toolu_1", "weather", '{"a": 1}')]


def test_whole_call_in_one_delta():
    step = step_of(call_header(0, "functions.add:0", "add", '{"x": 1, "y": 2}'),
                   chunk(finish="tool_calls"))
    assert calls(step) == [("functions.add:0", "add", '{"x": 1, "y": 2}')]


def test_parallel_calls_on_two_indexes_interleaved():
    step = step_of(call_header(0, "c0", "weather"), call_header(1, "c1", "time"),
                   call_args(1, '{"tz": "UTC"}'), call_args(0, '{"location": "Rome"}'),
                   chunk(finish="tool_calls"))
    assert calls(step) == [("c0", "weather", '{"location": "Rome"}'),
                           ("c1", "time", '{"tz": "UTC"}')]


def test_delta_without_index_new_call_if_id_else_current():
    no_index = chunk({"tool_calls": [{"id": "a", "function": {"name": "f", "arguments": "{"}}]})
    more = call_args(None, "}")
    second = chunk({"tool_calls": [{"id": "b", "function": {"name": "g", "arguments": "{}"}}]})
    step = step_of(no_index, more, second, chunk(finish="tool_calls"))
    assert calls(step) == [("a", "f", "{}"), ("b", "g", "{}")]


def test_empty_arguments_and_no_finish_reason():
    step = step_of(call_header(0, "c", "now", ""))
    assert calls(step) == [("c", "now", "")]
    assert step.finish_reason == "tool_calls"  # missing finish_reason: the step still ended


def test_text_before_calls_and_padding():
    step = step_of(text(""), text("I'll check."), chunk({"content": None}), text("\n"),
                   call_header(0, "c", "weather", "{}"), chunk(finish="tool_calls"))
    assert step.text == "I'll check.\n"


def test_finish_reason_repeated_and_usage_twice_counts_once():
    u = usage(10, 5, cost=0.5)
    step = step_of(text("hi"), chunk(finish="stop", usage=u), chunk(finish="stop"),
                   chunk(usage=u, choices=False))
    assert step.finish_reason == "stop"
    assert step.usage.prompt_tokens == 10 and step.usage.cost == 0.5


def test_usage_null_on_chunks_and_on_choices_empty_trailer():
    step = step_of(text("a", usage=None), chunk(finish="stop", usage=None),
                   chunk(usage=usage(3, 4, completion_tokens_details={"reasoning_tokens": 2},
                                     prompt_tokens_details={"cached_tokens": 1}),
                         choices=False))
    assert (step.usage.prompt_tokens, step.usage.completion_tokens,
            step.usage.reasoning_tokens, step.usage.cached_tokens) == (3, 4, 2, 1)
    assert step.usage.cost is None


def test_azure_preamble_and_changing_ids_and_models():
    preamble = {"id": "", "object": "", "created": 0, "model": "", "choices": [],
                "prompt_filter_results": []}
    step = step_of(preamble, text("a", model="gpt-4o-2024"),
                   text("b", id="other", model="gpt-4o-2024-08-06"), chunk(finish="stop", model=""))
    assert step.text == "ab" and step.model == "gpt-4o-2024-08-06"


def test_reasoning_in_three_fields_counted_once():
    both = chunk({"reasoning": "think ", "reasoning_details": [
        {"type": "reasoning.text", "text": "think ", "index": 0, "format": "f"}]})
    content = chunk({"reasoning_content": "more "})
    details_only = chunk({"reasoning_details": [
        {"type": "reasoning.text", "text": "done", "index": 0}]})
    step = step_of(both, content, details_only, text("answer"), chunk(finish="stop"))
    assert step.reasoning == "think more done"
    assert step.reasoning_details == [
        {"type": "reasoning.text", "text": "think done", "index": 0, "format": "f"}]


def test_signature_alone_in_a_trailing_entry_and_empty_signatures():
    parts = [chunk({"reasoning_details": [{"type": "reasoning.text", "text": t,
                                           "signature": "", "index": 0}]})
             for t in ("a", "b")]
    sig = chunk({"reasoning_details": [{"type": "reasoning.text", "signature": "SIG",
                                        "index": 0, "format": "anthropic-claude-v1"}]})
    enc = chunk({"reasoning_details": [{"type": "reasoning.encrypted", "data": "BLOB",
                                        "id": "rs_1", "index": 1}]})
    step = step_of(*parts, call_header(0, "c", "f", "{}"), sig, enc, chunk(finish="tool_calls"))
    assert step.reasoning_details == [
        {"type": "reasoning.text", "text": "ab", "signature": "SIG", "index": 0,
         "format": "anthropic-claude-v1"},
        {"type": "reasoning.encrypted", "data": "BLOB", "id": "rs_1", "index": 1}]
    assert step.reasoning == "ab"


def test_summary_details_and_empty_signature_dropped():
    step = step_of(chunk({"reasoning_details": [{"type": "reasoning.summary", "summary": "S",
                                                 "signature": ""}]}), chunk(finish="stop"))
    assert step.reasoning == "S"
    assert step.reasoning_details == [{"type": "reasoning.summary", "summary": "S"}]


def test_plain_json_completion_message():
    completion = {"id": "x", "model": "m", "choices": [{"index": 0, "finish_reason": "tool_calls",
                  "message": {"role": "assistant", "content": None, "tool_calls": [
                      {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}},
                      {"id": "b", "type": "function", "function": {"name": "g", "arguments": "{}"}}
                  ]}}], "usage": usage()}
    step = step_of(completion)
    assert calls(step) == [("a", "f", "{}"), ("b", "g", "{}")]


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(min_size=1), json_values, max_size=4), st.randoms())
def test_any_arguments_reach_the_call_unchanged_for_any_fragmenting(args, rnd):
    raw = json.dumps(args, ensure_ascii=rnd.random() < 0.5)
    cuts = sorted(rnd.randrange(len(raw) + 1) for _ in range(rnd.randrange(6)))
    fragments = [raw[a:b] for a, b in zip([0] + cuts, cuts + [len(raw)])]
    step = step_of(call_header(0, "c", "f"), *[call_args(0, f) for f in fragments],
                   chunk(finish="tool_calls"))
    assert step.tool_calls[0].arguments == raw
    assert json.loads(step.tool_calls[0].arguments) == args

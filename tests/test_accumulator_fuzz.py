"""Fuzz of the accumulator (issue 22): arbitrary reasoning_details fragments and tool-call
names and ids, as a hostile server would stream them.

Whatever arrives: nothing but a StreamError comes out; the blocks are the ones the old
merge (a scan of every earlier block) built, now found through a map; every string the step
keeps counts against the budget; and what goes back to the server is RFC 8259 JSON."""

import json

from hypothesis import given, settings
from hypothesis import strategies as st
from test_fuzz_output import any_text, loose

from llmrun.base.errors import StreamError
from llmrun.loop.accumulator import StepAccumulator
from llmrun.loop.conversation import assistant_message
from llmrun.loop.details import CONCAT_FIELDS, OVERHEAD

small = st.one_of(st.none(), st.booleans(), st.integers(-3, 3), st.integers(1000, 1002),
                  st.sampled_from([1.0, 1000.0, 0.5]), st.sampled_from(["ab", "cd", ""]),
                  st.lists(st.integers(0, 2), max_size=2))
long_text = st.one_of(st.text(max_size=20), st.text(min_size=100, max_size=300))
kinds = st.sampled_from(["reasoning.text", "reasoning.encrypted", "reasoning.summary", "x"])
keys = st.sampled_from([0, 1, 1000, 1.0, True, None, "ab", [1]])  # equal values: 1 == 1.0
value = st.one_of(long_text, small, st.dictionaries(any_text, small, max_size=2))
fragment = st.fixed_dictionaries(
    {"type": st.one_of(kinds, kinds, small)},
    optional={"index": st.one_of(keys, keys, small),
              **{k: value for k in ("text", "summary", "data", "signature", "id", "format",
                                    "other")}})
details = st.lists(st.one_of(fragment, fragment, fragment, loose), min_size=1, max_size=4)
call = st.fixed_dictionaries({}, optional={
    "index": st.one_of(st.integers(0, 3), small), "id": st.one_of(long_text, loose),
    "function": st.fixed_dictionaries({}, optional={"name": st.one_of(long_text, loose),
                                                    "arguments": st.one_of(any_text, loose)})})
delta = st.one_of(
    st.fixed_dictionaries({"reasoning_details": st.one_of(details, details, details, loose)}),
    st.fixed_dictionaries({"tool_calls": st.lists(st.one_of(call, call, loose), max_size=3)}),
    st.fixed_dictionaries({}, optional={"reasoning_details": details,
                                        "tool_calls": st.lists(call, max_size=3)}))


def reference_merge(deltas):
    """The merge as it was before the map: a scan of every earlier block."""
    blocks = []
    for d in deltas:
        parts = d.get("reasoning_details") if isinstance(d, dict) else None
        if not parts or not isinstance(parts, list):
            continue
        for part in parts:
            if not isinstance(part, dict):
                continue
            kind, index = part.get("type"), part.get("index")
            block = None
            if index is not None:
                block = next((b for b in blocks if b.get("type") == kind
                              and b.get("index") == index), None)
            elif kind != "reasoning.encrypted" and blocks and blocks[-1].get("type") == kind:
                block = blocks[-1]
            if block is None:
                block = {}
                blocks.append(block)
            for key, value in part.items():
                if key in CONCAT_FIELDS and isinstance(value, str):
                    before = block.get(key)
                    block[key] = (before if isinstance(before, str) else "") + value
                elif value not in (None, "") or key not in block:
                    block[key] = value
    return blocks


def feed(deltas, budget=64 * 1024 * 1024):
    """Each delta as the stream reader hands it over: parsed afresh from its JSON text, so
    equal values are distinct objects, as on the wire."""
    acc = StepAccumulator(budget=budget)
    for d in deltas:
        acc.add(json.loads(json.dumps({"choices": [{"index": 0, "delta": d}]})))
    return acc


def kept(acc):
    """Characters of the strings the step keeps, and the overhead of its calls and blocks
    (what the budget must cover)."""
    size = OVERHEAD * (len(acc._calls) + len(acc._details))
    size += sum(len(c["id"]) + len(c["name"]) + sum(map(len, c["args"])) for c in acc._calls)
    for block in acc._details:
        size += sum(len(k) + (len(v) if isinstance(v, str) else 0)
                    for k, v in block.items() if isinstance(k, str))
    return size


@settings(max_examples=400, deadline=None, derandomize=True)
@given(deltas=st.lists(st.one_of(delta, delta, delta, loose), max_size=12))
def test_any_details_and_names_merge_as_the_scan_did_within_the_budget(deltas):
    acc = feed(deltas)
    as_dicts = [json.loads(json.dumps(d)) for d in deltas if isinstance(d, dict)]
    assert _same(acc._details, reference_merge(as_dicts))
    assert kept(acc) <= acc._size  # every byte kept was counted
    step = acc.finish()
    message = assistant_message(step) if step.tool_calls else {"d": step.reasoning_details}
    json.dumps(message, allow_nan=False)  # what goes back is RFC 8259 JSON


@settings(max_examples=200, deadline=None, derandomize=True)
@given(deltas=st.lists(st.one_of(delta, loose), max_size=8), budget=st.integers(0, 400))
def test_a_small_budget_stops_any_stream_before_it_keeps_more(deltas, budget):
    try:
        acc = feed(deltas, budget)
    except StreamError as exc:
        assert "budget" in exc.message
        return
    assert kept(acc) <= budget


def _same(a, b):
    """Equal blocks (NaN, not equal to itself, compared by its JSON spelling)."""
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True,
                                                                    default=str)

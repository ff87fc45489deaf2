"""The SSE reader: the standard's framing rules, and the same events for any byte split."""

from hypothesis import given, settings
from hypothesis import strategies as st

from llmrun.base.sse import Event, SSEReader


def read_all(pieces):
    reader = SSEReader()
    events = []
    for piece in pieces:
        events += reader.feed(piece)
    return events + reader.close()


def data(events):
    return [e.data for e in events]


def test_plain_events_and_done():
    assert data(read_all([b"data: {\"a\":1}\n\ndata: [DONE]\n\n"])) == [b'{"a":1}', b"[DONE]"]


def test_data_without_space_and_with_two_spaces():
    assert data(read_all([b"data:x\n\ndata:  y\n\n"])) == [b"x", b" y"]


def test_comments_and_unknown_fields_are_skipped():
    body = b": OPENROUTER PROCESSING\n\n: keep-alive\ndata: a\nfoo: bar\n\n"
    assert data(read_all([body])) == [b"a"]


def test_multiline_data_is_joined_with_lf():
    assert data(read_all([b"data: {\ndata: \"a\": 1\ndata: }\n\n"])) == [b'{\n"a": 1\n}']


def test_event_id_and_retry_fields():
    reader = SSEReader()
    events = reader.feed(b"event: delta\nid: 7\nretry: 1500\ndata: x\n\ndata: y\n\n")
    assert events == [Event("delta", b"x", "7"), Event("message", b"y", "7")]
    assert reader.retry == 1500


def test_crlf_and_lone_cr_line_endings():
    assert data(read_all([b"data: a\r\n\r\ndata: b\r\rdata: c\n\n"])) == [b"a", b"b", b"c"]


def test_crlf_split_between_reads_is_one_line_end():
    assert data(read_all([b"data: a\r", b"\n", b"\r", b"\ndata: b\r", b"\r"])) == [b"a", b"b"]


def test_event_is_handed_over_as_soon_as_its_blank_line_arrives():
    reader = SSEReader()
    assert reader.feed(b"data: first\n") == []
    assert data(reader.feed(b"\n")) == [b"first"]
    assert reader.feed(b"data: sec") == []


def test_utf8_split_inside_a_character():
    body = "data: {\"c\": \"40°C ☀\"}\n\n".encode("utf-8")
    cut = body.index("°".encode()) + 1
    assert data(read_all([body[:cut], body[cut:]])) == ["{\"c\": \"40°C ☀\"}".encode()]


def test_bom_is_dropped_and_empty_data_is_not_an_event():
    assert data(read_all([b"\xef\xbb\xbfdata: a\n\ndata:\n\nevent: x\n\n"])) == [b"a"]


def test_last_event_without_blank_line_still_counts():
    assert data(read_all([b"data: a\n\ndata: [DONE]"])) == [b"a", b"[DONE]"]


def test_a_huge_line_is_refused():
    import pytest

    from llmrun.base.errors import StreamError

    reader = SSEReader(max_event_bytes=1000)
    with pytest.raises(StreamError, match="budget .* never ended"):
        for _ in range(20):
            reader.feed(b"x" * 100)


SAMPLE = (b": comment\r\nevent: message\r\nid: 1\r\ndata: {\"a\": \"\xc3\xa9t\xc3\xa9\"}\r\n\r\n"
          b"data:{\"b\":\n" b"data: 2}\n\n" b"retry: 10\rdata: x\r\r" b"data: [DONE]\n\n")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(SAMPLE)), max_size=12))
def test_any_split_gives_the_same_events(cuts):
    cuts = sorted(set(cuts))
    pieces = [SAMPLE[a:b] for a, b in zip([0] + cuts, cuts + [len(SAMPLE)])]
    assert read_all(pieces) == read_all([SAMPLE])


payloads = st.text(alphabet=st.characters(blacklist_characters="\r\n",
                                             blacklist_categories=("Cs",)), min_size=1)


@settings(max_examples=200, deadline=None)
@given(st.lists(payloads, min_size=1, max_size=6), st.sampled_from([b"\n", b"\r\n", b"\r"]),
       st.randoms(use_true_random=False))
def test_any_payloads_any_line_end_any_split_round_trip(items, end, rnd):
    body = b"".join(b"data: " + p.encode("utf-8") + end + end for p in items)
    cuts = sorted(rnd.randrange(len(body) + 1) for _ in range(rnd.randrange(8)))
    pieces = [body[a:b] for a, b in zip([0] + cuts, cuts + [len(body)])]
    # the one space after "data:" is the framing's; everything else is the payload's
    assert data(read_all(pieces)) == [p.encode("utf-8") for p in items]

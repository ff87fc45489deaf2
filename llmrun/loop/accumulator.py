"""Builds one model step out of streamed chat-completion chunks.

Every provider quirk of `provider-streams.md` that concerns the *content* of a stream is
absorbed here: tool calls in any delta shape, reasoning in three fields (counted once),
`reasoning_details` merged per block with their signatures, finish_reason repeated or missing,
usage repeated or on a `choices: []` chunk, a server-reported model that differs or is empty.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from llmrun.base.safetext import mend
from llmrun.base.secrets import StreamRedactor, redact_escaped, redact_value
from llmrun.loop.details import OVERHEAD, DetailMerger
from llmrun.base.budget import RESPONSE_BUDGET, over_budget
from llmrun.loop.usage import Usage

_COMPACT = 4096  # parts of a text kept before they are joined (keeps memory near the text)


@dataclass
class ToolCall:
    id: str
    name: str
    arguments: str  # exactly as streamed


@dataclass
class Step:
    text: str = ""
    reasoning: str = ""
    reasoning_details: List[Dict[str, Any]] = field(default_factory=list)
    tool_calls: List[ToolCall] = field(default_factory=list)
    finish_reason: Optional[str] = None
    usage: Optional[Usage] = None
    model: Optional[str] = None
    refusal: str = ""  # OpenAI structured output: why the model declined


class StepAccumulator:
    """Feed it each parsed chunk with `add`; `finish` returns the Step."""

    def __init__(self, on_text: Optional[Callable[[str], None]] = None,
                 on_reasoning: Optional[Callable[[str], None]] = None,
                 on_batch: Optional[Callable[[], None]] = None,
                 budget: int = RESPONSE_BUDGET) -> None:
        self.on_text = on_text
        self.on_reasoning = on_reasoning
        #: Called by the stream reader once the events of one network read are added: the
        #: renderer flushes there, one write per read instead of one per delta.
        self.on_batch = on_batch
        self.finish_reason: Optional[str] = None
        self.model: Optional[str] = None
        self._text: List[str] = []
        self._reasoning: List[str] = []
        self._merger = DetailMerger(self._count)
        self._details = self._merger.blocks
        self._calls: List[Dict[str, Any]] = []
        self._call_at: Dict[Any, int] = {}  # delta index -> position in _calls
        self._usage: Optional[dict] = None
        self._refusal: List[str] = []
        self.budget = budget
        self._size = 0  # characters kept so far (see RESPONSE_BUDGET)
        self._text_guard = StreamRedactor()  # the key, echoed by a server, is never shown
        self._reasoning_guard = StreamRedactor()

    def _piece(self, piece: str, guard: StreamRedactor, parts: List[str],
               callback: Optional[Callable[[str], None]], spend: bool = True) -> None:
        """A streamed piece of text or reasoning: counted, redacted, kept, handed on."""
        if spend:
            self._spend(piece)
        piece = guard.feed(piece)
        if piece:
            _append(parts, piece)
            if callback is not None:
                callback(piece)

    def _spend(self, piece: str) -> None:
        self._size += len(piece)  # the per-delta path: no further call
        if self._size > self.budget:
            raise over_budget(self.budget)

    def _count(self, size: int) -> None:
        self._size += size
        if self._size > self.budget:
            raise over_budget(self.budget)

    @property
    def progress(self) -> int:
        """Grows whenever an event carried something (a delta, a call, a finish_reason):
        --timeout counts from the last time it grew, so events that carry nothing do not keep
        a stalled stream alive."""
        return self._size + (1 if self.finish_reason else 0)

    # -- feeding ----------------------------------------------------------------------------
    def add(self, chunk: Dict[str, Any]) -> None:
        model = chunk.get("model")
        if model and isinstance(model, str):
            self.model = model
        usage = chunk.get("usage")
        if usage and isinstance(usage, dict):
            self._usage = usage
        choices = chunk.get("choices")
        if not choices or not isinstance(choices, list):  # odd shapes are ignored, not fatal
            return
        choice = choices[0]
        if not isinstance(choice, dict) or choice.get("index", 0) != 0:
            choice = next((c for c in choices if isinstance(c, dict) and c.get("index", 0) == 0),
                          None)
            if choice is None:
                return
        reason = choice.get("finish_reason")
        if reason and isinstance(reason, str):
            self.finish_reason = reason
        delta = choice.get("delta") or choice.get("message")
        if delta and isinstance(delta, dict):
            self._add_delta(delta)

    def _add_delta(self, delta: Dict[str, Any]) -> None:
        content = delta.get("content")
        if content and isinstance(content, str):
            self._piece(content, self._text_guard, self._text, self.on_text)
        reasoning = delta.get("reasoning") or delta.get("reasoning_content")
        counted = False  # text of reasoning_details is counted where it is merged
        details = delta.get("reasoning_details")
        if details and isinstance(details, list):
            texts = self._merge_details(details)
            if not reasoning:
                reasoning, counted = texts, True
        if reasoning and isinstance(reasoning, str):
            self._piece(reasoning, self._reasoning_guard, self._reasoning, self.on_reasoning,
                        spend=not counted)
        refusal = delta.get("refusal")
        if refusal and isinstance(refusal, str):
            self._spend(refusal)
            _append(self._refusal, refusal)
        calls = delta.get("tool_calls")
        if calls and isinstance(calls, list):
            for call in calls:
                if isinstance(call, dict):
                    self._add_call(call)

    def _merge_details(self, details: List[Any]) -> str:
        """Merge detail fragments into blocks keyed by (type, index); return their new text."""
        return self._merger.merge(details)

    def _add_call(self, delta: Dict[str, Any]) -> None:
        call_id = delta.get("id")
        if not isinstance(call_id, str):
            call_id = None
        index = delta.get("index")
        if isinstance(index, (list, dict)):  # unhashable: treat as missing
            index = None
        if index is None:  # defensive: a new call if it has an id, else the current one
            index = ("new", len(self._calls)) if call_id or not self._calls else self._last_key
        pos = self._call_at.get(index)
        if pos is not None and call_id and self._calls[pos]["id"] and \
                self._calls[pos]["id"] != call_id:
            pos = None  # same index reused for a different call
        if pos is None:
            self._count(OVERHEAD)
            pos = len(self._calls)
            self._calls.append({"id": "", "name": "", "args": []})
            self._call_at[index] = pos
        self._last_key = index
        call = self._calls[pos]
        if call_id:
            self._keep(call, "id", call_id)
        function = delta.get("function")
        if not isinstance(function, dict):
            function = {}
        name = function.get("name")
        if name and isinstance(name, str):
            self._keep(call, "name", name)
        args = function.get("arguments")
        if args:
            try:
                text = args if isinstance(args, str) else json.dumps(args)
            except (ValueError, RecursionError):  # nested too deeply to write back
                text = "<arguments nested too deeply>"
            self._spend(text)
            _append(call["args"], text)

    _last_key: Any = None

    def batch_done(self) -> None:
        """The stream reader added the events of one network read and may wait for more."""
        if self.on_batch is not None:
            self.on_batch()

    def _keep(self, call: Dict[str, Any], key: str, value: str) -> None:
        """A call's id or name, which a later delta may replace: what it grows by counts."""
        grown = len(value) - len(call[key])
        if grown > 0:
            self._count(grown)
        call[key] = value

    # -- result -----------------------------------------------------------------------------
    @property
    def text(self) -> str:
        """The text so far; the key also in its JSON-escaped spellings (a --schema answer is
        JSON: `sk-…\\u0053…` in it would decode to the key)."""
        return redact_escaped(mend("".join(self._text)))

    def _close_guards(self) -> None:
        """The stream ended: text held back in case it began a secret goes out now."""
        for guard, parts, callback in ((self._text_guard, self._text, self.on_text),
                                       (self._reasoning_guard, self._reasoning,
                                        self.on_reasoning)):
            rest = guard.close()
            if rest:
                parts.append(rest)
                if callback is not None:
                    callback(rest)

    @property
    def has_tool_calls(self) -> bool:
        return bool(self._calls)

    def finish(self) -> Step:
        """The step, every string made safe: no lone surrogates, no echoed key."""
        self._close_guards()
        calls = [ToolCall(clean(c["id"]) or f"call_{i}", clean(c["name"]),
                          clean("".join(c["args"]))) for i, c in enumerate(self._calls)]
        reason = clean(self.finish_reason or "") or ("tool_calls" if calls else "stop")
        details = [_clean_block(b) for b in self._details]
        return Step(text=self.text, reasoning=mend("".join(self._reasoning)),
                    reasoning_details=details, tool_calls=calls, finish_reason=reason,
                    usage=Usage.from_api(self._usage) if self._usage else None,
                    model=clean(self.model) if self.model else None,
                    refusal=clean("".join(self._refusal)))


def _append(parts: List[str], piece: str) -> None:
    """Append, joining now and then: a million one-character deltas must not cost a
    million string objects."""
    parts.append(piece)
    if len(parts) >= _COMPACT:
        parts[:] = ["".join(parts)]


def clean(text: str) -> str:
    """A string from the network, safe to print, encode and send: mended and redacted."""
    return redact_escaped(mend(text))


def _clean_block(block: Dict[str, Any]) -> Dict[str, Any]:
    """Drop empty signatures that some providers repeat on every delta; make strings safe."""
    return {k: clean(v) if isinstance(v, str) else _safe_value(v) for k, v in block.items()
            if not (k == "signature" and not v)}


def _safe_value(value: Any) -> Any:
    """Any other JSON value a detail carries: sent back as it came, unless it could not be
    (a NaN or an infinity has no JSON spelling: it goes back as null)."""
    from llmrun.base.jsonsafe import finite

    try:
        json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except ValueError:
        value = finite(value)
        try:
            json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
        except (ValueError, RecursionError, UnicodeEncodeError, TypeError):
            return None
    except (RecursionError, UnicodeEncodeError, TypeError):
        return None
    return redact_value(value)

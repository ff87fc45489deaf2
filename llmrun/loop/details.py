"""`reasoning_details` fragments merged into blocks, in linear time and within the budget.

Providers that sign their reasoning (Anthropic through OpenRouter) stream it as fragments of
blocks keyed by (type, index): texts are concatenated, `signature`/`data`/`id`/`format` kept, and
the merged blocks go back with the next turn. A hostile server can send a new index with every
fragment: the block of a fragment is found through a map, never by scanning the earlier
blocks (40,000 fragments took 85 s that way), and every byte a block keeps is counted.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Dict, List, Tuple

#: `reasoning_details` fields that arrive in fragments and are concatenated.
CONCAT_FIELDS = ("text", "summary", "data")
#: What a block or a call costs beyond its strings (a dict, its keys): counted, so a flood of
#: empty fragments is bounded too.
OVERHEAD = 64
_ABSENT = object()


def size_of(value: Any) -> int:
    """About how many bytes `value` keeps: its length for a string, its JSON text otherwise."""
    if isinstance(value, str):
        return len(value)
    if value is None or isinstance(value, (bool, int, float)):
        return 8
    try:
        return len(json.dumps(value, ensure_ascii=False, default=str))
    except (ValueError, RecursionError, TypeError):
        return OVERHEAD


def _hashable(value: Any, depth: int = 0) -> Any:
    """A map key for a JSON value that compares as the value does with `==` (1 == 1.0 ==
    True, inside lists too); a value nested absurdly deep matches nothing but itself."""
    if isinstance(value, list):
        if depth > 32:
            return ("unique", id(value))
        return ("list", tuple(_hashable(v, depth + 1) for v in value))
    if isinstance(value, dict):
        if depth > 32:
            return ("unique", id(value))
        return ("dict", frozenset((k, _hashable(v, depth + 1)) for k, v in value.items()))
    return value


class DetailMerger:
    """Merges fragments into `blocks`; `spend(n)` is charged for every byte kept."""

    def __init__(self, spend: Callable[[int], None]) -> None:
        self.blocks: List[Dict[str, Any]] = []
        self._at: Dict[Tuple[Any, Any], Dict[str, Any]] = {}
        self._spend = spend

    def merge(self, details: List[Any]) -> str:
        """Merge one delta's fragments; return the reasoning text they brought."""
        texts = []
        for part in details:
            if not isinstance(part, dict):
                continue
            block = self._block(part)
            for key, value in part.items():
                if key in CONCAT_FIELDS and isinstance(value, str):
                    self._spend(len(value) + (len(key) if key not in block else 0))
                    before = block.get(key)
                    block[key] = (before if isinstance(before, str) else "") + value
                    if key != "data":
                        texts.append(value)
                elif value not in (None, "") or key not in block:
                    old = block.get(key, _ABSENT)
                    if type(old) is type(value) and old == value:
                        continue  # the same type and index again: nothing new is kept
                    grown = size_of(key) + size_of(value) - \
                        (size_of(key) + size_of(old) if old is not _ABSENT else 0)
                    if grown > 0:
                        self._spend(grown)
                    block[key] = value
        return "".join(texts)

    def _block(self, part: Dict[str, Any]) -> Dict[str, Any]:
        """The block a fragment belongs to: same type and index, else a new one."""
        kind, index = part.get("type"), part.get("index")
        if index is not None:
            key = (_hashable(kind), _hashable(index))
            found = self._at.get(key)
            if found is not None:
                return found
            block = self._new()
            self._at[key] = block
            return block
        if kind != "reasoning.encrypted" and self.blocks and self.blocks[-1].get("type") == kind:
            return self.blocks[-1]
        return self._new()

    def _new(self) -> Dict[str, Any]:
        self._spend(OVERHEAD)
        block: Dict[str, Any] = {}
        self.blocks.append(block)
        return block

"""Token and cost accounting, summed over the steps of a run."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Dict, Optional

from llmrun.base.errors import StreamError


#: A token count at or above this, or below zero, is no count but hostile input: a number of
#: 4,300 digits cannot even be printed (Python's int-string limit), and one times a price
#: overflows a float. No step spends a quadrillion tokens.
MAX_TOKENS = 10 ** 15
#: The most one step may cost, in USD; more (or less than zero, or not finite) is hostile
#: input, never summed: a negative cost would let --max-cost never trip.
MAX_STEP_COST = 1e9


def _hostile(what: str, value: Any) -> StreamError:
    shown = repr(value) if not isinstance(value, int) else \
        (f"a number of {len(str(abs(value) // 10 ** 20)) + 20} digits"
         if abs(value) >= 10 ** 40 else str(value))
    return StreamError(f"malformed stream: the server reported {what} of {shown}, which no "
                       "step can have (hostile or broken server; not summed)")


def _int(value: Any, what: str = "a token count") -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        return 0  # not a count at all: as if left out
    if not 0 <= value < MAX_TOKENS:
        raise _hostile(what, value)
    return value


def _first(*values: Any) -> int:
    """The first count a provider reported (two spellings of one number are not added)."""
    for value in values:
        if isinstance(value, int) and not isinstance(value, bool):
            return _int(value)
    return 0


def _dict(value: Any) -> Dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _cost(value: Any) -> Optional[float]:
    """A cost in USD, or None when the server sent none (or not a number); a cost below
    zero, not finite or absurdly high is hostile input (StreamError), never summed."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        cost = float(value)
    except OverflowError:
        raise _hostile("a cost", value) from None
    if not (math.isfinite(cost) and 0 <= cost <= MAX_STEP_COST):
        raise _hostile("a cost", value)
    return cost


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    reasoning_tokens: int = 0
    cached_tokens: int = 0
    cost: Optional[float] = None
    cache_write_tokens: int = 0

    @classmethod
    def from_api(cls, raw: Dict[str, Any]) -> "Usage":
        """Read what the provider reported; fields it left out count as zero."""
        prompt_details = _dict(raw.get("prompt_tokens_details"))
        completion_details = _dict(raw.get("completion_tokens_details"))
        cost = _cost(raw.get("cost"))
        prompt, completion = _int(raw.get("prompt_tokens")), _int(raw.get("completion_tokens"))
        return cls(
            prompt_tokens=prompt,
            completion_tokens=completion,
            total_tokens=_int(raw.get("total_tokens")) or prompt + completion,
            reasoning_tokens=_int(completion_details.get("reasoning_tokens")),
            # OpenAI/OpenRouter spell it in prompt_tokens_details, Anthropic at the top
            cached_tokens=_first(prompt_details.get("cached_tokens"),
                                 raw.get("cache_read_input_tokens")),
            cost=cost,
            cache_write_tokens=_first(prompt_details.get("cache_write_tokens"),
                                      raw.get("cache_creation_input_tokens")),
        )

    def __add__(self, other: "Usage") -> "Usage":
        if self.cost is None and other.cost is None:
            cost = None
        else:
            cost = round((self.cost or 0.0) + (other.cost or 0.0), 12)
        return Usage(self.prompt_tokens + other.prompt_tokens,
                     self.completion_tokens + other.completion_tokens,
                     self.total_tokens + other.total_tokens,
                     self.reasoning_tokens + other.reasoning_tokens,
                     self.cached_tokens + other.cached_tokens,
                     cost,
                     self.cache_write_tokens + other.cache_write_tokens)

    def as_dict(self) -> Dict[str, Any]:
        return {"prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens,
                "total_tokens": self.total_tokens,
                "reasoning_tokens": self.reasoning_tokens,
                "cached_tokens": self.cached_tokens,
                "cache_write_tokens": self.cache_write_tokens,
                "cost": self.cost}

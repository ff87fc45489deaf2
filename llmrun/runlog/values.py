"""Small conversions the log's writer and readers share: times, usage sums, exact cost."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any, Dict, Optional

#: The token counts of a usage object, as columns of `runs` and `steps`.
USAGE_KEYS = ("prompt_tokens", "completion_tokens", "total_tokens", "reasoning_tokens",
              "cached_tokens", "cache_write_tokens")


def iso(ts: float) -> str:
    """ISO 8601 in local time with its UTC offset, to the millisecond."""
    return dt.datetime.fromtimestamp(ts).astimezone().isoformat(timespec="milliseconds")


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def cost_value(value: Any) -> Optional[float]:
    """A cost that may be summed: finite and not negative (anything else is hostile)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    value = float(value)
    return value if math.isfinite(value) and value >= 0 else None


def add_usage(total: Dict[str, Any], usage: Dict[str, Any]) -> Dict[str, Any]:
    """The sum of two usage objects (a cost stays None until one was reported)."""
    out = {k: _count(total.get(k)) + _count(usage.get(k)) for k in USAGE_KEYS}
    a, b = cost_value(total.get("cost")), cost_value(usage.get("cost"))
    out["cost"] = None if a is None and b is None else round((a or 0.0) + (b or 0.0), 12)
    return out


def to_pusd(cost: Any) -> Optional[int]:
    """USD as an integer count of picodollars, from the decimal the provider wrote: sums of
    these are exact, where sums of floats drift (0.1 + 0.2)."""
    value = cost_value(cost)
    if value is None:
        return None
    if value < 1000:  # exact: the product's error is far below half a picodollar
        return int(round(value * 1e12))
    from decimal import Decimal

    return int((Decimal(repr(value)) * 10 ** 12).to_integral_value())


def from_pusd(pusd: Any) -> Optional[float]:
    if pusd is None:
        return None
    from decimal import Decimal

    return float(Decimal(int(pusd)) / 10 ** 12)

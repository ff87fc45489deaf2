"""JSON in and out, the strict way: RFC 8259 on every output line, and what a model or a
server wrote decoded only into finite numbers, with the key redacted after decoding.

Python's json reads `NaN`, `Infinity` and `1e999` (as inf) and writes them back as `NaN` and
`Infinity`, which no strict parser (jq, JavaScript, Go) accepts. So:

- `model_json` is the one way a value the model chose (tool-call arguments, a `--schema`
  answer) is decoded: `NaN`/`Infinity` and numbers beyond a double are not JSON it accepts
  (a ValueError, which the callers turn into an error result or a repair turn), and every
  string of the value, keys too, is redacted *after* decoding, so a key echoed with one
  character `\\u`-escaped comes out as [redacted] in `--json`, `--events`, `LLMRUN_ARG_*` and
  `data` alike.
- `dumps` is the one encoder of output lines (`--json`, `--events`): `allow_nan=False`, and a
  non-finite float that got this far anyway becomes `null`, JavaScript's `JSON.stringify`
  rule, rather than a line a strict parser refuses.
"""

from __future__ import annotations

import json
import math
from typing import Any


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON (RFC 8259 has no NaN or Infinity)")


def _finite(token: str) -> float:
    value = float(token)
    if math.isinf(value):
        raise ValueError(f"the number {token[:40]} is too large for a 64-bit float")
    return value


def strict_loads(text: str) -> Any:
    """json.loads that accepts only RFC 8259 JSON with numbers a double can hold."""
    return json.loads(text, parse_constant=_no_constant, parse_float=_finite)


def model_json(text: str) -> Any:
    """A JSON text the model wrote, decoded strictly, every string of it redacted."""
    from llmrun.base.secrets import redact_value

    return redact_value(strict_loads(text))


def finite(value: Any, depth: int = 0) -> Any:
    """`value` with every non-finite float replaced by None (JSON.stringify's rule)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if depth > 200:
        return None
    if isinstance(value, list):
        return [finite(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {k: finite(v, depth + 1) for k, v in value.items()}
    return value


def dumps(value: Any) -> str:
    """One line of output JSON, RFC 8259 whatever `value` holds."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except ValueError:  # a non-finite float: the rare case pays for the walk
        return json.dumps(finite(value), ensure_ascii=False, allow_nan=False)


def shown_arguments(text: str) -> Any:
    """Tool-call arguments as `--json` and `--events` show them: the decoded value when it is
    sane JSON (strict, finite, not nested too deep to write back), else the string as
    streamed (already redacted: it is a string of the step)."""
    from llmrun.base.safetext import too_deep

    if not text.strip():
        return {}
    try:
        value = model_json(text)
    except (ValueError, RecursionError):
        return text
    return text if too_deep(value) else value

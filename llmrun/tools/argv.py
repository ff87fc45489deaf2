"""A `command` tool's argv: `{name}` placeholders filled with the model's arguments, each
value always exactly one element (no shell, no splitting)."""

from __future__ import annotations

import json
import re
from typing import Any, Dict, List, Optional


def arg_text(value: Any) -> str:
    """An argument as one string: a string as is, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_-]+)\}")


def substitute(argv: List[str], args: Dict[str, Any],
               declared: Optional[Dict[str, Any]] = None) -> List[str]:
    """Fill `{name}` placeholders in one pass, so a value is never re-read as a placeholder
    and never becomes more than the one element it stands in.

    Only names declared in `declared` (the schema's properties; all of `args` when None)
    are placeholders, so braces in, say, an awk program stay as they are. A missing
    argument takes the schema's default; with no default an element that is just the
    placeholder is left out, and inside a longer element it becomes "".
    """
    names = set(args) if declared is None else set(declared)

    def value(key: str) -> Optional[str]:
        if key in args:
            return arg_text(args[key])
        spec = (declared or {}).get(key)
        if isinstance(spec, dict) and "default" in spec:
            return arg_text(spec["default"])
        return None

    out: List[str] = []
    for element in argv:
        whole = _PLACEHOLDER.fullmatch(element)
        if whole and whole.group(1) in names and value(whole.group(1)) is None:
            continue
        out.append(_PLACEHOLDER.sub(
            lambda m: (value(m.group(1)) or "") if m.group(1) in names else m.group(0),
            element))
    return out

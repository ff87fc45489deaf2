"""Text from the network made safe to write: no lone surrogates, no terminal control codes.

The model and the server choose these bytes. A lone surrogate (`\\ud800`, legal in JSON)
cannot be encoded as UTF-8 and would crash the output; an escape sequence (OSC 52 writes the
clipboard, `ESC[2J` clears the screen) would reach the terminal. Both are made harmless here,
at the last step before they are written.
"""

from __future__ import annotations

import re
from typing import Any

#: Control characters (ESC, CR, BEL, C1 …) a model or a tool could use to rewrite the terminal.
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def mend(text: str) -> str:
    """Join a surrogate pair that JSON escapes split over two chunks ("\\ud83d" + "\\ude00"),
    and replace a lone surrogate with U+FFFD: neither can be written as UTF-8."""
    if text.isascii():
        return text
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def printable(text: str) -> str:
    """`text` with control characters shown as `\\xNN` (newlines and tabs kept)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def name_shown(name: str) -> str:
    """A tool's name as a terminal line shows it: a model or an MCP server chose it, so every
    control character (newlines and tabs too) is escaped."""
    return printable(name).replace("\n", "\\x0a").replace("\t", "\\x09")


def one_line(text: str) -> str:
    """`text` on one printable line: whitespace runs (newlines too) become one space."""
    return printable(" ".join(text.split()))


MAX_DEPTH = 64  # levels of nesting in tool arguments; real schemas need a handful


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether a JSON value nests deeper than `limit` (checked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False

"""The API key never leaves llmrun: a registry of secrets, and redaction of what is written.

A server or a tool may echo the key back, in text, reasoning, tool arguments or an error
body. Every string from the network passes through here before anything prints, encodes or
sends it. Streamed text is redacted as it streams: `StreamRedactor` holds back only the end
of a delta that could be the start of a secret, so a key split over two deltas is caught and
ordinary text is not delayed.
"""

from __future__ import annotations

import functools
import re
import sys
from typing import Any, Iterable, List, Optional, Set

MASK = "[redacted]"

#: Variable names that hold secrets whatever they are called: llmrun's own key, and the key
#: variables of presets and of the config file's providers (the settings register them;
#: llmrun/tools/childenv.py keeps them out of every child's environment).
SECRET_NAMES: Set[str] = {"LLMRUN_API_KEY"}


def hide_names(names: Iterable[Optional[str]]) -> None:
    """Treat these variable names as secrets too (say, a provider's `api_key_env`)."""
    SECRET_NAMES.update(n for n in names if n)


_SECRETS: Set[str] = set()
_ORDERED: List[str] = []  # longest first, so a key containing another is masked whole
_HOOKED = False


def remember_secret(value: Optional[str]) -> None:
    """Never print `value`: every message, output and traceback passes through redact."""
    global _HOOKED, _ORDERED
    if not value or len(value) < 4 or value in _SECRETS:
        return
    _SECRETS.add(value)
    _ORDERED = sorted(_SECRETS, key=len, reverse=True)
    if not _HOOKED:  # LLMRUN_DEBUG tracebacks go through sys.excepthook
        _HOOKED = True

        def hook(kind: Any, exc: Any, tb: Any) -> None:
            import traceback

            text = "".join(traceback.format_exception(kind, exc, tb))
            sys.stderr.write(redact(text))

        sys.excepthook = hook


def redact(text: str) -> str:
    """`text` with every remembered secret replaced by [redacted]."""
    for secret in _ORDERED:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def redact_value(value: Any, depth: int = 0) -> Any:
    """`redact` over every string of a JSON-like value (keys too)."""
    if not _ORDERED:
        return value
    if isinstance(value, str):
        return redact(value)
    if depth > 64:
        return value
    if isinstance(value, list):
        return [redact_value(v, depth + 1) for v in value]
    if isinstance(value, dict):
        return {redact_value(k, depth + 1): redact_value(v, depth + 1) for k, v in value.items()}
    return value


class StreamRedactor:
    """Redacts text that arrives in pieces; `feed` returns what is safe to show now."""

    __slots__ = ("_held",)

    def __init__(self) -> None:
        self._held = ""

    def feed(self, piece: str) -> str:
        if not _ORDERED:
            return piece
        text = redact(self._held + piece) if self._held else redact(piece)
        keep = _secret_start(text)
        if keep:
            self._held = text[-keep:]
            return text[:-keep]
        self._held = ""
        return text

    def close(self) -> str:
        """The end of the stream: whatever was held back (it was no secret after all)."""
        held, self._held = self._held, ""
        return redact(held)


def _secret_start(text: str) -> int:
    """Length of the longest end of `text` that is the beginning of a secret (not all of it)."""
    best = 0
    for secret in _ORDERED:
        first = secret[0]
        low = max(0, len(text) - len(secret) + 1)
        at = text.rfind(first, low)
        while at >= 0:
            if secret.startswith(text[at:]):
                best = max(best, len(text) - at)  # keep looking left: a longer one wins
            at = text.rfind(first, low, at)
    return best


def redact_escaped(text: str) -> str:
    """`redact`, and every other spelling of a secret in raw JSON text: any of its characters
    `\\u`-escaped, once or twice (tool-call arguments are a JSON string inside the request
    body). For what is written raw, as a cassette's bodies; decoded values go through
    `redact_value` after decoding instead."""
    text = redact(text)
    if "\\u" not in text and "\\/" not in text:
        return text
    for secret in _ORDERED:
        text = _escaped(secret).sub(MASK, text)
    return text


@functools.lru_cache(maxsize=64)
def _escaped(secret: str) -> "re.Pattern[str]":
    """A pattern for `secret` with each character as itself or JSON-escaped (linear: no
    nested repetition)."""
    parts = []
    for char in secret:
        options = [re.escape(char)]
        if ord(char) <= 0xFFFF:
            options.append(r"\\{1,2}u(?i:%04x)" % ord(char))
        if char == "/":
            options.append(r"\\{1,2}/")
        parts.append("(?:" + "|".join(options) + ")")
    return re.compile("".join(parts))

"""Colour for people at a terminal, nothing for scripts.

Colour is on only when the stream is a terminal, `NO_COLOR` is unset (or empty) and `TERM` is
not `dumb`. colorama is imported only then, so pipes and cron jobs never pay for it; on
Windows it teaches the console the ANSI codes.
"""

from __future__ import annotations

import os
from typing import Any, Mapping, Optional


def is_terminal(stream: Any) -> bool:
    """True when `stream` is an interactive terminal (a closed or odd stream is not)."""
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def wants_colour(stream: Any, environ: Optional[Mapping[str, str]] = None) -> bool:
    """Colour on this stream? Only on a terminal, and never with NO_COLOR or TERM=dumb."""
    environ = os.environ if environ is None else environ
    if environ.get("NO_COLOR") or environ.get("TERM") == "dumb":
        return False
    return is_terminal(stream)


def _enable_windows_console() -> None:
    import colorama

    fix = getattr(colorama, "just_fix_windows_console", None)
    if fix is not None:
        fix()
    else:  # colorama < 0.4.6
        colorama.init()


class Style:
    """Wraps text in ANSI codes when enabled; the identity when not."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._codes = {}
        if enabled:
            from colorama import Fore
            from colorama import Style as S

            if os.name == "nt":
                _enable_windows_console()
            self._codes = {"dim": S.DIM, "bold": S.BRIGHT, "red": Fore.RED,
                           "green": Fore.GREEN, "yellow": Fore.YELLOW, "cyan": Fore.CYAN,
                           "reset": S.RESET_ALL}

    def paint(self, text: str, *names: str) -> str:
        """`text` in the named styles (dim, bold, red, green, yellow, cyan)."""
        if not self.enabled or not text:
            return text
        return "".join(self._codes[n] for n in names) + text + self._codes["reset"]

    def start(self, *names: str) -> str:
        """The codes that switch the named styles on (for text written in pieces)."""
        return "".join(self._codes[n] for n in names) if self.enabled else ""

    def reset(self) -> str:
        return self._codes["reset"] if self.enabled else ""


#: A Style that never colours, for scripts and tests.
PLAIN = Style(False)

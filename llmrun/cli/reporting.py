"""How the subcommands without a renderer (`tools`, `log`, `batch` set-up…) end on an
expected failure: one `llmrun: error:` line and the error's own exit code."""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable


def reports_errors(func: Callable[..., None]) -> Callable[..., None]:
    """An LlmrunError becomes one `llmrun: error:` line and its exit code."""
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        from llmrun.base.errors import LlmrunError, report

        try:
            func(*args, **kwargs)
        except LlmrunError as exc:
            sys.exit(report(exc))
    return wrapper

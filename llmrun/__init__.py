"""llmrun: run one LLM request with tools, end to end, from a shell, a pipe, cron or Python.

    import llmrun
    result = llmrun.ask("What's the weather in Florence?", tools=["tools/"], deadline=60)
    result.exit_code, result.answer, result.to_dict()
    for event in llmrun.events("…", tools=["tools/"]):
        ...

`import llmrun` stays as cheap as `llmrun --help`: the library is imported on first use.
"""

from __future__ import annotations

#: The sandbox's supervisor (`python -I -S`) imports this package before it forks a tool or
#: an MCP server, and `typing` would cost it 10 ms of imports (re, enum, collections): the
#: annotations here are never evaluated, and type checkers read TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Dict, Iterator

__version__ = "0.1.0"
__all__ = ["ask", "events", "Session", "__version__"]


def ask(prompt: str, **kwargs: Any) -> Any:
    """Run one ask to its end and return its result (see llmrun.api.ask)."""
    from llmrun.api import ask as _ask

    return _ask(prompt, **kwargs)


def events(prompt: str, **kwargs: Any) -> Iterator[Dict[str, Any]]:
    """The run's events, as `--events` prints them, the result event last (llmrun.api)."""
    from llmrun.api import events as _events

    return _events(prompt, **kwargs)


def __getattr__(name: str) -> Any:
    if name == "Session":
        from llmrun.api.session import Session

        return Session
    raise AttributeError(f"module 'llmrun' has no attribute {name!r}")

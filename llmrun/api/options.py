"""The options of one run: `ask`'s long options, with the same defaults and the same checks
whether they come from the command line or from a Python call.

A bad value is a UsageError, which is a ValueError (exit 2 on the command line); a keyword
that is not an option, or one that only shapes terminal output, is a TypeError.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any, Dict, List, Optional, Sequence

from llmrun.base.errors import UsageError

EFFORTS = ("minimal", "low", "medium", "high")
SCHEMA_MODES = ("auto", "response_format", "tool")
MAX_PARALLEL = 16

#: Options of `llmrun ask` that only shape what a terminal shows: not arguments of a run.
TERMINAL_ONLY = ("json", "events", "stream", "quiet", "verbose", "show_reasoning", "no_stdin")


@dataclass
class RunOptions:
    model: Optional[str] = None
    provider: Optional[str] = None
    base_url: Optional[str] = None
    system: Optional[str] = None
    tools: List[str] = field(default_factory=list)
    tool: List[str] = field(default_factory=list)
    mcp: List[str] = field(default_factory=list)
    approve: List[str] = field(default_factory=list)
    max_tokens: Optional[int] = None
    temperature: Optional[float] = None
    reasoning_effort: Optional[str] = None
    max_steps: int = 10
    yes: bool = False
    parallel: int = MAX_PARALLEL
    timeout: float = 120.0
    retries: int = 2
    record: Optional[str] = None
    replay: Optional[str] = None
    replay_strict: bool = False
    no_cache: bool = False
    max_cost: Optional[float] = None
    deadline: Optional[float] = None
    max_tool_calls: Optional[int] = None
    fail_on_tool_error: bool = False
    schema: Optional[str] = None
    schema_mode: str = "auto"
    attach: List[str] = field(default_factory=list)  # files, https: URLs, "-" (stdin)
    cancel: Any = None  # a threading.Event: once set, the run stops as Ctrl-C would
    no_sandbox: bool = False  # every tool unconfined
    no_log: bool = False  # keep nothing of this run in the run log
    cid: Optional[str] = None  # go on with this logged run's conversation (an id, or "last")
    continue_last: bool = False  # go on with the newest finished `ask` run of the log

    @classmethod
    def from_kwargs(cls, **kwargs: Any) -> "RunOptions":
        """Check every keyword as the command line checks its option; then the conflicts."""
        known = {f.name for f in fields(cls)}
        for name in kwargs:
            if name in TERMINAL_ONLY:
                raise TypeError(f"{name!r} only shapes terminal output and is not an argument "
                                "of a run (read the result or the events instead)")
            if name not in known:
                raise TypeError(f"unexpected keyword argument {name!r}")
        values = {name: _CHECKS.get(name, _any)(name, value) for name, value in kwargs.items()}
        if "-" in values.get("attach", ()):
            raise UsageError("attach: '-' is standard input, which the Python API never reads "
                             "(write the bytes to a file and attach that)")
        options = cls(**values)
        options.check()
        return options

    def check(self) -> None:
        """Options that cannot go together; one rule for the command line and the API."""
        if self.record and self.replay:
            raise UsageError("--record and --replay cannot be used together")
        if self.replay_strict and not self.replay:
            raise UsageError("--replay-strict needs --replay FILE")
        if self.cid and self.continue_last:
            raise UsageError("-c/--continue and --cid ID cannot be used together")


def _any(name: str, value: Any) -> Any:
    return value


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, not {type(value).__name__}")
    return value


def _text(name: str, value: Any) -> Optional[str]:
    if value is not None and not isinstance(value, str):
        raise TypeError(f"{name} must be a string, not {type(value).__name__}")
    return value


def _texts(name: str, value: Any) -> List[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, Sequence) or not all(isinstance(v, str) for v in value):
        raise TypeError(f"{name} must be a string or a list of strings")
    return list(value)


def _integer(low: int, high: Optional[int] = None, optional: bool = True) -> Any:
    def check(name: str, value: Any) -> Optional[int]:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be a whole number, not {type(value).__name__}")
        if value < low or (high is not None and value > high):
            span = f"from {low} to {high}" if high is not None else f"at least {low}"
            raise UsageError(f"--{name.replace('_', '-')} must be {span}, not {value}")
        return value
    return check


def _number(low: float, open_low: bool, optional: bool = True) -> Any:
    def check(name: str, value: Any) -> Optional[float]:
        if value is None and optional:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} must be a number, not {type(value).__name__}")
        option = f"--{name.replace('_', '-')}"
        if not math.isfinite(value):
            raise UsageError(f"{option} must be a finite number, not {value!r}")
        if value < low or (open_low and value == low):
            raise UsageError(f"{option} must be {'more than' if open_low else 'at least'} "
                             f"{low:g}, not {value!r}")
        return float(value)
    return check


def _choice(options: Sequence[str], optional: bool = True) -> Any:
    def check(name: str, value: Any) -> Optional[str]:
        if value is None and optional:
            return None
        if value not in options:
            raise UsageError(f"--{name.replace('_', '-')} must be one of "
                             f"{', '.join(options)}, not {value!r}")
        return value
    return check


def _schema(name: str, value: Any) -> Optional[str]:
    """A file, inline JSON text, or (from Python) the schema itself as a dict."""
    if isinstance(value, dict):
        import json

        return json.dumps(value)
    return _text(name, value)


def _cancel(name: str, value: Any) -> Any:
    if value is not None and not (hasattr(value, "is_set") and hasattr(value, "wait")):
        raise TypeError("cancel must be a threading.Event (or have is_set() and wait())")
    return value


_CHECKS: Dict[str, Any] = {
    "model": _text, "provider": _text, "base_url": _text, "system": _text,
    "record": _text, "replay": _text,
    "tools": _texts, "tool": _texts, "mcp": _texts, "approve": _texts, "attach": _texts,
    "max_tokens": _integer(1), "max_steps": _integer(1, optional=False),
    "parallel": _integer(1, MAX_PARALLEL, optional=False),
    "retries": _integer(0, optional=False), "max_tool_calls": _integer(0),
    "temperature": _number(0, False), "timeout": _number(0, True, optional=False),
    "max_cost": _number(0, True), "deadline": _number(0, True),
    "reasoning_effort": _choice(EFFORTS), "schema_mode": _choice(SCHEMA_MODES, optional=False),
    "yes": _flag, "replay_strict": _flag, "no_cache": _flag, "fail_on_tool_error": _flag,
    "schema": _schema, "cancel": _cancel,
    "no_log": _flag, "no_sandbox": _flag, "continue_last": _flag, "cid": _text,
}

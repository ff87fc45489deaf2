"""`python: module:function` tools, called inside llmrun with keyword arguments.

The YAML file's folder goes first on the import path for the import. The call runs in its own
daemon thread so a timeout can give up on it (a thread cannot be killed: the function is
abandoned and ends with llmrun). While Python tools run, `print` goes to stderr, because
stdout carries only the answer.
"""

from __future__ import annotations

import importlib
import json
import sys
import threading
from typing import Any, Callable, Dict, List

_import_lock = threading.Lock()
_stdout_lock = threading.Lock()
_stdout_users = 0
_saved_stdout: Any = None
_stdout_now: Any = None  # what we pointed sys.stdout at


class PythonToolError(Exception):
    """The function could not be found, raised, or ran past its timeout."""


def load_function(target: str, folder: str) -> Callable[..., Any]:
    """Import `module:function` with `folder` first on sys.path."""
    module_name, func_name = target.split(":")
    with _import_lock:
        if folder in sys.path:
            sys.path.remove(folder)
        sys.path.insert(0, folder)
        try:
            module = importlib.import_module(module_name)
        except (Exception, SystemExit) as exc:  # SyntaxError, ImportError, exit() at import
            raise PythonToolError(f"cannot import module {module_name!r} from {folder}: "
                                  f"{type(exc).__name__}: {exc}")
    func = getattr(module, func_name, None)
    if not callable(func):
        raise PythonToolError(f"module {module_name!r} has no function {func_name!r}")
    return func


def as_text(value: Any) -> str:
    """A str is the result as is, None is "", anything else is JSON."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def call(target: str, folder: str, args: Dict[str, Any], timeout: float) -> str:
    """Import and call `target(**args)` within `timeout`; the result as text, or
    PythonToolError."""
    box: List[Any] = []

    def run() -> None:
        try:
            func = load_function(target, folder)
        except PythonToolError as exc:
            box.append(("unusable", exc))
            return
        try:
            box.append(("ok", func(**args)))
        except BaseException as exc:  # the model sees it, whatever it is
            box.append(("raised", exc))

    def run_redirected() -> None:
        try:
            run()
        finally:  # only when the function really returns: an abandoned one may print later
            _stdout_to_stderr(False)

    thread = threading.Thread(target=run_redirected, daemon=True, name="llmrun-python-tool")
    _stdout_to_stderr(True)
    try:
        thread.start()
    except BaseException:
        _stdout_to_stderr(False)
        raise
    thread.join(timeout)
    if not box:
        raise PythonToolError(f"timed out after {timeout:g} s (the function was abandoned)")
    status, value = box[0]
    if status == "unusable":
        raise value
    if status == "raised":
        raise PythonToolError(f"raised {type(value).__name__}: {value}")
    try:
        return as_text(value)
    except (TypeError, ValueError) as exc:
        raise PythonToolError(f"returned a value that cannot be sent as text: {exc}")


def _stdout_to_stderr(enter: bool) -> None:
    """Point sys.stdout at stderr while any Python tool runs (counted: they run in
    parallel). The renderer keeps its own reference to the real stdout."""
    global _stdout_users, _saved_stdout, _stdout_now
    with _stdout_lock:
        if enter:
            _stdout_users += 1
            if sys.stdout is not _stdout_now:  # first user, or someone swapped stdout since
                _saved_stdout = sys.stdout
                sys.stdout = _stdout_now = sys.stderr
        else:
            _stdout_users -= 1
            if _stdout_users == 0 and sys.stdout is _stdout_now:  # nobody else changed it
                sys.stdout = _saved_stdout

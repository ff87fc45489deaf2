"""`python: module:function` tools, run in a worker process of their own.

A function the model calls may loop, compute `(10**3999)**9999` or crash the interpreter; in
a thread of llmrun none of that could be stopped. So each call starts a small worker (this
module, run with `-c`): it reads the request as JSON on stdin, imports `module:function` with
the YAML file's folder first on the import path, calls it with the arguments as keyword
arguments, and writes one JSON result to the pipe that was its stdout. Before the import,
file descriptor 1 is pointed at stderr, so the function's own `print` (or a C library
writing to fd 1) can never corrupt the result. The parent runs the worker exactly like a
command tool: same timeout, same kill-the-group, same output cap, same signal handling.

Only the standard library is imported here: the worker must start fast.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from typing import Any, Callable, Dict, List

#: How the parent starts a worker: `python -c WORKER ROOT`, where ROOT holds the llmrun package.
#: `-c` puts the working directory first on sys.path (as ''): it goes before anything is
#: imported, or a `json.py` there would run as code on every call (-P is 3.11+ only).
WORKER = ("import sys; getattr(sys.flags, 'safe_path', False) or sys.path.pop(0); "
          "r = sys.argv[1]; sys.path.insert(0, r); "
          "from llmrun.tools.pyfunc import main; sys.path.remove(r); main()")


class PythonToolError(Exception):
    """The function could not be found, raised, or returned something unusable."""


def load_function(target: str, folder: str) -> Callable[..., Any]:
    """Import `module:function` with `folder` first on sys.path."""
    module_name, func_name = target.split(":")
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


def command() -> List[str]:
    """The argv that starts one worker (ROOT: the folder that holds the llmrun package)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return [sys.executable, "-c", WORKER, root]


def request(target: str, folder: str, args: Dict[str, Any], cap: int) -> bytes:
    return json.dumps({"target": target, "folder": folder, "args": args, "cap": cap},
                      ensure_ascii=False).encode("utf-8", "surrogatepass")


def parse_result(data: bytes) -> Dict[str, Any]:
    """The worker's answer, or {} when it wrote none (it crashed or was killed)."""
    try:
        value = json.loads(data.decode("utf-8", "replace")) if data.strip() else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


# -- the worker side ---------------------------------------------------------------------------
def main() -> None:
    """Entry point of the worker process."""
    out = os.fdopen(os.dup(1), "w", encoding="utf-8", errors="surrogatepass")
    os.dup2(2, 1)  # from here on, print() and fd 1 go to stderr
    sys.stdout = sys.stderr
    try:
        req = json.loads(sys.stdin.buffer.read().decode("utf-8", "surrogatepass"))
        answer = _call(req["target"], req["folder"], req["args"], int(req["cap"]))
    except BaseException as exc:  # a bad request is llmrun's bug: say so, do not hang
        answer = {"ok": False, "error": f"worker failed: {type(exc).__name__}: {exc}"}
    out.write(json.dumps(answer, ensure_ascii=False))
    out.flush()
    os._exit(0)  # no atexit handlers or threads of the tool's module keep the worker alive


def _call(target: str, folder: str, args: Dict[str, Any], cap: int) -> Dict[str, Any]:
    try:
        func = load_function(target, folder)
    except PythonToolError as exc:
        return {"ok": False, "error": str(exc)}
    try:
        value = func(**args)
    except BaseException as exc:  # the model sees it, whatever it is
        return {"ok": False, "error": f"raised {type(exc).__name__}: {exc}"}
    try:
        text = as_text(value)
    except (TypeError, ValueError) as exc:
        return {"ok": False, "error": f"returned a value that cannot be sent as text: {exc}"}
    data = text.encode("utf-8", "surrogatepass")
    if len(data) > cap:  # cut here, so the pipe never carries more than the cap allows
        return {"ok": True, "text": data[:cap].decode("utf-8", "ignore"), "cut": True}
    return {"ok": True, "text": text}

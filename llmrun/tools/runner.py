"""Running the tool calls a model asked for, one subprocess (or function call) each."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional

from llmrun.tools.spec import Tool


@dataclass
class ToolResult:
    content: str
    is_error: bool = False
    duration: float = 0.0


class ToolError(Exception):
    """A failure the model is told about as an error result."""


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_-]+)\}")


def substitute(argv: List[str], args: Dict[str, Any]) -> List[str]:
    """Replace `{name}` in each argv element in one pass, so a value is never re-read as a
    placeholder and never becomes more than the one element it stands in."""
    def fill(match: "re.Match[str]") -> str:
        key = match.group(1)
        return _as_text(args[key]) if key in args else match.group(0)

    return [_PLACEHOLDER.sub(fill, element) for element in argv]


def tool_env(args: Dict[str, Any]) -> Dict[str, str]:
    env = dict(os.environ)
    env["LLMRUN_ARGS"] = json.dumps(args, ensure_ascii=False)
    for key, value in args.items():
        env["LLMRUN_ARG_" + key.upper()] = _as_text(value)
    return env


def run_process(argv: List[str], env: Dict[str, str], timeout: float) -> str:
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        raise ToolError(f"timed out after {timeout:g} s")
    except BaseException:
        _kill_group(proc)
        raise
    text = out.decode("utf-8", "replace").rstrip()
    if proc.returncode != 0:
        tail = err.decode("utf-8", "replace").strip()[-2000:]
        raise ToolError(f"exit status {proc.returncode}" + (f": {tail}" if tail else ""))
    return text


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


def run_python(tool: Tool, args: Dict[str, Any]) -> str:
    import importlib
    import sys

    module_name, func_name = tool.target.split(":")
    if tool.folder not in sys.path:
        sys.path.insert(0, tool.folder)
    func = getattr(importlib.import_module(module_name), func_name)
    value = func(**args)
    if value is None:
        return ""
    return _as_text(value)


def run_tool(tool: Tool, args: Dict[str, Any]) -> ToolResult:
    start = time.monotonic()
    try:
        if tool.kind == "command":
            text = run_process(substitute(tool.target, args), tool_env(args), tool.timeout)
        elif tool.kind == "shell":
            text = run_process(["sh", "-c", tool.target], tool_env(args), tool.timeout)
        else:
            text = run_python(tool, args)
        return ToolResult(text, False, time.monotonic() - start)
    except ToolError as exc:
        return ToolResult(f"error: tool {tool.name} failed: {exc}", True,
                          time.monotonic() - start)
    except Exception as exc:  # a tool's own failure is the model's to see, not a crash
        return ToolResult(f"error: tool {tool.name} raised {type(exc).__name__}: {exc}", True,
                          time.monotonic() - start)


class Toolbox:
    """The tools offered in one run, and how their calls are carried out."""

    def __init__(self, tools: List[Tool]) -> None:
        self.tools = {t.name: t for t in tools}

    def schemas(self) -> List[Dict[str, Any]]:
        return [t.schema() for t in self.tools.values()]

    def run_call(self, name: str, arguments: str) -> ToolResult:
        tool = self.tools.get(name)
        if tool is None:
            known = ", ".join(self.tools) or "none"
            return ToolResult(f"error: there is no tool named {name!r} (available: {known})",
                              True)
        try:
            args = json.loads(arguments) if arguments.strip() else {}
        except ValueError as exc:
            return ToolResult(f"error: the arguments are not valid JSON ({exc}); send a JSON "
                              "object", True)
        if not isinstance(args, dict):
            return ToolResult("error: the arguments must be a JSON object", True)
        return run_tool(tool, args)

    def run_calls(self, calls: List[Any],
                  on_start: Optional[Callable[[Any], None]] = None,
                  on_done: Optional[Callable[[Any, ToolResult], None]] = None
                  ) -> List[ToolResult]:
        results = []
        for call in calls:
            if on_start:
                on_start(call)
            result = self.run_call(call.name, call.arguments)
            if on_done:
                on_done(call, result)
            results.append(result)
        return results

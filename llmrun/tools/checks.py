"""`llmrun tools check`: everything that can be known about tool files without a model.

Unlike loading for a run (which stops at the first problem), this reads every file and
reports every problem, plus warnings for things that are legal but probably mistakes.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Sequence

from llmrun.base.errors import ConfigError
from llmrun.tools.spec import Tool, ToolFileError, load_file, tool_files

_PLACEHOLDER = re.compile(r"\{([A-Za-z0-9_-]+)\}")


@dataclass
class Report:
    tools: List[Tool] = field(default_factory=list)
    files: int = 0
    problems: List[str] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)


def check_paths(paths: Sequence[str]) -> Report:
    report = Report()
    try:
        files = tool_files(paths, warn=report.warnings.append)
    except ConfigError as exc:
        report.problems.append(exc.message)
        return report
    report.files = len(files)
    for path in files:
        try:
            loaded = load_file(path)
        except ConfigError as exc:
            report.problems.extend(getattr(exc, "problems", [exc.message]))
            continue
        for tool in loaded:
            _check_tool(tool, report)
        report.tools.extend(loaded)
    _check_duplicates(report)
    return report


def counted(exc: ConfigError, paths: Iterable[str]) -> ConfigError:
    """A run stops at the first broken file; its message counts the problems the way `llmrun
    tools check` (which reads every file) does, so the two never disagree."""
    every = check_paths(list(paths)).problems
    first = getattr(exc, "problems", [exc.message])[0]
    if len(every) <= 1:
        return exc
    rest = [p for p in every if p != first]
    return ToolFileError([first] + rest[:len(every) - 1])


def _check_duplicates(report: Report) -> None:
    first: Dict[str, Tool] = {}
    for tool in report.tools:
        if tool.name in first:
            report.problems.append(f"{tool.where}: tool '{tool.name}' is defined twice "
                                   f"(first at {first[tool.name].where})")
        else:
            first.setdefault(tool.name, tool)


def _check_tool(tool: Tool, report: Report) -> None:
    if not tool.description.strip():
        report.warnings.append(f"{tool.where}: tool '{tool.name}' has no description; the "
                               "model chooses tools by their descriptions")
    declared = tool.parameters.get("properties") or {}
    if tool.kind == "command":
        for element in tool.target:
            for name in _PLACEHOLDER.findall(element):
                if name not in declared:
                    report.warnings.append(
                        f"{tool.target_where}: tool '{tool.name}': {{{name}}} is not a declared "
                        "parameter, so it is passed literally")
    if tool.kind == "python":
        _check_python(tool, declared, report)


def _check_python(tool: Tool, declared: Dict[str, Any], report: Report) -> None:
    """Import the function and compare its signature with the declared parameters."""
    import inspect

    from llmrun.tools.pyfunc import PythonToolError, load_function

    try:
        func = load_function(tool.target, tool.folder)  # type: ignore[arg-type]
    except PythonToolError as exc:
        report.problems.append(f"{tool.target_where}: tool '{tool.name}': {exc}")
        return
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):
        return
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return
    accepted = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    needed = {p.name for p in params if p.default is p.empty
              and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    required = set(tool.parameters.get("required") or ())
    for name in sorted(set(declared) - accepted):
        report.problems.append(f"{tool.target_where}: tool '{tool.name}': parameter '{name}' is "
                               f"declared but {tool.target} does not accept it")
    for name in sorted(needed - required):
        report.warnings.append(f"{tool.target_where}: tool '{tool.name}': {tool.target} needs "
                               f"'{name}', but the schema does not require it")


def sandbox_report(report: Report, settings: Any) -> List[str]:
    """What this machine's sandbox supports and each tool's effective policy under
    `settings` (llmrun.sandbox.policy.Settings); a policy it cannot enforce is a problem."""
    from llmrun.sandbox.support import probe, weaker
    from llmrun.tools.confine import assign, describe_lines, problem, support_line

    own = [t for t in report.tools if t.runner is None]
    assign(own, settings)
    lines = [support_line()] + [f"sandbox: weaker here: {w}" for w in weaker(probe())]
    why = problem(t.policy for t in own)
    if why:
        report.problems.append(f"{why}; run with --no-sandbox (or set sandbox: false in the "
                               "config) to run tools unconfined")
    return lines + describe_lines(own)

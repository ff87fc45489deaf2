"""Tool definitions: reading and checking tool YAML files."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional, Union

from llmrun.errors import ConfigError

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_KINDS = ("command", "shell", "python")
_KEYS = {"name", "description", "parameters", "timeout", "confirm", *_KINDS}
DEFAULT_TIMEOUT = 60.0


@dataclass
class Tool:
    name: str
    description: str
    parameters: Dict[str, Any]
    kind: str  # command | shell | python
    target: Union[List[str], str]
    timeout: float = DEFAULT_TIMEOUT
    confirm: bool = False
    source: str = ""  # file it came from
    line: int = 1
    folder: str = field(default=".", repr=False)

    def schema(self) -> Dict[str, Any]:
        """The tool as the API wants it; `parameters` goes out unchanged."""
        return {"type": "function",
                "function": {"name": self.name, "description": self.description,
                             "parameters": self.parameters}}


def tool_files(paths: Iterable[str]) -> List[str]:
    """Expand files and folders into the YAML files to read, in a stable order."""
    files: List[str] = []
    for raw in paths:
        path = os.path.expanduser(raw)
        if os.path.isdir(path):
            names = sorted(n for n in os.listdir(path) if n.endswith((".yaml", ".yml")))
            files.extend(os.path.join(path, n) for n in names)
        elif os.path.isfile(path):
            files.append(path)
        else:
            raise ConfigError(f"tool path {raw} does not exist")
    return files


def load_tools(paths: Iterable[str], only: Optional[Iterable[str]] = None) -> List[Tool]:
    """Load every tool under `paths`; `only` keeps just the named ones (all must exist)."""
    tools: List[Tool] = []
    seen: Dict[str, Tool] = {}
    for path in tool_files(paths):
        for tool in load_file(path):
            if tool.name in seen:
                first = seen[tool.name]
                raise ConfigError(f"{tool.source}:{tool.line}: tool '{tool.name}' is defined "
                                  f"twice (first at {first.source}:{first.line})")
            seen[tool.name] = tool
            tools.append(tool)
    if only:
        wanted = list(dict.fromkeys(only))
        missing = [n for n in wanted if n not in seen]
        if missing:
            raise ConfigError(f"--tool {missing[0]}: no such tool in the loaded tool files "
                              f"(loaded: {', '.join(sorted(seen)) or 'none'})")
        tools = [seen[n] for n in wanted]
    return tools


def load_file(path: str) -> List[Tool]:
    from llmrun.yamlfile import load_yaml

    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read tool file {path}: {exc}")
    data, lines = load_yaml(text, path)
    if isinstance(data, dict) and "tools" in data and set(data) == {"tools"}:
        entries = data["tools"]
        if not isinstance(entries, list):
            raise ConfigError(f"{path}:{lines.at('tools')}: 'tools' must be a list of tools")
        return [_parse(e, path, lines.at("tools", i), os.path.dirname(os.path.abspath(path)))
                for i, e in enumerate(entries)]
    return [_parse(data, path, lines.root, os.path.dirname(os.path.abspath(path)))]


def _parse(entry: Any, path: str, line: int, folder: str) -> Tool:
    def fail(problem: str) -> ConfigError:
        return ConfigError(f"{path}:{line}: {problem}")

    if not isinstance(entry, dict):
        raise fail("a tool must be a mapping with name, description, parameters and one of "
                   "command, shell or python")
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise fail(f"unknown key '{unknown[0]}' (known: {', '.join(sorted(_KEYS))})")
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise fail(f"tool name {name!r} must be 1-64 letters, digits, _ or -")
    kinds = [k for k in _KINDS if k in entry]
    if len(kinds) != 1:
        raise fail(f"tool '{name}' needs exactly one of command, shell or python")
    kind = kinds[0]
    target = entry[kind]
    if kind == "command":
        if isinstance(target, str) or not isinstance(target, list) or not target \
                or not all(isinstance(a, (str, int, float)) for a in target):
            raise fail(f"tool '{name}': command must be a non-empty list of strings (argv)")
        target = [str(a) for a in target]
    elif not isinstance(target, str) or not target.strip():
        raise fail(f"tool '{name}': {kind} must be a non-empty string")
    elif kind == "python" and not re.match(r"^[\w.]+:\w+$", target):
        raise fail(f"tool '{name}': python must look like module:function")
    parameters = entry.get("parameters", {"type": "object", "properties": {}})
    if not isinstance(parameters, dict) or parameters.get("type", "object") != "object":
        raise fail(f"tool '{name}': parameters must be a JSON Schema of type object")
    timeout = entry.get("timeout", DEFAULT_TIMEOUT)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise fail(f"tool '{name}': timeout must be a positive number of seconds")
    confirm = entry.get("confirm", False)
    if not isinstance(confirm, bool):
        raise fail(f"tool '{name}': confirm must be true or false")
    description = entry.get("description", "")
    if not isinstance(description, str):
        raise fail(f"tool '{name}': description must be a string")
    return Tool(name, description, parameters, kind, target, float(timeout), confirm,
                path, line, folder)

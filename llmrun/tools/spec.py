"""Tool definitions: reading and checking tool YAML files.

Every problem names the file and the line it stands on (a ConfigError, exit 3), so a tool
author can jump straight to it.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Iterable, List, Optional, Tuple, Union

from llmrun.base.errors import ConfigError

_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_KINDS = ("command", "shell", "python")
_KEYS = {"name", "description", "parameters", "timeout", "confirm", "max_output", "pass_env",
         "sandbox", *_KINDS}
_ENV_VAR = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
DEFAULT_TIMEOUT = 60.0
DEFAULT_MAX_OUTPUT = 64 * 1024
_EMPTY_PARAMETERS: Dict[str, Any] = {"type": "object", "properties": {}}


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
    max_output: int = DEFAULT_MAX_OUTPUT  # bytes of result text before it is cut
    simple_schema: bool = field(default=True, init=False, repr=False)
    target_line: int = 0  # line of the command/shell/python key, for `tools check`
    pass_env: List[str] = field(default_factory=list)  # secrets this tool may see
    origin: str = ""  # where a tool from elsewhere (an MCP server) comes from, for messages
    #: how a tool that is not a process of ours is called (an MCP server's): args -> result
    runner: Any = field(default=None, repr=False, compare=False)
    sandbox: Any = None  # what its file declares (llmrun.sandbox.policy.Declared)
    policy: Any = field(default=None, repr=False, compare=False)  # the run's effective one
    _validator: Any = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        from llmrun.tools.schema import is_simple

        self.simple_schema = is_simple(self.parameters)  # else jsonschema checks calls

    def schema(self) -> Dict[str, Any]:
        """The tool as the API wants it; `parameters` goes out unchanged."""
        return {"type": "function",
                "function": {"name": self.name, "description": self.description,
                             "parameters": self.parameters}}

    def validator(self) -> Any:
        """A jsonschema validator, built on first use (only schemas outside the fast subset)."""
        if self._validator is None:
            from llmrun.tools.validate import make_validator

            self._validator = make_validator(self.parameters)
        return self._validator

    @property
    def where(self) -> str:
        return self.origin or f"{self.source}:{self.line}"

    @property
    def target_where(self) -> str:
        return f"{self.source}:{self.target_line or self.line}"


def tool_files(paths: Iterable[str], source: str = "",
               warn: Optional[Callable[[str], None]] = None) -> List[str]:
    """Expand files and folders into the YAML files to read, in a stable order. `source`
    names where the paths came from (-t, LLMRUN_TOOLS, the config file's line)."""
    files: List[str] = []
    named = f" (from {source})" if source else ""
    for raw in paths:
        path = os.path.expanduser(raw)
        if os.path.isdir(path):
            names = sorted(n for n in os.listdir(path)
                           if n.endswith((".yaml", ".yml")) and not n.startswith("."))
            files.extend(os.path.join(path, n) for n in names)
            if not names and warn is not None:
                inner = [n for n in os.listdir(path) if os.path.isdir(os.path.join(path, n))]
                more = " (subfolders are not searched: name them with -t)" if inner else ""
                warn(f"no tool files (*.yaml, *.yml) in {raw}{named}{more}")
        elif os.path.isfile(path):
            files.append(path)
        else:
            raise ConfigError(f"tool path {raw}{named} does not exist (give a tool YAML file "
                              "or a folder of them)")
    return files


def load_tools(paths: Iterable[str], only: Optional[Iterable[str]] = None, source: str = "",
               warn: Optional[Callable[[str], None]] = None) -> List[Tool]:
    """Load every tool under `paths`; `only` keeps just the named ones (all must exist)."""
    tools: List[Tool] = []
    for path in tool_files(paths, source, warn):
        tools.extend(load_file(path))
    seen = unique_names(tools)
    if only:
        wanted = list(dict.fromkeys(only))
        missing = [n for n in wanted if n not in seen]
        if missing:
            raise ConfigError(f"--tool {missing[0]}: no such tool in the loaded tool files "
                              f"(loaded: {', '.join(sorted(seen)) or 'none'})")
        tools = [seen[n] for n in wanted]
    return tools


def unique_names(tools: List[Tool]) -> Dict[str, Tool]:
    """Tools by name; a name defined twice is an error naming both places."""
    seen: Dict[str, Tool] = {}
    for tool in tools:
        first = seen.get(tool.name)
        if first is not None:
            raise ConfigError(f"{tool.where}: tool '{tool.name}' is defined twice (first at "
                              f"{first.where}); rename one, drop a -t path, or leave it out "
                              "of an MCP server with exclude_tools")
        seen[tool.name] = tool
    return seen


def load_file(path: str) -> List[Tool]:
    """The tools of one YAML file: one tool mapping, or `tools:` with a list of them."""
    from llmrun.base.yamlfile import load_yaml

    from llmrun.base.files import read_text

    try:
        text = read_text(path, "tool file")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read tool file {path}: {exc}")
    data, lines = load_yaml(text, path)
    folder = os.path.dirname(os.path.abspath(path))
    if isinstance(data, dict) and "tools" in data:
        extra = sorted(str(k) for k in data if k != "tools")
        if extra:
            raise ConfigError(f"{path}:{lines.at(extra[0])}: a file with 'tools:' holds only "
                              f"that list; move '{extra[0]}' into one of its tools")
        entries = data["tools"]
        if not isinstance(entries, list) or not entries:
            raise ConfigError(f"{path}:{lines.at('tools')}: 'tools' must be a list of tools")
        tools, problems = [], []
        for i, entry in enumerate(entries):
            try:
                tools.append(_parse(entry, _Where(path, lines, ("tools", i)), folder))
            except ConfigError as exc:
                problems.extend(getattr(exc, "problems", [exc.message]))
        if problems:
            raise ToolFileError(problems)
        unique_names(tools)
        return tools
    return [_parse(data, _Where(path, lines, ()), folder)]


@dataclass
class _Where:
    """Where a tool entry sits, to turn a key path into `file:line: problem`."""

    path: str
    lines: Any
    base: Tuple[Any, ...]

    def fail(self, problem: str, *keys: Any) -> ConfigError:
        return ConfigError(f"{self.path}:{self.lines.at(*self.base, *keys)}: {problem}")


class ToolFileError(ConfigError):
    """Every problem of one tool entry (the first is the message; `tools check` lists all)."""

    def __init__(self, problems: List[str]) -> None:
        more = f" (and {len(problems) - 1} more: 'llmrun tools check' lists them)" \
            if len(problems) > 1 else ""
        super().__init__(problems[0] + more)
        self.problems = problems


def _parse(entry: Any, at: _Where, folder: str) -> Tool:
    """One tool entry, checked; every problem is collected before any is raised."""
    if not isinstance(entry, dict):
        raise at.fail("a tool must be a mapping with name, description, parameters and one "
                      "of command, shell or python")
    problems: List[str] = []

    def check(fn: Callable[..., Any], *args: Any) -> Any:
        try:
            return fn(*args)
        except ConfigError as exc:
            problems.extend(getattr(exc, "problems", [exc.message]))
            return None

    for key in sorted(str(k) for k in entry if k not in _KEYS):
        problems.append(at.fail(f"unknown key '{key}' (known: {', '.join(sorted(_KEYS))})",
                                key).message)
    name = check(_name, entry, at) or str(entry.get("name"))
    kind = check(_kind, entry, name, at)
    target = check(_target, kind, entry[kind], lambda p: at.fail(f"tool '{name}': {p}", kind)) \
        if kind else None
    fields = [check(_parameters, entry, name, at), check(_description, entry, name, at),
              check(_number, entry, "timeout", DEFAULT_TIMEOUT, name, at),
              check(_confirm, entry, name, at),
              check(_number, entry, "max_output", DEFAULT_MAX_OUTPUT, name, at),
              check(_pass_env, entry, name, at), check(_sandbox, entry, name, at)]
    if problems:
        raise ToolFileError(problems)
    parameters, description, timeout, confirm, max_output, pass_env, sandbox = fields
    return Tool(name, description, parameters, kind, target, timeout, confirm,
                at.path, at.lines.at(*at.base), folder, int(max_output),
                at.lines.at(*at.base, kind), pass_env, sandbox=sandbox)


def _name(entry: Dict[str, Any], at: _Where) -> str:
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise at.fail(f"tool name {name!r} must be 1-64 letters, digits, _ or -", "name")
    return name


def _kind(entry: Dict[str, Any], name: str, at: _Where) -> str:
    kinds = [k for k in _KINDS if k in entry]
    if len(kinds) != 1:
        raise at.fail(f"tool '{name}' needs exactly one of command, shell or python"
                      + (f" (it has {' and '.join(kinds)})" if kinds else ""),
                      *(kinds[1:2] or ["name"]))
    return kinds[0]


def _pass_env(entry: Dict[str, Any], name: str, at: _Where) -> List[str]:
    value = entry.get("pass_env", [])
    if not isinstance(value, list) or not all(isinstance(v, str) and _ENV_VAR.match(v)
                                              for v in value):
        raise at.fail(f"tool '{name}': pass_env must be a list of environment variable names "
                      "(e.g. [GITHUB_TOKEN])", "pass_env")
    return list(value)


def _sandbox(entry: Dict[str, Any], name: str, at: _Where) -> Any:
    from llmrun.sandbox.policy import parse

    where = f"{at.path}:{at.lines.at(*at.base, 'sandbox')}"
    return parse(entry.get("sandbox"),
                 lambda problem, *keys: at.fail(f"tool '{name}': {problem}", "sandbox", *keys),
                 where)


def _target(kind: str, value: Any, fail: Callable[[str], ConfigError]) -> Union[List[str], str]:
    if kind == "command":
        flags = [a for a in value if isinstance(a, bool)] if isinstance(value, list) else []
        if flags:
            raise fail(f"command element {str(flags[0]).lower()} is a YAML boolean (from "
                       "yes/no/on/off/true/false): quote it, e.g. \"yes\"")
        if not isinstance(value, list) or not value or not all(
                isinstance(a, (str, int, float)) and not isinstance(a, bool) for a in value):
            raise fail("command must be a non-empty list of strings (argv, no shell); use "
                       "shell: for a shell snippet")
        return [str(a) for a in value]
    if not isinstance(value, str) or not value.strip():
        raise fail(f"{kind} must be a non-empty string")
    if kind == "python" and not re.match(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$", value.strip()):
        raise fail("python must look like module:function (for example weather_impl:lookup)")
    return value.strip() if kind == "python" else value


def _parameters(entry: Dict[str, Any], name: str, at: _Where) -> Dict[str, Any]:
    from llmrun.tools.validate import schema_problem

    if "parameters" not in entry:
        return dict(_EMPTY_PARAMETERS)
    parameters = entry["parameters"]
    problem = schema_problem(parameters)
    if problem is not None:
        inner, message = problem
        raise at.fail(f"tool '{name}': {message}", "parameters", *inner)
    _distinct_env_names(parameters, name, at)
    return parameters


def _distinct_env_names(parameters: Dict[str, Any], name: str, at: _Where) -> None:
    """`a-b` and `a_b` would both be LLMRUN_ARG_A_B: one would silently overwrite the other."""
    from llmrun.tools.childenv import env_name

    seen: Dict[str, str] = {}
    for key in parameters.get("properties") or {}:
        variable = env_name(str(key))
        if variable in seen:
            raise at.fail(f"tool '{name}': parameters '{seen[variable]}' and '{key}' would both "
                          f"be passed as {variable}; rename one", "parameters", "properties",
                          key)
        seen[variable] = str(key)


def _number(entry: Dict[str, Any], key: str, default: float, name: str, at: _Where) -> float:
    value = entry.get(key, default)
    kinds = (int, float) if key == "timeout" else int
    if isinstance(value, bool) or not isinstance(value, kinds) or not 0 < value < 1e9:
        unit = "seconds" if key == "timeout" else "bytes (a whole number)"
        raise at.fail(f"tool '{name}': {key} must be a positive number of {unit}", key)
    return float(value)


def _confirm(entry: Dict[str, Any], name: str, at: _Where) -> bool:
    confirm = entry.get("confirm", False)
    if not isinstance(confirm, bool):
        raise at.fail(f"tool '{name}': confirm must be true or false", "confirm")
    return confirm


def _description(entry: Dict[str, Any], name: str, at: _Where) -> str:
    description = entry.get("description", "")
    if not isinstance(description, str):
        raise at.fail(f"tool '{name}': description must be a string", "description")
    return description

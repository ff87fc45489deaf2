"""Server definitions: the `{"mcpServers": {NAME: SERVER}}` files other clients write, and the
config file's `mcp_servers`; `${VAR}` expanded from llmrun's environment."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Union

from llmrun.base.errors import ConfigError

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_KEYS = {"command", "args", "env", "cwd", "url", "headers", "type", "transport", "tools",
         "exclude_tools", "timeout", "startup_timeout", "confirm", "disabled", "description",
         "sandbox"}


@dataclass
class ServerSpec:
    name: str
    where: str  # file (and line) it came from, for messages
    command: Optional[str] = None
    args: List[str] = field(default_factory=list)
    env: Dict[str, str] = field(default_factory=dict)
    cwd: Optional[str] = None
    url: Optional[str] = None
    headers: Dict[str, str] = field(default_factory=dict)
    tools: Optional[List[str]] = None  # offer only these
    exclude_tools: List[str] = field(default_factory=list)
    timeout: float = 60.0
    startup_timeout: float = 30.0
    confirm: Union[bool, List[str], None] = None  # None: follow the tool's annotations
    sandbox: Any = None  # what its entry declares (llmrun.sandbox.policy.Declared)
    policy: Any = field(default=None, repr=False, compare=False)  # the run's effective one


def expand(value: str, where: str, environ: Mapping[str, str] = os.environ) -> str:
    """`${VAR}` from llmrun's environment, so a token stays out of the file."""
    def one(match: "re.Match[str]") -> str:
        name = match.group(1)
        if name not in environ:
            raise ConfigError(f"{where}: ${{{name}}} is used but {name} is not set")
        return environ[name]
    return _VAR.sub(one, value)


def parse_server(name: str, raw: Any, where: str) -> ServerSpec:
    """One SERVER mapping: `{command, args, env, cwd}` or `{url, headers}`, plus llmrun's keys."""
    def fail(problem: str) -> ConfigError:
        return ConfigError(f"{where}: MCP server '{name}': {problem}")

    if not isinstance(raw, dict):
        raise fail("must be a mapping with command (stdio) or url (HTTP)")
    unknown = sorted(str(k) for k in raw if k not in _KEYS)
    if unknown:
        raise fail(f"unknown key '{unknown[0]}' (known: {', '.join(sorted(_KEYS))})")
    spec = ServerSpec(name, where)
    if ("command" in raw) == ("url" in raw):
        raise fail("needs exactly one of command (a stdio server) or url (Streamable HTTP)")
    if "command" in raw:
        spec.command = expand(_text(raw["command"], "command", fail), where)
        spec.args = [expand(a, where) for a in _texts(raw.get("args", []), "args", fail)]
        spec.env = {k: expand(v, where) for k, v in _table(raw.get("env"), "env", fail).items()}
        if raw.get("cwd") is not None:
            spec.cwd = os.path.expanduser(_text(raw["cwd"], "cwd", fail))
    else:
        spec.url = expand(_text(raw["url"], "url", fail), where)
        if not spec.url.startswith(("http://", "https://")):
            raise fail("url must start with http:// or https://")
        spec.headers = {k: expand(v, where)
                        for k, v in _table(raw.get("headers"), "headers", fail).items()}
    if raw.get("tools") is not None:
        spec.tools = _texts(raw["tools"], "tools", fail)
    spec.exclude_tools = _texts(raw.get("exclude_tools", []), "exclude_tools", fail)
    spec.timeout = _seconds(raw.get("timeout", 60), "timeout", fail)
    spec.startup_timeout = _seconds(raw.get("startup_timeout", 30), "startup_timeout", fail)
    confirm = raw.get("confirm")
    if confirm is not None and not isinstance(confirm, bool):
        confirm = _texts(confirm, "confirm", fail)
    spec.confirm = confirm
    from llmrun.sandbox.policy import parse

    spec.sandbox = parse(raw.get("sandbox"), lambda problem, *keys: fail(problem), where)
    return spec


def load_file(path: str) -> List[ServerSpec]:
    """Every server of a file in the `{"mcpServers": {…}}` shape (JSON is YAML too)."""
    from llmrun.base.yamlfile import load_yaml

    from llmrun.base.files import read_text

    try:
        text = read_text(os.path.expanduser(path), "MCP server file")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read MCP server file {path}: {getattr(exc, 'strerror', exc)}")
    data, lines = load_yaml(text, path)
    servers = data.get("mcpServers") if isinstance(data, dict) else None
    if not isinstance(servers, dict):
        raise ConfigError(f"{path}:{lines.root}: an MCP server file needs a mapping "
                          "'mcpServers: {NAME: {command: …}}'")
    return [parse_server(str(name), raw, f"{path}:{lines.at('mcpServers', name)}")
            for name, raw in servers.items()
            if not (isinstance(raw, dict) and raw.get("disabled") is True)]


def resolve(specs: List[str], configured: Mapping[str, ServerSpec]) -> List[ServerSpec]:
    """--mcp/LLMRUN_MCP values: a file of servers, or the name of one in the config."""
    out: List[ServerSpec] = []
    for item in specs:
        if item in configured and not os.path.isfile(item):
            out.append(configured[item])
        elif os.path.exists(os.path.expanduser(item)):
            out.extend(load_file(item))
        else:
            known = ", ".join(sorted(configured)) or "none in the config file"
            raise ConfigError(f"--mcp {item}: no such file, and no MCP server of that name "
                              f"(configured: {known})")
    seen: Dict[str, ServerSpec] = {}
    for spec in out:
        if spec.name in seen and seen[spec.name] is not spec:
            raise ConfigError(f"MCP server '{spec.name}' is defined twice ({seen[spec.name].where} "
                              f"and {spec.where})")
        seen[spec.name] = spec
    return list(seen.values())


def _text(value: Any, key: str, fail: Callable[[str], ConfigError]) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float)) or value == "":
        raise fail(f"{key} must be a non-empty string")
    return str(value)


def _texts(value: Any, key: str, fail: Callable[[str], ConfigError]) -> List[str]:
    if not isinstance(value, list):
        raise fail(f"{key} must be a list of strings")
    return [_text(v, key, fail) for v in value]


def _table(value: Any, key: str, fail: Callable[[str], ConfigError]) -> Dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise fail(f"{key} must map names to strings")
    return {str(k): _text(v, key, fail) if v != "" else "" for k, v in value.items()}


def _seconds(value: Any, key: str, fail: Callable[[str], ConfigError]) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < value < 1e6:
        raise fail(f"{key} must be a positive number of seconds")
    return float(value)

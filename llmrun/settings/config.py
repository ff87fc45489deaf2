"""The config file: where it is, and its content checked (every error names file and line).

An environment variable set to the empty string counts as unset, so `LLMRUN_MODEL= llmrun …`
falls back to the config file instead of sending an empty model id. How the file, the
environment and the command line combine is llmrun.settings.resolve.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from llmrun.base.errors import ConfigError
from llmrun.settings.providers import DIALECTS, GENERIC, Provider, make_dialect, preset


def env(name: str, environ: Mapping[str, str] = os.environ) -> Optional[str]:
    """An environment variable, with the empty string counting as unset."""
    value = environ.get(name)
    return value if value else None


#: `llmrun --config FILE`: beats LLMRUN_CONFIG (set by the command line, read here).
CONFIG_OPTION: Optional[str] = None


def config_source(environ: Mapping[str, str] = os.environ) -> Optional[str]:
    """What named the config file: --config, LLMRUN_CONFIG, or None for the default place."""
    if CONFIG_OPTION:
        return "--config"
    return "LLMRUN_CONFIG" if env("LLMRUN_CONFIG", environ) else None


def config_path(environ: Mapping[str, str] = os.environ) -> str:
    """--config, else LLMRUN_CONFIG, else `config.yaml` in click's app dir
    ($XDG_CONFIG_HOME/llmrun, ~/.config/llmrun)."""
    explicit = CONFIG_OPTION or env("LLMRUN_CONFIG", environ)
    if explicit:
        return os.path.expanduser(explicit)
    import click

    return os.path.join(click.get_app_dir("llmrun"), "config.yaml")


@dataclass
class Config:
    """The config file's content, checked."""

    path: Optional[str] = None
    provider: Optional[str] = None
    model: Optional[str] = None
    system: Optional[str] = None
    tools: List[str] = field(default_factory=list)
    providers: Dict[str, Provider] = field(default_factory=dict)
    tools_source: str = ""  # where `tools` came from, for messages
    mcp: List[str] = field(default_factory=list)  # servers used by default
    #: name -> (the SERVER mapping, "file:line"): parsed when a run uses it, so a server
    #: nobody asked for cannot fail a run (say, over an unset ${TOKEN})
    mcp_servers: Dict[str, Tuple[Any, str]] = field(default_factory=dict)
    #: top-level `prices:` (USD per million tokens, by model): for any provider that reports
    #: no cost; a provider's own `prices` win
    prices: Dict[str, Dict[str, float]] = field(default_factory=dict)
    log: Any = True  # the run log: True, False or "metadata" (llmrun.runlog)
    log_db: Optional[str] = None
    log_keep: Optional[float] = None  # seconds
    sandbox: bool = True  # false: every tool runs unconfined
    sandbox_where: str = ""  # file:line of `sandbox:`, for -v
    sandbox_tools: Dict[str, Any] = field(default_factory=dict)  # name -> Declared
    sandbox_deny: List[str] = field(default_factory=list)
    sandbox_network: Optional[str] = None  # "port-only" accepts Landlock's port rule


def load_config(environ: Mapping[str, str] = os.environ) -> Config:
    """Read the config file if there is one; a broken one is a ConfigError naming file and line."""
    path = config_path(environ)
    named = config_source(environ)
    from llmrun.base.files import read_text

    try:
        text = read_text(path, "config file")
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not UTF-8 text")
    except OSError as exc:
        if not named:  # the default place, unreachable (no HOME, HOME=/dev/null): no config
            return Config()
        if isinstance(exc, FileNotFoundError):
            raise ConfigError(f"config file {path} does not exist (named by {named})")
        if isinstance(exc, IsADirectoryError):
            raise ConfigError(f"config file {path} is a directory, not a YAML file (named by "
                              f"{named})")
        raise ConfigError(f"cannot read config file {path}: {exc.strerror} (named by {named})")
    from llmrun.base.yamlfile import load_yaml

    data, lines = load_yaml(text, path)
    return _parse_config(data, lines, path)


_TOP_KEYS = ("provider", "model", "system", "tools", "providers", "mcp", "mcp_servers",
             "prices", "log", "log_db", "log_keep", "sandbox", "sandbox_tools", "sandbox_deny",
             "sandbox_network")
_PROVIDER_KEYS = ("name", "base_url", "api_key_env", "api_key_file", "dialect", "headers",
                  "token_field", "cache", "prices", "schema_mode")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _parse_config(data: Any, lines: Any, path: str) -> Config:
    def fail(where: Tuple[Any, ...], problem: str) -> ConfigError:
        return ConfigError(f"{path}:{lines.at(*where)}: {problem}")

    if data is None:
        return Config(path=path)
    if not isinstance(data, dict):
        raise fail((), "the config file must be a mapping of settings (provider: …, model: …)")
    for key in data:
        if key not in _TOP_KEYS:
            raise fail((key,), f"unknown setting '{key}' (known: {', '.join(_TOP_KEYS)})")
    cfg = Config(path=path)
    for key in ("provider", "model", "system"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise fail((key,), f"'{key}' must be a string")
        setattr(cfg, key, value or None)
    cfg.tools = _tool_paths(data.get("tools"), path, lambda p: fail(("tools",), p))
    if "tools" in data:  # name only a source that is there
        cfg.tools_source = f"'tools:' in {path}:{lines.at('tools')}"
    providers = data.get("providers") or []
    if not isinstance(providers, list):
        raise fail(("providers",), "'providers' must be a list of mappings "
                                   "(each with name and base_url)")
    _parse_mcp(data, cfg, path, lines, fail)
    cfg.prices = _prices(data.get("prices"), lambda p: fail(("prices",), p))
    _parse_log(data, cfg, path, fail)
    _parse_sandbox(data, cfg, path, lines, fail)
    for i, entry in enumerate(providers):
        provider = _parse_provider(entry, lambda key, problem, i=i:
                                   fail(("providers", i) + ((key,) if key else ()), problem))
        if isinstance(entry.get("api_key_file"), str) and entry["api_key_file"]:
            folder = os.path.dirname(os.path.abspath(path))
            provider.api_key_file = os.path.join(folder, os.path.expanduser(entry["api_key_file"]))
        elif "api_key_file" in entry:
            raise fail(("providers", i, "api_key_file"), f"provider '{provider.name}': "
                       "api_key_file must be the path of a file holding the key")
        if provider.name in cfg.providers:
            raise fail(("providers", i, "name"), f"provider '{provider.name}' is defined twice")
        cfg.providers[provider.name] = provider
    return cfg


def _parse_mcp(data: Dict[str, Any], cfg: Config, path: str, lines: Any,
               fail: Callable[..., ConfigError]) -> None:
    """`mcp_servers: {NAME: SERVER}` and `mcp: [NAME, …]` (the servers used by default)."""
    servers = data.get("mcp_servers") or {}
    if not isinstance(servers, dict):
        raise fail(("mcp_servers",), "'mcp_servers' must map names to servers "
                                     "({command: …} or {url: …})")
    for name, raw in servers.items():
        cfg.mcp_servers[str(name)] = (raw, f"{path}:{lines.at('mcp_servers', name)}")
    names = data.get("mcp") or []
    if isinstance(names, str):
        names = [names]
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise fail(("mcp",), "'mcp' must be a list of server names from mcp_servers")
    for i, name in enumerate(names):
        if name not in cfg.mcp_servers:
            raise fail(("mcp", i), f"'mcp' names server '{name}', which mcp_servers does not "
                                   f"define (defined: {', '.join(cfg.mcp_servers) or 'none'})")
    cfg.mcp = list(names)


def _parse_log(data: Dict[str, Any], cfg: Config, path: str,
               fail: Callable[..., ConfigError]) -> None:
    """`log: true|false|metadata`, `log_db: PATH` (relative to the file), `log_keep: AGE`."""
    from llmrun.runlog.settings import parse_age

    log = data.get("log", True)
    if log not in (True, False, "metadata"):
        raise fail(("log",), "'log' must be true, false or metadata")
    cfg.log = log
    db = data.get("log_db")
    if db is not None:
        if not isinstance(db, str) or not db:
            raise fail(("log_db",), "'log_db' must be the path of the run log file")
        cfg.log_db = os.path.join(os.path.dirname(os.path.abspath(path)),
                                  os.path.expanduser(db))
    keep = data.get("log_keep")
    if keep is not None:
        seconds = parse_age(str(keep)) if not isinstance(keep, bool) else None
        if seconds is None or seconds <= 0:
            raise fail(("log_keep",), "'log_keep' must be an age such as 90d, 12w or 1y")
        cfg.log_keep = seconds


def _parse_sandbox(data: Dict[str, Any], cfg: Config, path: str, lines: Any,
                   fail: Callable[..., ConfigError]) -> None:
    """`sandbox`, `sandbox_tools`, `sandbox_deny`, `sandbox_network`."""
    from llmrun.sandbox.policy import parse

    if "sandbox" in data:
        if not isinstance(data["sandbox"], bool):
            raise fail(("sandbox",), "'sandbox' must be true or false")
        cfg.sandbox, cfg.sandbox_where = data["sandbox"], f"{path}:{lines.at('sandbox')}"
    tools = data.get("sandbox_tools") or {}
    if not isinstance(tools, dict):
        raise fail(("sandbox_tools",), "'sandbox_tools' must map tool or server names to "
                                       "sandbox policies ({read, write, network, unix} or false)")
    for name, raw in tools.items():
        cfg.sandbox_tools[str(name)] = parse(
            raw, lambda problem, *keys, n=name: fail(("sandbox_tools", n) + keys,
                                                     f"sandbox_tools: {n}: {problem}"),
            f"{path}:{lines.at('sandbox_tools', name)}")
    deny = data.get("sandbox_deny") or []
    if isinstance(deny, str):
        deny = [deny]
    if not isinstance(deny, list) or not all(isinstance(d, str) and d for d in deny):
        raise fail(("sandbox_deny",), "'sandbox_deny' must be a list of paths")
    folder = os.path.dirname(os.path.abspath(path))
    cfg.sandbox_deny = [os.path.join(folder, os.path.expanduser(d)) for d in deny]
    network = data.get("sandbox_network")
    if network not in (None, "port-only", "strict"):
        raise fail(("sandbox_network",), "'sandbox_network' must be port-only or strict")
    cfg.sandbox_network = network


def _tool_paths(value: Any, path: str, fail: Callable[[str], ConfigError]) -> List[str]:
    """Tool paths; `~` expands, and a relative path is relative to the config file."""
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(t, str) and t for t in value):
        raise fail("'tools' must be a path or a list of paths")
    folder = os.path.dirname(os.path.abspath(path))
    return [os.path.join(folder, os.path.expanduser(t)) for t in value]


def _parse_provider(entry: Any, fail: Callable[[Optional[str], str], ConfigError]) -> Provider:
    """One `providers:` entry. Named like a preset, it inherits what it leaves out."""
    if not isinstance(entry, dict):
        raise fail(None, "each provider must be a mapping with name and base_url")
    for key in entry:
        if key not in _PROVIDER_KEYS:
            raise fail(key, f"unknown provider setting '{key}' "
                            f"(known: {', '.join(_PROVIDER_KEYS)})")
    name = entry.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise fail("name" if "name" in entry else None,
                   "a provider needs a 'name' of letters, digits, '.', '_' and '-'")
    base = preset(name)
    base_url = entry.get("base_url", base.base_url if base else None)
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise fail("base_url" if "base_url" in entry else None,
                   f"provider '{name}' needs a 'base_url' starting with http:// or https://")
    dialect = entry.get("dialect", base.dialect.name if base else GENERIC)
    if dialect not in DIALECTS:
        raise fail("dialect", f"provider '{name}': dialect must be one of "
                              f"{', '.join(DIALECTS)}, not {dialect!r}")
    key_env = entry.get("api_key_env", base.api_key_env if base else None) or None
    if key_env is not None and (not isinstance(key_env, str) or not _ENV_NAME.fullmatch(key_env)):
        raise fail("api_key_env", f"provider '{name}': api_key_env must be the NAME of an "
                                  "environment variable (never the key itself)")
    headers = entry.get("headers") or {}
    if not isinstance(headers, dict) or not all(
            isinstance(v, (str, int, float)) and not isinstance(v, bool)
            for v in headers.values()):
        raise fail("headers", f"provider '{name}': 'headers' must map header names to "
                              "strings")
    token_field = entry.get("token_field")
    if token_field not in (None, "max_tokens", "max_completion_tokens"):
        raise fail("token_field", f"provider '{name}': token_field must be max_tokens or "
                                  "max_completion_tokens")
    cache = entry.get("cache", True)
    if not isinstance(cache, bool):
        raise fail("cache", f"provider '{name}': cache must be true or false")
    prices = _prices(entry.get("prices"), lambda p: fail("prices", f"provider '{name}': {p}"))
    schema_mode = entry.get("schema_mode", base.dialect.schema_mode if base else None)
    if schema_mode not in (None, "response_format", "tool"):
        raise fail("schema_mode", f"provider '{name}': schema_mode must be response_format or "
                                  "tool")
    from llmrun.base.secrets import hide_names

    hide_names([key_env])  # whatever it is called, no tool sees this provider's key
    return Provider(name, base_url.rstrip("/"), key_env,
                    make_dialect(dialect, token_field, schema_mode),
                    {str(k): str(v) for k, v in headers.items()}, cache, prices)


#: The highest price llmrun accepts, in USD per million tokens ($1 a token). Times the most
#: tokens a step may report (loop/usage.py) it still is a finite cost.
MAX_PRICE = 1e6


def _prices(value: Any, fail: Callable[[str], ConfigError]) -> Dict[str, Dict[str, float]]:
    """prices: {MODEL: {prompt, completion, cached}}, USD per million tokens."""
    if value is None:
        return {}
    shape = "prices must map model ids to {prompt: USD, completion: USD, cached: USD} per " \
            "million tokens"
    if not isinstance(value, dict):
        raise fail(shape)
    out: Dict[str, Dict[str, float]] = {}
    for model, table in value.items():
        if not isinstance(table, dict) or not table or any(
                k not in ("prompt", "completion", "cached") or isinstance(v, bool)
                or not isinstance(v, (int, float)) for k, v in table.items()):
            raise fail(shape)
        for kind, price in table.items():
            if not 0 <= price <= MAX_PRICE:  # also NaN; .inf and 1e308 overflow any sum
                raise fail(f"prices: {model}: {kind} must be a number of USD per million "
                           f"tokens from 0 to {MAX_PRICE:g}, not {price!r} (.nan, .inf and "
                           "absurd prices would silently disable --max-cost)")
        out[str(model)] = {k: float(v) for k, v in table.items()}
    return out

"""Settings for one run: command line beats environment beats config file beats preset."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional

from llmrun.errors import ConfigError, UsageError
from llmrun.providers import DIALECTS, GENERIC, Dialect, Provider, make_dialect, preset


def env(name: str, environ: Mapping[str, str] = os.environ) -> Optional[str]:
    """An environment variable, with the empty string counting as unset."""
    value = environ.get(name)
    return value if value else None


def config_path(environ: Mapping[str, str] = os.environ) -> str:
    explicit = env("LLMRUN_CONFIG", environ)
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


def load_config(environ: Mapping[str, str] = os.environ) -> Config:
    """Read the config file if there is one; a broken one is a ConfigError naming file and line."""
    path = config_path(environ)
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        if env("LLMRUN_CONFIG", environ):
            raise ConfigError(f"config file {path} does not exist (named by LLMRUN_CONFIG)")
        return Config()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}")
    from llmrun.yamlfile import load_yaml

    data, lines = load_yaml(text, path)
    return _parse_config(data, lines, path)


_TOP_KEYS = {"provider", "model", "system", "tools", "providers"}
_PROVIDER_KEYS = {"name", "base_url", "api_key_env", "dialect", "headers", "token_field"}


def _parse_config(data: Any, lines: Any, path: str) -> Config:
    def fail(line: int, problem: str) -> ConfigError:
        return ConfigError(f"{path}:{line}: {problem}")

    if data is None:
        return Config(path=path)
    if not isinstance(data, dict):
        raise fail(lines.root, "the config file must be a mapping of settings")
    for key in data:
        if key not in _TOP_KEYS:
            raise fail(lines.key(key), f"unknown setting '{key}' "
                                       f"(known: {', '.join(sorted(_TOP_KEYS))})")
    cfg = Config(path=path)
    for key in ("provider", "model", "system"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise fail(lines.key(key), f"'{key}' must be a string")
        setattr(cfg, key, value or None)
    tools = data.get("tools") or []
    if isinstance(tools, str):
        tools = [tools]
    if not isinstance(tools, list) or not all(isinstance(t, str) for t in tools):
        raise fail(lines.key("tools"), "'tools' must be a list of paths")
    cfg.tools = [os.path.expanduser(t) for t in tools]
    providers = data.get("providers") or []
    if not isinstance(providers, list):
        raise fail(lines.key("providers"), "'providers' must be a list of mappings")
    for i, entry in enumerate(providers):
        where = lines.item("providers", i)
        provider = _parse_provider(entry, lambda problem: fail(where, problem))
        cfg.providers[provider.name] = provider
    return cfg


def _parse_provider(entry: Any, fail) -> Provider:
    if not isinstance(entry, dict):
        raise fail("each provider must be a mapping with name and base_url")
    unknown = set(entry) - _PROVIDER_KEYS
    if unknown:
        raise fail(f"unknown provider setting '{sorted(unknown)[0]}' "
                   f"(known: {', '.join(sorted(_PROVIDER_KEYS))})")
    name, base_url = entry.get("name"), entry.get("base_url")
    if not isinstance(name, str) or not name:
        raise fail("a provider needs a 'name'")
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise fail(f"provider '{name}' needs a 'base_url' starting with http:// or https://")
    dialect = entry.get("dialect", "generic")
    if dialect not in DIALECTS:
        raise fail(f"provider '{name}': dialect must be one of {', '.join(DIALECTS)}")
    headers = entry.get("headers") or {}
    if not isinstance(headers, dict):
        raise fail(f"provider '{name}': 'headers' must be a mapping")
    token_field = entry.get("token_field")
    if token_field not in (None, "max_tokens", "max_completion_tokens"):
        raise fail(f"provider '{name}': token_field must be max_tokens or "
                   "max_completion_tokens")
    key_env = entry.get("api_key_env") or None
    return Provider(name, base_url.rstrip("/"), key_env, make_dialect(dialect, token_field),
                    {str(k): str(v) for k, v in headers.items()})


@dataclass
class Settings:
    provider: Provider
    model: str
    api_key: Optional[str]
    system: Optional[str]
    tool_paths: List[str]


def find_provider(name: str, cfg: Config) -> Provider:
    provider = cfg.providers.get(name) or preset(name)
    if provider is None:
        from llmrun.providers import PRESETS

        known = sorted(set(PRESETS) | set(cfg.providers))
        raise ConfigError(f"unknown provider '{name}' (known: {', '.join(known)}; "
                          "or pass --base-url for any OpenAI-compatible server)")
    return provider


def resolve(opts: Dict[str, Any], cfg: Config, environ: Mapping[str, str] = os.environ,
            need_key: bool = True, fallback: Optional[Dict[str, str]] = None) -> Settings:
    """Merge command line, environment, config file and presets into one Settings.

    `fallback` supplies provider/model/base_url when nothing else does (a cassette's).
    """
    fallback = fallback or {}
    name = opts.get("provider") or env("LLMRUN_PROVIDER", environ) or cfg.provider
    base_url = opts.get("base_url") or env("LLMRUN_BASE_URL", environ)
    if not name and not base_url:
        name = fallback.get("provider")
        base_url = None if name else fallback.get("base_url")
    if name:
        provider = find_provider(name, cfg)
    elif base_url:
        provider = Provider(GENERIC, base_url, None, Dialect())
    else:
        raise UsageError("no provider: pass -p NAME (openai, openrouter, vercel, …) or "
                         "--base-url URL, or set LLMRUN_PROVIDER")
    if base_url:
        provider.base_url = base_url.rstrip("/")
    model = opts.get("model") or env("LLMRUN_MODEL", environ) or cfg.model \
        or fallback.get("model")
    if not model:
        raise UsageError("no model: pass -m MODEL or set LLMRUN_MODEL")
    api_key = env("LLMRUN_API_KEY", environ)
    if not api_key and provider.api_key_env:
        api_key = env(provider.api_key_env, environ)
        if not api_key and need_key:
            raise ConfigError(f"missing API key for {provider.name}: set "
                              f"{provider.api_key_env} (or LLMRUN_API_KEY)")
    system = opts.get("system")
    if system is None:
        system = cfg.system
    tool_paths = list(opts.get("tools") or ())
    if not tool_paths:
        from_env = env("LLMRUN_TOOLS", environ)
        tool_paths = [p for p in from_env.split(os.pathsep) if p] if from_env else cfg.tools
    return Settings(provider, model, api_key, system, tool_paths)

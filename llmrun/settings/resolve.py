"""The settings of one run: command line beats environment beats config file beats preset.

Each setting remembers where it came from (an option, a variable, `file:line`, a preset, the
first-run choice), so every error can name its source and `llmrun config show` can list them.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Tuple

from llmrun.base.errors import ConfigError, UsageError
from llmrun.settings.config import Config, env
from llmrun.settings.providers import DEFAULT_MODELS, GENERIC, PRESETS, Dialect, Provider, preset


@dataclass
class Settings:
    provider: Provider
    model: str
    api_key: Optional[str]
    system: Optional[str]
    tool_paths: List[str]
    #: setting -> where it came from ("-m", "LLMRUN_MODEL", "'model:' in FILE:LINE", …)
    sources: Dict[str, str] = field(default_factory=dict)
    notes: List[str] = field(default_factory=list)  # choices made for the user (shown by -v)


def find_provider(name: str, cfg: Config, source: Optional[str] = None) -> Provider:
    """A provider from the config file, else a preset; a copy, safe to change."""
    provider = cfg.providers.get(name) or preset(name)
    if provider is None:
        known = sorted(set(PRESETS) | set(cfg.providers))
        where = f"named by {source}; " if source else ""
        raise ConfigError(f"unknown provider '{name}' ({where}known: {', '.join(known)}; "
                          "or pass --base-url for any OpenAI-compatible server)")
    return dataclasses.replace(provider, headers=dict(provider.headers))


def default_provider(cfg: Config, environ: Mapping[str, str] = os.environ) -> Optional[str]:
    """The provider used without -p: LLMRUN_PROVIDER, else the config file's (unless
    LLMRUN_BASE_URL alone asks for a generic server)."""
    named = env("LLMRUN_PROVIDER", environ)
    if named or env("LLMRUN_BASE_URL", environ):
        return named
    return cfg.provider


def first_run_provider(environ: Mapping[str, str] = os.environ) -> Optional[str]:
    """With nothing configured: the one preset whose key variable is set, if exactly one is."""
    ready = [name for name, (_, key, _) in PRESETS.items() if key and env(key, environ)]
    return ready[0] if len(ready) == 1 else None


def _no_provider(environ: Mapping[str, str]) -> "UsageError | ConfigError":
    """Several keys set is a choice for the command line (exit 2); no key at all is a missing
    API key (exit 3, as when the provider was named), whatever else is missing."""
    ready = [f"{name} ({key})" for name, (_, key, _) in PRESETS.items()
             if key and env(key, environ)]
    tail = "; LLMRUN_PROVIDER or 'provider:' in the config file ('llmrun config path') set a " \
           "default"
    if ready:
        return UsageError(f"no provider: several presets have a key set ({', '.join(ready)}): "
                          f"choose one with -p NAME{tail}")
    why = ("set a key (OPENAI_API_KEY, OPENROUTER_API_KEY, AI_GATEWAY_API_KEY, …) and llmrun "
           "uses that provider, or pass -p NAME (see 'llmrun providers') or --base-url URL")
    if env("LLMRUN_API_KEY", environ):
        return UsageError(f"no provider: LLMRUN_API_KEY is set, but for which provider? "
                          f"{why}{tail}")
    error = ConfigError(f"missing API key: no provider is named and no key is set: {why}{tail}")
    error.no_provider = True  # type: ignore[attr-defined]  # `config show`: nothing chosen yet
    return error


def resolve_provider(opts: Mapping[str, Any], cfg: Config,
                     environ: Mapping[str, str] = os.environ, need_key: bool = True,
                     fallback: Optional[Mapping[str, str]] = None,
                     sources: Optional[Dict[str, str]] = None
                     ) -> Tuple[Provider, Optional[str]]:
    """The provider and its key. A base URL (command line or environment) without a provider
    name means a generic server, even when the config file names a default provider."""
    fallback = fallback or {}
    sources = {} if sources is None else sources
    name = opts.get("provider") or env("LLMRUN_PROVIDER", environ)
    base_url = opts.get("base_url") or env("LLMRUN_BASE_URL", environ)
    url_source = "--base-url" if opts.get("base_url") else "LLMRUN_BASE_URL"
    if base_url and not base_url.startswith(("http://", "https://")):
        raise UsageError(f"{url_source} must start with http:// or https://, not {base_url!r}")
    source = "-p" if opts.get("provider") else "LLMRUN_PROVIDER"
    if not name and not base_url:
        if cfg.provider:
            name, source = cfg.provider, f"'provider:' in {cfg.path}"
        elif fallback.get("provider") or fallback.get("base_url"):
            name, source = fallback.get("provider"), "the cassette"
            base_url, url_source = (None if name else fallback.get("base_url")), "the cassette"
        else:
            name = first_run_provider(environ)
            source = f"first run: {PRESETS[name][1]} is the only preset key set" if name else ""
    if name:
        provider = find_provider(name, cfg, None if source == "-p" else source)
        sources["provider"] = source
    elif base_url:
        provider = Provider(GENERIC, base_url, None, Dialect())
        sources["provider"] = url_source
    else:
        raise _no_provider(environ)
    if base_url:
        provider.base_url = base_url.rstrip("/")
        sources["base_url"] = url_source
    if cfg.prices:  # the top-level prices, for the models the provider prices not itself
        provider.prices = {**cfg.prices, **provider.prices}
    return provider, _key(provider, environ, need_key, sources)


def _key_file(provider: Provider) -> str:
    """The key from `api_key_file`: a file only its owner may read (mode 0600 or stricter)."""
    path = provider.api_key_file or ""
    try:
        with open(path, "rb") as fh:
            mode = os.fstat(fh.fileno()).st_mode
            data = fh.read(65536)
    except OSError as exc:
        raise ConfigError(f"provider '{provider.name}': cannot read api_key_file {path}: "
                          f"{exc.strerror or exc}")
    if mode & 0o077:
        raise ConfigError(f"provider '{provider.name}': api_key_file {path} may be read by "
                          f"others (mode {mode & 0o777:o}); chmod 600 {path}")
    key = data.decode("utf-8", "replace").strip()
    if not key:
        raise ConfigError(f"provider '{provider.name}': api_key_file {path} is empty")
    return key


def _key(provider: Provider, environ: Mapping[str, str], need_key: bool,
         sources: Dict[str, str]) -> Optional[str]:
    api_key = env("LLMRUN_API_KEY", environ)
    if api_key:
        sources["api_key"] = "LLMRUN_API_KEY"
    elif provider.api_key_file:
        api_key = _key_file(provider)
        sources["api_key"] = f"api_key_file {provider.api_key_file}"
    elif provider.api_key_env:
        api_key = env(provider.api_key_env, environ)
        if api_key:
            sources["api_key"] = provider.api_key_env
        elif need_key:
            raise ConfigError(f"missing API key for {provider.name}: set "
                              f"{provider.api_key_env} (or LLMRUN_API_KEY)")
    return api_key


def resolve(opts: Mapping[str, Any], cfg: Config, environ: Mapping[str, str] = os.environ,
            need_key: bool = True, fallback: Optional[Mapping[str, str]] = None) -> Settings:
    """Merge command line, environment, config file and presets into one Settings.

    `fallback` supplies provider/model/base_url when nothing else does (a cassette's).
    """
    fallback = fallback or {}
    sources: Dict[str, str] = {}
    provider, api_key = resolve_provider(opts, cfg, environ, need_key, fallback, sources)
    model, sources["model"] = _first((opts.get("model"), "-m"),
                                     (env("LLMRUN_MODEL", environ), "LLMRUN_MODEL"),
                                     (cfg.model, f"'model:' in {cfg.path}"),
                                     (fallback.get("model"), "the cassette"),
                                     (DEFAULT_MODELS.get(provider.name),
                                      f"the {provider.name} preset's default"))
    if not model:
        raise UsageError("no model: pass -m MODEL, set LLMRUN_MODEL or 'model:' in the "
                         "config file ('llmrun models' lists them)")
    system, sources["system"] = _first((opts.get("system"), "-s"),
                                       (cfg.system, f"'system:' in {cfg.path}"))
    tool_paths, sources["tools"] = _tool_paths(opts, cfg, environ)
    settings = Settings(provider, model, api_key, system, tool_paths, sources)
    if sources.get("provider", "").startswith("first run"):
        settings.notes.append(f"using {provider.name} with model {model}: its key variable "
                              f"{provider.api_key_env} is the only one set (-p and -m choose "
                              "others)")
    elif sources["model"].endswith("default"):
        settings.notes.append(f"using {provider.name}'s default model {model} (-m chooses "
                              "another)")
    return settings


def _tool_paths(opts: Mapping[str, Any], cfg: Config,
                environ: Mapping[str, str]) -> Tuple[List[str], str]:
    given = list(opts.get("tools") or ())
    if given:
        return given, "-t"
    from_env = env("LLMRUN_TOOLS", environ)
    if from_env:
        return [p for p in from_env.split(os.pathsep) if p], "LLMRUN_TOOLS"
    return list(cfg.tools), cfg.tools_source


def _first(*candidates: Tuple[Any, str]) -> Tuple[Any, str]:
    for value, source in candidates:
        if value is not None and value != "":
            return value, source
    return None, ""

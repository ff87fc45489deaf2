"""`llmrun config path` and `llmrun config show`: where the settings come from.

`show` lists the settings a run would use with no options, and the source of each -- an
environment variable, `file:line` of the config file, a preset, the first-run choice -- with
keys masked (a key's value is never printed, only whether it is set and where).
"""

from __future__ import annotations

import os
import sys
from typing import List, Tuple


def show_path() -> int:
    from llmrun.settings.config import config_path, config_source

    path = config_path()
    sys.stdout.write(path + "\n")
    if not os.path.isfile(path):
        named = config_source()
        how = f" (named by {named})" if named else \
            " (not there yet: create it to set defaults; samples/config.yaml shows the shape)"
        sys.stderr.write(f"llmrun: no config file at {path}{how}\n")
    return 0


def show_settings() -> int:
    from llmrun.base.errors import LlmrunError, UsageError, report
    from llmrun.settings.config import config_path, load_config
    from llmrun.settings.resolve import resolve

    rows: List[Tuple[str, str, str]] = [("config file", config_path(),
                                         "exists" if os.path.isfile(config_path()) else
                                         "not found")]
    try:
        cfg = load_config()
        settings = resolve({}, cfg, need_key=False)
    except LlmrunError as exc:
        for name, value, source in rows:
            sys.stdout.write(f"{name:<12} {value}  [{source}]\n")
        if isinstance(exc, UsageError) or getattr(exc, "no_provider", False):
            # nothing chosen yet: that is the answer, not an error
            sys.stdout.write(f"{'settings':<12} incomplete  [{exc.message}]\n")
            return 0
        return report(exc)
    provider = settings.provider
    src = settings.sources
    key_var = src.get("api_key")
    rows += [("provider", provider.name, src.get("provider", "")),
             ("base_url", provider.base_url, src.get("base_url") or _provider_source(cfg,
                                                                                 provider)),
             ("api key", mask(settings.api_key) if settings.api_key else "not set",
              key_var or (f"set {provider.api_key_env}" if provider.api_key_env else
                          "this server needs none")),
             ("model", settings.model, src.get("model", "")),
             ("dialect", provider.dialect.name, _provider_source(cfg, provider)),
             ("system", settings.system or "(none)", src.get("system") or "nothing set"),
             ("tools", ", ".join(settings.tool_paths) or "(none)",
              src.get("tools") or "nothing set"),
             ("mcp", ", ".join(cfg.mcp) or "(none)", "'mcp:' in the config file" if cfg.mcp
              else "nothing set")]
    for name, value, source in rows:
        sys.stdout.write(f"{name:<12} {' '.join(str(value).split())}  [{source}]\n")
    return 0


def _provider_source(cfg: object, provider: object) -> str:
    """Where a provider's URL and dialect come from: only a source that is there."""
    from llmrun.settings.providers import GENERIC, preset

    name = getattr(provider, "name", "")
    if name in getattr(cfg, "providers", {}):
        return f"'providers:' in {getattr(cfg, 'path', 'the config file')}" + \
            (f" over the {name} preset" if preset(name) else "")
    if preset(name) is not None:
        return f"the {name} preset"
    return "a generic OpenAI-compatible server" if name == GENERIC else name


def mask(key: str) -> str:
    """Enough to tell two keys apart, never enough to use one."""
    return f"{key[:3]}…{key[-2:]} ({len(key)} characters)" if len(key) > 8 else "…(set)"

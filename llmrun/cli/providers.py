"""`llmrun providers` and `llmrun models`: what llmrun can talk to, and what it offers.

`providers` never reads a key's value beyond asking whether it is set. `models` uses the same
provider resolution, headers, retries and error messages as `llmrun ask`.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Dict, List, Mapping, Optional
from urllib.parse import urlsplit, urlunsplit

from llmrun.base.errors import LlmrunError, StreamError, report


def provider_rows(environ: Mapping[str, str] = os.environ) -> List[Dict[str, Any]]:
    """One row per preset and config provider (a config entry replaces a preset's row)."""
    from llmrun.settings.config import env, load_config
    from llmrun.settings.providers import PRESETS, preset
    from llmrun.settings.resolve import default_provider

    cfg = load_config(environ)
    default = default_provider(cfg, environ)
    shared_key = env("LLMRUN_API_KEY", environ) is not None
    rows = []
    for name in list(PRESETS) + [n for n in cfg.providers if n not in PRESETS]:
        provider = cfg.providers.get(name) or preset(name)
        key_env = provider.api_key_env
        if key_env is None:
            key = "not needed"
        elif env(key_env, environ) is not None:
            key = "set"
        else:
            key = "via LLMRUN_API_KEY" if shared_key else "not set"
        rows.append({"name": name, "base_url": safe_url(provider.base_url),
                     "api_key_env": key_env, "key": key,
                     "dialect": provider.dialect.name,
                     "source": "config" if name in cfg.providers else "preset",
                     "default": name == default})
    return rows


def safe_url(url: str) -> str:
    """The URL without a password in it (`https://user:secret@host` → `https://user@host`)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    netloc = f"{parts.username}:***@{host}" if parts.username else host
    return urlunsplit(parts._replace(netloc=netloc))


def list_providers(as_json: bool, out: Any = None) -> int:
    """Print the provider table (or a JSON list); return the exit status."""
    out = out or sys.stdout
    try:
        rows = provider_rows()
    except LlmrunError as exc:
        return report(exc)
    if as_json:
        out.write(json.dumps(rows, ensure_ascii=False) + "\n")
        return 0
    table = [["NAME", "BASE URL", "KEY VARIABLE", "KEY", "DIALECT", "FROM"]]
    for r in rows:
        table.append([("* " if r["default"] else "") + r["name"], r["base_url"],
                      r["api_key_env"] or "-", r["key"], r["dialect"], r["source"]])
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]) - 1)]
    for row in table:
        cells = [cell.ljust(w) for cell, w in zip(row, widths)] + [row[-1]]
        out.write("  ".join(cells).rstrip() + "\n")
    out.flush()
    return 0


def list_models(provider: Optional[str], base_url: Optional[str], as_json: bool,
                timeout: float = 30, retries: int = 2, out: Any = None) -> int:
    """GET {base_url}/models of the chosen provider; one id per line, or the JSON list."""
    out = out or sys.stdout
    try:
        models = fetch_models(provider, base_url, timeout, retries)
    except LlmrunError as exc:
        return report(exc)
    if as_json:
        out.write(json.dumps(models, ensure_ascii=False) + "\n")
    else:
        out.write("".join(f"{m['id']}\n" for m in models))
    out.flush()
    return 0


def fetch_models(provider: Optional[str], base_url: Optional[str], timeout: float,
                 retries: int) -> List[Dict[str, Any]]:
    """The server's model objects, sorted by id; errors carry ask's exit codes (3, 4, 5)."""
    from llmrun.settings.config import load_config
    from llmrun.settings.resolve import resolve_provider
    from llmrun.wire.transport import Transport

    prov, key = resolve_provider({"provider": provider, "base_url": base_url}, load_config(),
                                 need_key=False)
    if not key and prov.api_key_env and not prov.dialect.public_models:
        from llmrun.base.errors import ConfigError

        raise ConfigError(f"missing API key for {prov.name}: set {prov.api_key_env} (or "
                          "LLMRUN_API_KEY) to list its models")
    transport = Transport(prov, key, timeout, retries)
    try:
        data = transport.get_json("/models")
    finally:
        transport.close()
    return _model_list(data, prov.base_url + "/models")


def _model_list(data: Any, url: str) -> List[Dict[str, Any]]:
    """`{"data": [{"id": …}, …]}` (OpenAI and nearly everyone) or a bare list."""
    items = data.get("data", data.get("models")) if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise StreamError(f"{url} answered JSON without a list of models")
    models = []
    for item in items:
        if isinstance(item, str):
            item = {"id": item}
        if isinstance(item, dict) and isinstance(item.get("id") or item.get("name"), str):
            item.setdefault("id", item.get("name"))
            models.append(item)
    return sorted(models, key=lambda m: m["id"])

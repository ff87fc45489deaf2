"""Where the run log is and what it keeps: `--no-log`, `LLMRUN_NO_LOG`, `LLMRUN_LOG_DB`, and
the config's `log`, `log_db`, `log_keep`; also the WHEN and AGE words of `llmrun log`."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from typing import Any, Callable, List, Mapping, Optional

from llmrun.base.errors import UsageError

FULL, METADATA = "full", "metadata"
_AGE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(s|sec|m|min|h|d|w|y)\s*", re.IGNORECASE)
_UNITS = {"s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400,
          "y": 365 * 86400}


@dataclass
class LogSettings:
    """What one run's log needs: None `path` or `enabled=False` means nothing is recorded."""

    enabled: bool = True
    path: str = ""
    mode: str = FULL  # or METADATA: everything but the texts
    keep_s: Optional[float] = None  # log_keep: prune runs older than this
    source: str = "default"  # what named the path, for messages
    secrets: List[str] = field(default_factory=list)  # scrubbed values never stored


def default_path(environ: Mapping[str, str] = os.environ) -> str:
    """$XDG_STATE_HOME/llmrun/runs.db, else ~/.local/state/llmrun/runs.db (XDG: a relative
    XDG_STATE_HOME is ignored)."""
    state = environ.get("XDG_STATE_HOME") or ""
    if not os.path.isabs(state):
        home = environ.get("HOME") or os.path.expanduser("~")
        state = os.path.join(home, ".local", "state")
    return os.path.join(state, "llmrun", "runs.db")


def resolve_log(config_log: Any = None, config_db: Optional[str] = None,
                config_keep: Optional[float] = None, no_log: bool = False,
                environ: Mapping[str, str] = os.environ,
                is_secret: Optional[Callable[[str], bool]] = None) -> LogSettings:
    """Command line (`no_log`) > environment > config file > default. `config_log` is the
    config's `log:` value (True, False or "metadata"); `config_keep` is seconds."""
    settings = LogSettings()
    if no_log or environ.get("LLMRUN_NO_LOG", "") not in ("", "0") or config_log is False:
        settings.enabled = False
    settings.mode = METADATA if config_log == METADATA else FULL
    if environ.get("LLMRUN_LOG_DB"):
        settings.path, settings.source = environ["LLMRUN_LOG_DB"], "LLMRUN_LOG_DB"
    elif config_db:
        settings.path, settings.source = config_db, "config log_db"
    else:
        settings.path = default_path(environ)
    settings.path = os.path.abspath(os.path.expanduser(settings.path))
    settings.keep_s = config_keep
    if is_secret is not None:
        settings.secrets = sorted({v for k, v in environ.items() if v and is_secret(k)},
                                  key=len, reverse=True)
    return settings


def parse_age(text: str) -> Optional[float]:
    """`7d`, `12h`, `30m`, `2w`, `1y` in seconds; None when `text` is not an age."""
    match = _AGE.fullmatch(text or "")
    if not match:
        return None
    return float(match.group(1)) * _UNITS[match.group(2).lower()]


def parse_when(text: str, option: str, now: Optional[float] = None) -> float:
    """A moment as a Unix time: an age (`7d`: that long ago), a date (`2026-11-30`, local
    midnight), a date and time (`2026-11-30 14:00`, `2026-11-30T14:00:00+01:00`) or a time of
    today (`14:00`). Anything else is a usage error naming the option."""
    import datetime as dt

    now = time.time() if now is None else now
    age = parse_age(text)
    if age is not None:
        return now - age
    value = (text or "").strip()
    try:
        if re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", value):
            today = dt.datetime.fromtimestamp(now).date().isoformat()
            value = f"{today}T{value}"
        moment = dt.datetime.fromisoformat(value.replace(" ", "T", 1).replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(f"{option} {text!r}: expected an age (7d, 12h, 30m), a date "
                         "(2026-11-30), a date and time (2026-11-30 14:00) or a time (14:00)")
    return moment.timestamp()  # naive means local time


def from_config(cfg: Any, no_log: bool = False, environ: Mapping[str, str] = os.environ,
                is_secret: Optional[Callable[[str], bool]] = None) -> LogSettings:
    """The log settings of a run from a loaded config (llmrun.settings.config.Config)."""
    return resolve_log(getattr(cfg, "log", True), getattr(cfg, "log_db", None),
                       getattr(cfg, "log_keep", None), no_log, environ, is_secret)

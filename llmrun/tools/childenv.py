"""The environment of every process llmrun starts for a tool or an MCP server.

It is llmrun's own environment without secrets: the model chooses what a tool does, so a tool
that runs `env` must not be able to hand API keys or tokens to the model (and so to the
provider, the output and cassettes). A tool gets a secret only when its file names it in
`pass_env`. This is the one place that decides; every child's environment is built here.
"""

from __future__ import annotations

import os
import re
from typing import Dict, Iterable, Mapping, Optional

from llmrun.base.secrets import SECRET_NAMES

#: A variable whose name contains one of these (any case) is a secret.
SECRET_WORDS = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL")

def is_secret(name: str) -> bool:
    """True for a variable a tool must not see unless its file asks for it."""
    if name in SECRET_NAMES:
        return True
    upper = name.upper()
    return any(word in upper for word in SECRET_WORDS)


def child_env(pass_env: Iterable[str] = (), extra: Optional[Mapping[str, str]] = None,
              base: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """`base` (llmrun's environment) without secrets, plus the named `pass_env` variables
    that are set, plus `extra` (the tool's arguments, an MCP server's own `env`)."""
    source = os.environ if base is None else base
    env = {k: v for k, v in source.items() if not is_secret(k)}
    for name in pass_env:
        if name in source:
            env[name] = source[name]
    if extra:
        env.update(extra)
    return env


def env_name(key: str) -> str:
    """LLMRUN_ARG_<NAME> for an argument: upper-cased, anything but letters, digits and _
    becomes _."""
    return "LLMRUN_ARG_" + re.sub(r"[^A-Z0-9_]", "_", key.upper())

"""Where a run's tools come from: YAML files and MCP servers, behind one call.

`open_tools` returns every tool offered (names unique across sources, or exit 3 naming both
places) and a `close` that stops the MCP servers it started; nothing of the MCP client is
imported unless a server is in use.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Sequence

from llmrun.base.errors import ConfigError


def mcp_names(given: Sequence[str], cfg: Any) -> List[str]:
    """--mcp values, else LLMRUN_MCP (os.pathsep-separated), else the config's `mcp:`."""
    if given:
        return list(given)
    from_env = os.environ.get("LLMRUN_MCP")
    if from_env:
        return [p for p in from_env.split(os.pathsep) if p]
    return list(cfg.mcp)


@contextmanager
def open_tools(paths: Sequence[str], only: Sequence[str], mcp: Sequence[str], cfg: Any,
               show: Optional[Callable[[str], None]] = None, source: str = "",
               warn: Optional[Callable[[str], None]] = None,
               started: Optional[List[Any]] = None, sandbox: Any = None,
               enforce: bool = True, meanwhile: Optional[Callable[[], None]] = None
               ) -> Iterator[List[Any]]:
    """The tools of `paths` and of the MCP servers `mcp` names, while the servers run.

    `started`: servers already running for several runs (a Session's), used and left running;
    otherwise the servers are started here and stopped after. `sandbox`
    (llmrun.sandbox.policy.Settings, else the config's) gives each tool and server its policy;
    with `enforce`, a policy this machine cannot enforce is exit 3 before any server starts or
    any tool is offered. `meanwhile`: what to do while the servers start (start_all)."""
    from llmrun.sandbox.policy import settings_for
    from llmrun.tools.confine import assign, require
    from llmrun.tools.spec import load_tools, unique_names

    settings = sandbox if sandbox is not None else settings_for(cfg)
    try:
        tools = load_tools(paths, source=source, warn=warn) if paths else []
    except ConfigError as exc:  # the message counts every problem, as `tools check` does
        from llmrun.tools.checks import counted

        raise counted(exc, paths) from None
    assign(tools, settings)
    offered = [t for t in tools if not only or t.name in only]
    servers: List[Any] = list(started or [])
    own = started is None and bool(mcp)
    if own:
        servers = start_servers(mcp, cfg, show, settings, offered if enforce else None,
                                meanwhile)
    elif enforce:
        require(offered)
    confined = [t.policy for t in tools if getattr(t, "policy", None) is not None and
                t.policy.enabled]
    if enforce and confined:
        from llmrun.sandbox.launch import warm_up

        warm_up(confined)  # the first call's supervisor starts while the model is asked
    try:
        for server in servers:
            tools.extend(server.tools())
        named = unique_names(tools)
        if only:
            missing = [n for n in only if n not in named]
            if missing:
                raise ConfigError(f"--tool {missing[0]}: no such tool in the loaded tool files "
                                  f"or MCP servers (loaded: {', '.join(sorted(named)) or 'none'})")
            tools = [named[n] for n in dict.fromkeys(only)]
        yield tools
    finally:
        from llmrun.sandbox.launch import close_proxies

        if own:
            from llmrun.tools.mcp.source import stop_all

            stop_all(servers)
            close_proxies([getattr(s.spec, "policy", None) for s in servers])
        close_proxies([getattr(t, "policy", None) for t in tools if t.runner is None])


def start_servers(mcp: Sequence[str], cfg: Any, show: Optional[Callable[[str], None]] = None,
                  sandbox: Any = None, enforce: Optional[List[Any]] = (),
                  meanwhile: Optional[Callable[[], None]] = None) -> List[Any]:
    """Start the MCP servers `mcp` names (files or the config's names), in parallel, each
    stdio server under its policy; fail closed first (with the tools in `enforce`, unless it
    is None) when a policy cannot be enforced here. `meanwhile`: what to do while they start
    (mcp/source.start_all)."""
    from llmrun.sandbox.policy import settings_for
    from llmrun.tools.confine import assign, require
    from llmrun.tools.mcp.source import start_all
    from llmrun.tools.mcp.spec import parse_server, resolve

    specs = resolve(list(mcp), _Configured(cfg.mcp_servers, parse_server))
    stdio = [s for s in specs if s.command]
    assign(stdio, sandbox if sandbox is not None else settings_for(cfg))
    if enforce is not None:
        require(stdio + list(enforce))
    return start_all(specs, show, meanwhile)


class _Configured(Mapping):
    """The config's servers by name, each parsed only when a run asks for it."""

    def __init__(self, raw: Dict[str, Any], parse: Callable[..., Any]) -> None:
        self._raw, self._parse = raw, parse
        self._done: Dict[str, Any] = {}

    def __getitem__(self, name: str) -> Any:
        if name not in self._done:
            raw, where = self._raw[name]
            self._done[name] = self._parse(name, raw, where)
        return self._done[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)

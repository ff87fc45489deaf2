"""What several runs share: MCP servers started once, and one rate-limit gate.

`llmrun batch` is built on it; from Python, `with llmrun.Session(mcp=[…], rpm=60) as s:
s.ask(…)` does the same. Each run keeps its own context (deadline, cancel, tools, processes):
a run's end, error or deadline never stops the shared servers; closing the session does.
"""

from __future__ import annotations

import threading
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

from llmrun.base.context import RunContext
from llmrun.wire.gate import Gate


class Session:
    """Started MCP servers and a rate gate, shared by the runs made through it."""

    def __init__(self, mcp: Sequence[str] = (), rpm: Optional[float] = None) -> None:
        from llmrun.api.options import _integer, _texts

        self.mcp = _texts("mcp", mcp)
        if rpm is not None:
            _integer(1)("rpm", rpm)
        self.gate = Gate(rpm)
        self.context = RunContext()  # the servers' own: no run's stop reaches them
        self._servers: Dict[Tuple[str, ...], List[Any]] = {}
        self._http: Dict[int, Any] = {}  # retries -> one connection pool for all runs
        self._lock = threading.Lock()
        self.closed = False

    def servers(self, names: Sequence[str], cfg: Any, sandbox: Any = None) -> List[Any]:
        """The running servers for `names`, started on first use (once, whoever asks), each
        stdio server under its sandbox policy (`sandbox`: the first run's Settings)."""
        from llmrun.base.context import activate
        from llmrun.tools.sources import start_servers

        key = tuple(names)
        with self._lock:
            if self.closed:
                raise RuntimeError("this llmrun.Session is closed")
            if key not in self._servers:
                from llmrun.api.prefetch import import_transport

                with activate(self.context):  # the runs need the transport next: imported
                    self._servers[key] = start_servers(  # while the servers start
                        names, cfg, sandbox=sandbox, meanwhile=import_transport)
            return self._servers[key]

    def http_adapter(self, retries: int) -> Any:
        """One HTTP connection pool for the session's runs: a batch's items reuse their
        connections instead of opening (and closing) one each."""
        from requests.adapters import HTTPAdapter

        from llmrun.wire.connections import watch_connections
        from llmrun.wire.retry import make_retry

        with self._lock:
            if self.closed:
                raise RuntimeError("this llmrun.Session is closed")
            if retries not in self._http:
                self._http[retries] = watch_connections(HTTPAdapter(
                    pool_maxsize=64, max_retries=make_retry(retries)))
            return self._http[retries]

    def options(self, kwargs: Dict[str, Any]) -> Dict[str, Any]:
        """A run's keywords, with the session's MCP servers unless the run names its own."""
        if self.mcp and not kwargs.get("mcp"):
            kwargs = dict(kwargs, mcp=self.mcp)
        return kwargs

    def ask(self, prompt: str, **kwargs: Any) -> Any:
        """`llmrun.ask`, with this session's servers and gate."""
        from llmrun.api import ask

        return ask(prompt, _session=self, **self.options(kwargs))

    def events(self, prompt: str, **kwargs: Any) -> Iterator[Dict[str, Any]]:
        """`llmrun.events`, with this session's servers and gate."""
        from llmrun.api import events

        return events(prompt, _session=self, **self.options(kwargs))

    def close(self) -> None:
        """Stop every server the session started."""
        from llmrun.tools.mcp.source import stop_all

        with self._lock:
            self.closed = True
            servers = [s for group in self._servers.values() for s in group]
            self._servers.clear()
            pools, self._http = list(self._http.values()), {}
        for pool in pools:
            pool.close()
        if servers:
            from llmrun.sandbox.launch import close_proxies

            stop_all(servers)
            close_proxies([getattr(s.spec, "policy", None) for s in servers])
        self.context.kill_processes()

    def __enter__(self) -> "Session":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

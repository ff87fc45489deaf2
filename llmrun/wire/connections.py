"""HTTP connections a run can stop: each registers its socket with the run that opens it, so
stopping the run (its deadline, a cancel, a signal) shuts the socket and wakes the thread
blocked reading it — closing a socket alone would not wake it."""

from __future__ import annotations

import time
from typing import Any

from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool


class _WatchedConnection(HTTPConnection):
    """A connection registered with the run that opens it (llmrun/base/context.py)."""

    def connect(self) -> None:
        super().connect()
        from llmrun.base.context import current

        current().add_socket(self.sock)


class _WatchedTLSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        from llmrun.base.context import current

        current().add_socket(self.sock)


#: A connection idle in the pool for longer than this is closed, not reused: a NAT or a
#: firewall may have dropped it without a word, and a request sent on it would wait for the
#: whole --timeout before its retry (httpx keeps idle connections 5 s, aiohttp 15 s).
KEEP_IDLE_S = 10.0


class _Lending:
    """A pool shared by runs (an llmrun.Session's): a connection taken from it is the taking
    run's to stop, and no more the run's that gave it back."""

    def _get_conn(self, timeout: Any = None) -> Any:
        conn = super()._get_conn(timeout)  # type: ignore[misc]
        idle_since = getattr(conn, "llmrun_idle_since", None)
        if idle_since is not None and time.monotonic() - idle_since > KEEP_IDLE_S:
            conn.close()  # urllib3 connects it again for the request
        sock = getattr(conn, "sock", None)
        if sock is not None:
            from llmrun.base.context import current

            current().add_socket(sock)
        return conn

    def _put_conn(self, conn: Any) -> None:
        sock = getattr(conn, "sock", None) if conn is not None else None
        if sock is not None:
            from llmrun.base.context import current

            current().discard_socket(sock)
            conn.llmrun_idle_since = time.monotonic()
        super()._put_conn(conn)  # type: ignore[misc]


class _WatchedPool(_Lending, HTTPConnectionPool):
    ConnectionCls = _WatchedConnection


class _WatchedTLSPool(_Lending, HTTPSConnectionPool):
    ConnectionCls = _WatchedTLSConnection


def watch_connections(adapter: HTTPAdapter) -> HTTPAdapter:
    """Make every connection `adapter` opens stoppable by its run."""
    manager = getattr(adapter, "poolmanager", None)
    if manager is not None:
        manager.pool_classes_by_scheme = {"http": _WatchedPool, "https": _WatchedTLSPool}
    return adapter

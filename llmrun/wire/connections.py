"""HTTP connections a run can stop: each registers its socket with the run that opens it, so
stopping the run (its deadline, a cancel, a signal) shuts the socket and wakes the thread
blocked reading it — closing a socket alone would not wake it."""

from __future__ import annotations

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


class _WatchedPool(HTTPConnectionPool):
    ConnectionCls = _WatchedConnection


class _WatchedTLSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedTLSConnection


def watch_connections(adapter: HTTPAdapter) -> HTTPAdapter:
    """Make every connection `adapter` opens stoppable by its run."""
    manager = getattr(adapter, "poolmanager", None)
    if manager is not None:
        manager.pool_classes_by_scheme = {"http": _WatchedPool, "https": _WatchedTLSPool}
    return adapter

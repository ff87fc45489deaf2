"""JSON-RPC 2.0 over any transport: requests matched to answers by id, with a timeout each.

The transport delivers every message the server sends to `deliver` (from its reader thread,
or right after an HTTP POST). Requests from the server are answered (`ping`) or refused;
notifications are ignored. When the server goes away, every waiting request fails at once.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any, Dict, Optional


class RpcError(Exception):
    """The server answered a request with a JSON-RPC error."""

    def __init__(self, code: Any, message: str) -> None:
        super().__init__(f"{message} (JSON-RPC error {code})")
        self.code = code


class ServerGone(Exception):
    """The server exited, closed the connection or broke the protocol."""


class _Waiter:
    __slots__ = ("done", "result", "error")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: Any = None
        self.error: Optional[BaseException] = None


class Session:
    """One client session; `transport.send(message)` puts a message on the wire."""

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        self._ids = itertools.count(1)
        self._waiting: Dict[int, _Waiter] = {}
        self._lock = threading.Lock()
        self.gone: Optional[str] = None  # why the server is unusable, once it is

    def request(self, method: str, params: Dict[str, Any], timeout: float) -> Any:
        """Send a request and wait for its answer; TimeoutError after `timeout` seconds (a
        `notifications/cancelled` tells the server to stop)."""
        if self.gone:
            raise ServerGone(self.gone)
        number = next(self._ids)
        waiter = _Waiter()
        with self._lock:
            self._waiting[number] = waiter
        try:
            self.transport.send({"jsonrpc": "2.0", "id": number, "method": method,
                                 "params": params})
            if not _wait(waiter.done, timeout):
                self.notify("notifications/cancelled",
                            {"requestId": number, "reason": f"timed out after {timeout:g} s"})
                raise TimeoutError(f"no answer within {timeout:g} s")
        finally:
            with self._lock:
                self._waiting.pop(number, None)
        if waiter.error is not None:
            raise waiter.error
        return waiter.result

    def notify(self, method: str, params: Optional[Dict[str, Any]] = None) -> None:
        message: Dict[str, Any] = {"jsonrpc": "2.0", "method": method}
        if params is not None:
            message["params"] = params
        try:
            self.transport.send(message)
        except ServerGone:
            pass

    def deliver(self, message: Any) -> None:
        """One message from the server."""
        if not isinstance(message, dict):
            return
        if "method" in message:
            if "id" in message:  # a request to us: we offer nothing but ping
                self._answer_server(message)
            return
        number = message.get("id")
        with self._lock:
            waiter = self._waiting.get(number) if isinstance(number, int) else None
        if waiter is None:
            return  # an answer nobody waits for (a cancelled request): dropped
        error = message.get("error")
        if error is not None:
            code = error.get("code") if isinstance(error, dict) else None
            text = error.get("message") if isinstance(error, dict) else None
            waiter.error = RpcError(code, str(text or error)[:500])
        else:
            waiter.result = message.get("result")
        waiter.done.set()

    def fail_all(self, why: str) -> None:
        """The server is gone: every waiting request fails now, every later one at once."""
        self.gone = self.gone or why
        with self._lock:
            waiters = list(self._waiting.values())
        for waiter in waiters:
            waiter.error = ServerGone(self.gone)
            waiter.done.set()

    def _answer_server(self, message: Dict[str, Any]) -> None:
        reply: Dict[str, Any] = {"jsonrpc": "2.0", "id": message["id"]}
        if message.get("method") == "ping":
            reply["result"] = {}
        else:
            reply["error"] = {"code": -32601, "message": "method not supported by llmrun"}
        try:
            self.transport.send(reply)
        except ServerGone:
            pass


def _wait(done: threading.Event, timeout: float) -> bool:
    """Wait for an answer; a stopped run (its deadline, a cancel) leaves at once."""
    from llmrun.base.context import current

    ctx = current()
    end = time.monotonic() + timeout
    while True:
        left = end - time.monotonic()
        if left <= 0:
            return done.is_set()
        if done.wait(min(left, 0.1)):
            return True
        ctx.check()

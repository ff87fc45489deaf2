"""A real HTTP server on 127.0.0.1 for tests: it streams scripted or recorded SSE bodies,
split at random byte boundaries, with delays and faults, and keeps every request it got."""

from __future__ import annotations

import json
import random
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, Optional, Tuple, Union


@dataclass
class Reply:
    """One scripted answer.

    mode: "chunked" (Transfer-Encoding: chunked), "close" (no length, body ends when the
    connection closes) or "length" (Content-Length).
    """

    body: Union[bytes, List[bytes]] = b""
    status: int = 200
    headers: Dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/event-stream"})
    mode: str = "chunked"
    split: str = "random"  # "random" byte boundaries, "none" (one write), or "given" pieces
    delay: float = 0.0  # seconds between pieces
    cut_after: Optional[int] = None  # close the connection abruptly after N body bytes
    reset: bool = False  # with cut_after: send a TCP RST instead of a clean close
    stall: float = 0.0  # sleep this long after cut_after bytes instead of cutting
    action: Optional[Callable[[Any], None]] = None  # custom handler(request_handler)


@dataclass
class Received:
    method: str
    path: str
    headers: Dict[str, str]
    body: bytes
    at: float
    ended: Optional[float] = None  # when the reply was sent to its end (or given up)

    def json(self) -> Any:
        return json.loads(self.body)


class TestServer:
    """Serves the queued replies in order; `requests` lists what arrived."""

    __test__ = False  # not a test class, whatever its name

    def __init__(self, replies: Optional[List[Reply]] = None, seed: int = 0) -> None:
        self.replies: List[Reply] = list(replies or [])
        self.requests: List[Received] = []
        #: Answers each request from what it carries (say, its own messages), instead of
        #: the queue: for many runs at once, whose requests arrive in any order.
        self.responder: Optional[Callable[[Received], Reply]] = None
        self.rng = random.Random(seed)
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                self._handle()

            def do_POST(self) -> None:
                self._handle()

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                received = Received(self.command, self.path, dict(self.headers.items()), body,
                                    time.monotonic())
                with server._lock:
                    server.requests.append(received)
                    responder = server.responder
                    reply = None if responder is None else responder(received)
                    reply = reply or (server.replies.pop(0) if server.replies else Reply(
                        b'{"error": {"message": "test server: no reply queued"}}', 599,
                        {"Content-Type": "application/json"}, mode="length"))
                try:
                    server._send(self, reply)
                finally:
                    received.ended = time.monotonic()

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            #: socketserver's default backlog is 5: sixteen runs connecting at once overflow
            #: it, and the kernel drops their SYNs, which the client sends again only after a
            #: second; a provider's listen queue is hundreds long
            request_queue_size = 128

            def handle_error(self, request: Any, client_address: Any) -> None:
                import sys

                server.errors.append(sys.exc_info()[1])

        self.errors: List[BaseException] = []  # exceptions inside handlers (client went away)
        self.httpd = Server(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,),
                                       daemon=True)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> "TestServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def add(self, *replies: Reply) -> None:
        with self._lock:
            self.replies.extend(replies)

    def in_flight(self, at: float) -> int:
        """How many requests were being answered at the moment `at` (from the records)."""
        return sum(1 for r in list(self.requests)
                   if r.at <= at and (r.ended is None or r.ended > at))

    def bodies(self) -> List[Any]:
        return [r.json() for r in self.requests]

    # -- sending ---------------------------------------------------------------------------
    def _pieces(self, reply: Reply) -> List[bytes]:
        if isinstance(reply.body, list):
            return list(reply.body)
        data = reply.body
        if reply.split == "none" or not data:
            return [data] if data else []
        pieces, i = [], 0
        while i < len(data):
            n = self.rng.randint(1, 64)
            pieces.append(data[i:i + n])
            i += n
        return pieces

    def _send(self, h: BaseHTTPRequestHandler, reply: Reply) -> None:
        if reply.action is not None:
            reply.action(h)
            return
        pieces = self._pieces(reply)
        total = sum(len(p) for p in pieces)
        h.send_response(reply.status)
        for key, value in reply.headers.items():
            h.send_header(key, value)
        if reply.mode == "chunked":
            h.send_header("Transfer-Encoding", "chunked")
        elif reply.mode == "length":
            h.send_header("Content-Length", str(total))
        else:
            h.send_header("Connection", "close")
            h.close_connection = True
        h.end_headers()
        h.wfile.flush()
        sent = 0
        try:
            for piece in pieces:
                if reply.cut_after is not None and sent + len(piece) > reply.cut_after:
                    piece = piece[:reply.cut_after - sent]
                    self._write(h, reply, piece)
                    if reply.stall:
                        time.sleep(reply.stall)
                    self._cut(h, reply)
                    return
                self._write(h, reply, piece)
                sent += len(piece)
                if reply.delay:
                    time.sleep(reply.delay)
            if reply.mode == "chunked":
                h.wfile.write(b"0\r\n\r\n")
                h.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            h.close_connection = True

    @staticmethod
    def _write(h: BaseHTTPRequestHandler, reply: Reply, piece: bytes) -> None:
        if not piece:
            return
        if reply.mode == "chunked":
            h.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        else:
            h.wfile.write(piece)
        h.wfile.flush()

    @staticmethod
    def _cut(h: BaseHTTPRequestHandler, reply: Reply) -> None:
        h.close_connection = True
        sock = h.connection
        if reply.reset:
            import struct

            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            sock.close()  # no shutdown first: that would send a FIN before the RST
            return
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()


def sse(*chunks: Any, done: bool = True) -> bytes:
    """An SSE body from chunk objects (dicts are JSON-encoded, bytes/str go as they are)."""
    out = []
    for chunk in chunks:
        data = chunk if isinstance(chunk, (bytes, str)) else json.dumps(chunk)
        if isinstance(data, bytes):
            data = data.decode("utf-8")
        out.append(f"data: {data}\n\n")
    if done:
        out.append("data: [DONE]\n\n")
    return "".join(out).encode("utf-8")


# -- fault scripts: one scripted failure each (the reliability tests use these) ---------------
def chunk(content: Optional[str] = None, finish: Optional[str] = None,
          **extra: Any) -> Dict[str, Any]:
    """One chat.completion.chunk with a text delta and/or a finish_reason."""
    delta = {"content": content} if content is not None else {}
    out = {"id": "c1", "object": "chat.completion.chunk", "model": "test-model",
           "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
    out.update(extra)
    return out


USAGE = {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}


def good_stream(text: str = "Hello there") -> bytes:
    """A complete, well-formed answer: text in two deltas, finish_reason, usage, [DONE]."""
    half = len(text) // 2
    return sse(chunk(text[:half]), chunk(text[half:]), chunk(finish="stop"),
               {"choices": [], "usage": USAGE})


def json_reply(status: int, obj: Any, headers: Optional[Dict[str, str]] = None) -> Reply:
    """An HTTP answer with a JSON body (an API error, or a non-streamed completion)."""
    all_headers = {"Content-Type": "application/json"}
    all_headers.update(headers or {})
    return Reply(json.dumps(obj).encode(), status, all_headers, mode="length", split="none")


def text_reply(status: int, text: str, ctype: str = "text/plain; charset=utf-8",
               headers: Optional[Dict[str, str]] = None) -> Reply:
    all_headers = {"Content-Type": ctype}
    all_headers.update(headers or {})
    return Reply(text.encode(), status, all_headers, mode="length", split="none")


def _drop(h: BaseHTTPRequestHandler) -> None:
    """Close the connection before any status line is sent."""
    h.close_connection = True
    try:
        h.connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def drop_before_headers() -> Reply:
    """The connection closes after the request arrived, before any response byte."""
    return Reply(action=_drop)


def silent(seconds: float) -> Reply:
    """No status line for `seconds`, then the connection closes."""
    def act(h: BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)
        _drop(h)

    return Reply(action=act)


def free_port() -> int:
    """A loopback port with nothing listening on it (for "cannot connect")."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def echo_header(status: int, make_body: Callable[[str], bytes], ctype: str = "application/json",
                name: str = "Authorization") -> Reply:
    """A server that puts a request header (by default the API key) into its answer."""
    def act(h: BaseHTTPRequestHandler) -> None:
        body = make_body(h.headers.get(name, ""))
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)
        h.wfile.flush()

    return Reply(action=act)


def gated_reply(steps: List[Tuple[Callable[[], bool], bytes]], wait: float = 20,
                mode: str = "chunked") -> Reply:
    """An SSE reply that sends each piece only once its condition holds (say, the spinner is
    on screen, or the client has handed the last event over). `reply.opened` records, per
    piece, whether the condition came true (False: it gave up after `wait` seconds and sent
    the piece anyway). mode: "chunked", or "close" (no length: the body ends at close)."""
    opened: List[bool] = []

    def action(h: Any) -> None:
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        if mode == "chunked":
            h.send_header("Transfer-Encoding", "chunked")
        else:
            h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.flush()
        for condition, data in steps:
            deadline = time.monotonic() + wait
            while not condition() and time.monotonic() < deadline:
                time.sleep(0.005)
            opened.append(condition())
            h.wfile.write(b"%x\r\n%s\r\n" % (len(data), data) if mode == "chunked" else data)
            h.wfile.flush()
        if mode == "chunked":
            h.wfile.write(b"0\r\n\r\n")
            h.wfile.flush()
        h.close_connection = True

    reply = Reply(action=action)
    reply.opened = opened  # type: ignore[attr-defined]
    reply.gates = len(steps)  # type: ignore[attr-defined]
    return reply

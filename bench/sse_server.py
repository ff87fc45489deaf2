"""The bench's loopback chat-completions server, run as its own process.

`python bench/sse_server.py` binds 127.0.0.1 on a free port, prints the port on stdout and
serves until stdin closes. Running it in a separate process keeps its CPU out of the
clients' rusage and its threads away from the bench's GIL. Routes (POST, any suffix):

- `/big/N/...`      N small content chunks, each its own HTTP chunk, as a real provider does.
- `/gaps/MODE/N/MS/...`  N content events MS milliseconds apart, each carrying the
  CLOCK_MONOTONIC time it was sent, as `<i@seconds>`. MODE is `chunked`, or `close`: no
  Content-Length and no chunking, the body ends when the connection closes, and the
  connection stays open and idle between events.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from typing import Dict, List, Tuple

_cache: Dict[int, bytes] = {}
_cache_lock = threading.Lock()


def chunk(content: str = "", finish: str = "", usage: bool = False) -> bytes:
    """One OpenAI-shaped streaming chunk as an SSE event."""
    obj: dict = {"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 1,
                 "model": "bench-model", "choices": []}
    if usage:
        obj["usage"] = {"prompt_tokens": 10, "completion_tokens": 100000,
                        "total_tokens": 100010}
    else:
        delta = {"content": content} if content else {}
        obj["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish or None}]
    return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"


def tail_events() -> List[bytes]:
    return [chunk(finish="stop"), chunk(usage=True), b"data: [DONE]\n\n"]


def word(i: int) -> str:
    return f"w{i % 1000} "


def big_body(n: int) -> bytes:
    """The chunked-encoded body of an n-chunk stream (built once per n)."""
    with _cache_lock:
        if n not in _cache:
            events = [chunk(word(i)) for i in range(n)] + tail_events()
            _cache[n] = b"".join(b"%x\r\n%s\r\n" % (len(e), e) for e in events) + b"0\r\n\r\n"
        return _cache[n]


def _read_request(conn: socket.socket) -> Tuple[str, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        more = conn.recv(65536)
        if not more:
            raise ConnectionError("client went away")
        data += more
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    while len(body) < length:
        more = conn.recv(65536)
        if not more:
            break
        body += more
    return lines[0].split(" ")[1], body


def _headers(chunked: bool) -> bytes:
    framing = b"Transfer-Encoding: chunked\r\n" if chunked else b"Connection: close\r\n"
    return (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Cache-Control: no-cache\r\n" + framing + b"\r\n")


def _serve_big(conn: socket.socket, n: int) -> None:
    body = big_body(n)
    conn.sendall(_headers(True))
    view = memoryview(body)
    for start in range(0, len(body), 65536):
        conn.sendall(view[start:start + 65536])


def _serve_gaps(conn: socket.socket, mode: str, n: int, gap_ms: float) -> None:
    chunked = mode == "chunked"

    def send(event: bytes) -> None:
        conn.sendall(b"%x\r\n%s\r\n" % (len(event), event) if chunked else event)

    conn.sendall(_headers(chunked))
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    for i in range(n):
        time.sleep(gap_ms / 1000)
        send(chunk(f"<{i}@{time.monotonic():.6f}>"))
    time.sleep(gap_ms / 1000)
    for event in tail_events():
        send(event)
    if chunked:
        conn.sendall(b"0\r\n\r\n")


def handle(conn: socket.socket) -> None:
    try:
        path, _ = _read_request(conn)
        parts = path.strip("/").split("/")
        if parts[0] == "big":
            _serve_big(conn, int(parts[1]))
        elif parts[0] == "gaps":
            _serve_gaps(conn, parts[1], int(parts[2]), float(parts[3]))
        else:
            conn.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
    except OSError:
        pass
    finally:
        try:
            conn.shutdown(socket.SHUT_WR)
            conn.settimeout(5)
            while conn.recv(65536):  # let the client close first: no RST on unread data
                pass
        except OSError:
            pass
        conn.close()


def serve(sock: socket.socket) -> None:
    while True:
        try:
            conn, _ = sock.accept()
        except OSError:
            return
        threading.Thread(target=handle, args=(conn,), daemon=True).start()


def main() -> None:
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    big_body(100_000)  # build the big stream before anyone waits for it
    threading.Thread(target=serve, args=(sock,), daemon=True).start()
    print(sock.getsockname()[1], flush=True)
    sys.stdin.read()  # the bench closes our stdin (or dies): stop


if __name__ == "__main__":
    main()

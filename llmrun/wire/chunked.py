"""The cheapest way from the socket to parsed chunks: bulk body reads and a fast JSON path.

Profiling a 100,000-chunk stream showed two per-chunk costs that are not llmrun's own work:

- urllib3's `read1` on a chunked response returns one HTTP chunk per call (a provider sends
  one event per chunk), and every call goes through urllib3's and http.client's layers.
  `body_reader` reads everything that has arrived from the connection's buffered socket in
  one call and strips the chunk framing itself, so one read hands over hundreds of events.
  It still never waits for more bytes than have arrived (no read-ahead: latency unchanged),
  and it runs inside urllib3's own error catcher, so a reset, a stall or a cut body raises
  exactly what urllib3 would have raised.
- `json.loads(bytes)` guesses the encoding and runs two regular expressions per call;
  `loads` decodes UTF-8 and runs the C scanner directly, falling back to `json.loads` for
  anything unusual so results and error messages stay the same.
"""

from __future__ import annotations

import http.client
import json
import time
from typing import Any, Callable, List, Optional

Read = Callable[[int], bytes]

_scan = json.JSONDecoder().scan_once
_json_loads = json.loads
_MAXLINE = 65536  # http.client's own limit for a chunk-size line


def loads(data: bytes) -> Any:
    """`json.loads(data)` for one event's data, minus its per-call overhead."""
    try:
        text = data.decode("utf-8", "surrogatepass")  # what json.loads does for UTF-8
        value, end = _scan(text, 0)
        if end == len(text):
            return value
    except (StopIteration, ValueError):
        pass
    return _json_loads(data)  # whitespace, UTF-16/32, errors: json.loads decides


def body_reader(raw: Any) -> Read:
    """A `read(n)` over a urllib3 response's body that returns whatever bytes have arrived."""
    fast = _chunked_reader(raw)
    if fast is not None:
        return fast
    read1 = getattr(raw, "read1", None)
    return read1 if read1 is not None else raw.read


def _chunked_reader(raw: Any) -> Optional[Read]:
    """The bulk de-chunking reader, when `raw` is a plain, untouched, uncompressed chunked
    urllib3 response (a recording tee, a replay or gzip keep the ordinary path)."""
    from urllib3.response import HTTPResponse

    if type(raw) is not HTTPResponse or {"read", "read1"} & set(vars(raw)):
        return None  # a subclass or a patched read may want to see the bytes: leave it be
    original = getattr(raw, "_fp", None)
    catcher = getattr(raw, "_error_catcher", None)
    if not isinstance(original, http.client.HTTPResponse) or catcher is None:
        return None
    sock_file = getattr(original, "fp", None)
    if not original.chunked or original.chunk_left is not None or sock_file is None \
            or not hasattr(sock_file, "read1"):
        return None
    if raw.headers.get("content-encoding", "identity").lower() != "identity" \
            or len(getattr(raw, "_decoded_buffer", ())) > 0:
        return None
    return _Dechunker(sock_file.read1, catcher, getattr(original, "_close_conn", None)).read


class _Dechunker:
    """Strips `size CRLF data CRLF` framing from bytes as they arrive, across any split.

    At the body's end (the last chunk, then its trailer lines up to an empty one) it ends the
    http.client response as http.client itself would, so urllib3 gives the connection back to
    its pool for the next request; not when more bytes follow in the same read (a server that
    sends past its body gets a new connection next time, not its own leftovers read back)."""

    __slots__ = ("_read1", "_catcher", "_ended", "_left", "_skip", "_line", "_trailer", "_done",
                 "_error", "deadline")

    def __init__(self, read1: Read, catcher: Callable[[], Any],
                 ended: Optional[Callable[[], None]] = None) -> None:
        self._read1 = read1
        self._catcher = catcher
        self._ended = ended  # the http.client response's end, when the body ended exactly
        self._left = 0  # data bytes of the current chunk still to come
        self._skip = 0  # bytes of the CRLF after a chunk's data still to drop
        self._line = b""  # a chunk-size or trailer line whose end has not arrived yet
        self._trailer = False  # the last (zero-size) chunk was seen: trailer lines follow
        self._done = False  # the body ended (or is taken as ended: see read)
        self._error: Optional[Exception] = None  # found after good bytes: raised next read
        #: time.monotonic() past which no more bytes are waited for (the end of a body after
        #: [DONE]): a server that trickles framing bytes, never body ones, would otherwise
        #: keep one read going for as long as each byte comes within the socket's timeout
        self.deadline: Optional[float] = None

    def read(self, size: int) -> bytes:
        """Body bytes that have arrived (at least one), or b"" at the end of the body."""
        with self._catcher():
            if self._error is not None:
                raise self._error
            while not self._done:
                if self.deadline is not None and time.monotonic() >= self.deadline:
                    raise TimeoutError("the end of the body did not come in time")
                data = self._read1(size)
                if not data:
                    if self._trailer:  # closed within the trailer: the body was whole
                        self._done = True
                        break
                    raise http_incomplete()
                body = self._decode(data)
                if body:
                    return body
        return b""

    def _decode(self, data: bytes) -> bytes:
        """The body bytes in `data`; a framing error after some of them waits for the next
        read, so the events before it are handed over first, as http.client would."""
        out: List[bytes] = []
        try:
            self._frames(data, out)
        except http.client.IncompleteRead as exc:
            if not out:
                raise
            self._error = exc
        return out[0] if len(out) == 1 else b"".join(out)

    def _frames(self, data: bytes, out: List[bytes]) -> None:
        pos, end = 0, len(data)
        while pos < end:
            if self._trailer:
                self._trailers(data, pos)
                break
            if self._left:
                stop = pos + self._left
                piece = data[pos:stop]
                out.append(piece)
                self._left -= len(piece)
                pos = stop
                if not self._left:
                    self._skip = 2
            elif self._skip:
                taken = min(self._skip, end - pos)
                self._skip -= taken
                pos += taken
            else:
                if not self._line:
                    pos = self._whole_frames(data, pos, out)
                    if pos >= end:
                        break
                pos = self._read_line(data, pos)
                if pos < 0:
                    break
                self._left = self._chunk_size()
                if self._left == 0:  # the last chunk: its trailer lines end the body
                    self._trailer = True

    @staticmethod
    def _whole_frames(data: bytes, pos: int, out: List[bytes]) -> int:
        """The common case, fast: frames that arrived whole. Returns where they stop."""
        find, append, end = data.find, out.append, len(data)
        while True:
            newline = find(b"\n", pos)
            if newline < 0:
                return pos
            try:
                size = int(data[pos:newline], 16)
            except ValueError:  # a chunk extension, or garbage: the general path decides
                return pos
            start = newline + 1
            stop = start + size
            if size <= 0 or stop + 2 > end:
                return pos  # the last chunk, or a frame that is still arriving
            append(data[start:stop])
            pos = stop + 2

    def _trailers(self, data: bytes, pos: int) -> None:
        """Trailer lines (ignored) up to the empty one that ends the body."""
        end = len(data)
        while pos < end:
            pos = self._read_line(data, pos)
            if pos < 0:
                return
            line, self._line = self._line, b""
            if not line.strip():
                self._done = True
                if pos == end and self._ended is not None:
                    self._ended()
                return

    def _read_line(self, data: bytes, pos: int) -> int:
        """Take `data` up to its next newline into the line being read; where the rest
        starts, or -1 when the line's end has not arrived yet (all of it was taken)."""
        newline = data.find(b"\n", pos)
        if newline < 0:
            self._take_line(data[pos:])
            return -1
        self._take_line(data[pos:newline + 1])
        return newline + 1

    def _take_line(self, part: bytes) -> None:
        self._line += part
        if len(self._line) > _MAXLINE:
            raise http_incomplete()

    def _chunk_size(self) -> int:
        line, self._line = self._line, b""
        try:
            size = int(line.split(b";", 1)[0], 16)  # int() ignores the CRLF around it
        except ValueError:
            size = -1
        if size < 0:
            raise http_incomplete()
        return size


def http_incomplete() -> Exception:
    """What http.client raises for a cut or garbled chunked body (urllib3 wraps it)."""
    return http.client.IncompleteRead(b"")

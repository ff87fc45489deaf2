"""Our own incremental Server-Sent Events reader.

Bytes go in as the network delivers them; each event comes out the moment its blank line
arrives, never later. It follows the WHATWG SSE rules: LF, CRLF or lone CR line ends (a CRLF
may be split between two reads), comment lines, `data:` with or without its space, data over
several lines joined with LF, and the `event`, `id` and `retry` fields. Data stays bytes so the
caller can hand it straight to `json.loads`, which also checks that it is UTF-8.
"""

from __future__ import annotations

from typing import List, NamedTuple, Optional

from llmrun.base.errors import StreamError

#: Largest event (or single line) we hold in memory: the response budget of one step (a
#: single 20 MB event is legitimate; one bigger than everything a step may bring is not).
MAX_EVENT_BYTES = 64 * 1024 * 1024


class Event(NamedTuple):
    event: str
    data: bytes
    id: Optional[str]


class SSEReader:
    """Feed it bytes with `feed`, then call `close` at the end of the stream."""

    __slots__ = ("_partial", "_partial_len", "_skip_lf", "_started", "_data", "_event",
                 "last_id", "retry", "max_event_bytes")

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self._partial: List[bytes] = []  # bytes of a line whose end has not arrived yet
        self._partial_len = 0
        self._skip_lf = False  # the last read ended in CR: a leading LF next belongs to it
        self._started = False
        self._data: Optional[bytes] = None
        self._event = ""
        self.last_id: Optional[str] = None
        self.retry: Optional[int] = None
        self.max_event_bytes = max_event_bytes

    def feed(self, data: bytes) -> List[Event]:
        """Take the next bytes of the stream; return the events they complete."""
        if not data:
            return []
        if not self._started:
            self._started = True
            if data.startswith(b"\xef\xbb\xbf"):
                data = data[3:]
        if self._skip_lf:
            self._skip_lf = False
            if data[:1] == b"\n":
                data = data[1:]
        if b"\r" in data:
            self._skip_lf = data[-1:] == b"\r"
            data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if b"\n" not in data:
            self._hold(data)
            return []
        if self._partial:
            self._partial.append(data)
            data = b"".join(self._partial)
            self._partial = []
            self._partial_len = 0
        lines = data.split(b"\n")
        tail = lines.pop()
        if tail:
            self._hold(tail)
        return self._lines(lines)

    def close(self) -> List[Event]:
        """End of stream: a last line or event without its blank line still counts."""
        lines = [b"".join(self._partial)] if self._partial else []
        self._partial = []
        self._partial_len = 0
        lines.append(b"")
        return self._lines(lines)

    def _hold(self, data: bytes) -> None:
        self._partial.append(data)
        self._partial_len += len(data)
        if self._partial_len > self.max_event_bytes:
            raise StreamError(f"the response is larger than the budget of {self._limit_text()}: "
                              "one line of the stream never ended; stopped reading")

    def _limit_text(self) -> str:
        return f"{self.max_event_bytes // (1024 * 1024)} MiB"

    def _lines(self, lines: List[bytes]) -> List[Event]:
        events: List[Event] = []
        for line in lines:
            if not line:
                if self._data:
                    events.append(Event(self._event or "message", self._data, self.last_id))
                self._data = None
                self._event = ""
            elif line.startswith(b"data:"):
                value = line[5:]
                self._add_data(value[1:] if value[:1] == b" " else value)
            elif line[0] != 58:  # not a ":" comment
                self._field(line)
        return events

    def _add_data(self, value: bytes) -> None:
        if self._data is None:
            self._data = value
        else:
            self._data = self._data + b"\n" + value
        if len(self._data) > self.max_event_bytes:
            raise StreamError(f"the response is larger than the budget of {self._limit_text()}: "
                              "one event of the stream is bigger; stopped reading")

    def _field(self, line: bytes) -> None:
        name, _, value = line.partition(b":")
        if value[:1] == b" ":
            value = value[1:]
        if name == b"data":
            self._add_data(value)
        elif name == b"event":
            self._event = value.decode("utf-8", "replace")
        elif name == b"id":
            if b"\0" not in value:
                self.last_id = value.decode("utf-8", "replace")
        elif name == b"retry":
            if value.isdigit() and len(value) <= 12:  # 5,000 digits is no delay (nor an int)
                self.retry = int(value)

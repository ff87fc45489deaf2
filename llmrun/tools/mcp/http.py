"""A Streamable HTTP MCP server: each message is a POST; the answer comes back as JSON or as
an SSE stream (read with llmrun's own SSE reader). The session id the server hands out goes
on every later request, and the session is DELETEd at the end. Redirects are not followed
and answers are size-bounded, as for the model's API."""

from __future__ import annotations

import json
import threading
from typing import Any, Callable, Dict, Optional

from llmrun.tools.mcp.jsonrpc import ServerGone
from llmrun.tools.mcp.spec import ServerSpec

MAX_ANSWER = 64 * 1024 * 1024
#: A notification is answered by 202 at once; a server that holds it open is not waited for
#: longer than this (`notifications/initialized`, so it still arrives before `tools/list`),
#: and its POST is given up after NOTIFY_READ seconds in its own thread.
NOTIFY_WAIT = 1.0
NOTIFY_READ = 5.0


class HttpTransport:
    def __init__(self, spec: ServerSpec, deliver: Callable[[Any], None],
                 gone: Callable[[str], None]) -> None:
        import requests

        self.spec = spec
        self._deliver, self._gone = deliver, gone
        self.http = requests.Session()
        self.session_id: Optional[str] = None
        self.protocol: Optional[str] = None  # sent once negotiated (2025-06-18 and later)

    def send(self, message: Dict[str, Any]) -> None:
        """Every message is POSTed in a thread of its own, so a slow or silent server never
        blocks a timeout or a cancel. Requests learn their fate through `deliver`/`gone`;
        `notifications/initialized` is waited for a moment (it should precede the next
        request); other notifications and answers are not waited for at all."""
        if "method" in message and "id" in message:
            threading.Thread(target=self._post_safely, args=(message,), daemon=True).start()
            return
        thread = threading.Thread(target=self._post_quietly, args=(message,), daemon=True)
        thread.start()
        if message.get("method") == "notifications/initialized":
            thread.join(NOTIFY_WAIT)

    def stderr_tail(self) -> str:
        return ""

    def _post_safely(self, message: Dict[str, Any]) -> None:
        try:
            self._post(message)
        except ServerGone as exc:
            self._gone(str(exc))
        except Exception as exc:  # whatever broke, the waiting request must learn of it
            self._gone(f"{type(exc).__name__}: {exc}")

    def _post_quietly(self, message: Dict[str, Any]) -> None:
        """A notification or an answer: nobody waits for the outcome."""
        try:
            self._post(message, read=NOTIFY_READ)
        except Exception:  # a server that refuses a notification is not broken for it
            pass

    def _headers(self) -> Dict[str, str]:
        headers = {"Content-Type": "application/json",
                   "Accept": "application/json, text/event-stream"}
        headers.update(self.spec.headers)
        if self.session_id:
            headers["Mcp-Session-Id"] = self.session_id
        if self.protocol:
            headers["MCP-Protocol-Version"] = self.protocol
        return headers

    def _post(self, message: Dict[str, Any], read: Optional[float] = None) -> None:
        import requests

        data = json.dumps(message, ensure_ascii=False).encode("utf-8", "replace")
        try:
            # reads time out a little after the call would: the waiting request has given
            # up by then, and this thread must not linger on a silent server
            if read is None:
                read = max(self.spec.timeout, self.spec.startup_timeout) + 5
            resp = self.http.post(self.spec.url, data=data,  # type: ignore[arg-type]
                                  headers=self._headers(), stream=True, allow_redirects=False,
                                  timeout=(self.spec.startup_timeout, read))
        except requests.exceptions.RequestException as exc:
            raise ServerGone(f"cannot reach {self.spec.url}: {type(exc).__name__}") from None
        with resp:
            if 300 <= resp.status_code < 400:
                raise ServerGone(f"{self.spec.url} answered a redirect (HTTP {resp.status_code}); "
                                 "redirects are not followed")
            if resp.status_code >= 400:
                raise ServerGone(f"{self.spec.url} answered HTTP {resp.status_code}: "
                                 f"{resp.raw.read(300).decode('utf-8', 'replace').strip()}")
            if resp.headers.get("Mcp-Session-Id"):
                self.session_id = resp.headers["Mcp-Session-Id"]
            ctype = (resp.headers.get("Content-Type") or "").lower()
            if "event-stream" in ctype:
                self._read_events(resp, message.get("id"))
            elif "json" in ctype:
                body = resp.raw.read(MAX_ANSWER + 1)
                if len(body) > MAX_ANSWER:
                    raise ServerGone("the server's answer is over 64 MiB")
                self._deliver_json(body)

    def _deliver_json(self, body: bytes) -> None:
        try:
            value = json.loads(body)
        except (ValueError, RecursionError):
            raise ServerGone("the server answered something that is not JSON") from None
        for message in value if isinstance(value, list) else [value]:
            self._deliver(message)

    def _read_events(self, resp: Any, wanted: Any) -> None:
        from llmrun.base.sse import SSEReader

        reader, size = SSEReader(max_event_bytes=MAX_ANSWER), 0
        while True:
            data = resp.raw.read1(65536) if hasattr(resp.raw, "read1") else resp.raw.read(65536)
            size += len(data)
            if size > MAX_ANSWER:
                raise ServerGone("the server's answer is over 64 MiB")
            for event in (reader.feed(data) if data else reader.close()):
                try:
                    message = json.loads(event.data)
                except (ValueError, RecursionError):
                    continue
                self._deliver(message)
                if isinstance(message, dict) and message.get("id") == wanted \
                        and "method" not in message:
                    return  # our answer is in: the rest of the stream is not ours
            if not data:
                return

    def close(self) -> None:
        if self.session_id:
            try:
                self.http.delete(self.spec.url, headers=self._headers(),  # type: ignore[arg-type]
                                 timeout=2, allow_redirects=False)
            except Exception:  # the server may be gone already: nothing left to end
                pass
        self.http.close()

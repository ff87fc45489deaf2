"""Cassettes (go-vcr v2 YAML): recording a run's HTTP traffic and replaying it offline.

Both plug in as `requests` transport adapters, so a replayed response goes through exactly
the same reader, accumulator and tool loop as a live one.
"""

from __future__ import annotations

import io
import json
import os
import time
from typing import Any, Dict, List, Optional

from requests.adapters import BaseAdapter, HTTPAdapter

from llmrun.base.errors import ConfigError, StreamError

#: Headers never written to a cassette, whatever their value.
SECRET_HEADERS = {"authorization", "proxy-authorization", "api-key", "x-api-key", "cookie",
                  "set-cookie", "openai-organization", "openai-project"}
#: A header whose name holds one of these is a credential (X-Auth-Token, X-Goog-Api-Key,
#: Private-Token, X-Access-Token, X-Session-Id…): never written either.
_SECRET_WORDS = ("auth", "key", "token", "secret", "cookie", "session", "credential",
                 "password", "signature")
#: The only request headers a cassette keeps: llmrun's own, and OpenRouter's app attribution.
#: Every other one came from the config's `headers` (X-Tenant, a team's proxy token…), whose
#: values may be credentials under any name, and replay needs none of them.
_REQUEST_HEADERS = {"content-type", "accept", "user-agent", "content-length",
                    "accept-encoding", "connection", "host", "x-title", "http-referer"}


def secret_header(name: str) -> bool:
    """Whether a header, by its name alone, may carry a credential."""
    low = name.lower()
    return low in SECRET_HEADERS or any(word in low for word in _SECRET_WORDS)
#: Response headers that described the wire form, not the body we keep.
_WIRE_HEADERS = {"content-length", "content-encoding", "transfer-encoding"}


class Cassette:
    def __init__(self, path: str, interactions: List[Dict[str, Any]],
                 meta: Optional[Dict[str, Any]] = None) -> None:
        self.path = path
        self.interactions = interactions
        self.meta = meta or {}  # our own `llmrun:` key; go-vcr ignores it

    @classmethod
    def load(cls, path: str) -> "Cassette":
        import yaml

        from llmrun.base.yamlfile import safe_load

        from llmrun.base.files import MAX_CASSETTE, read_text

        try:
            text = read_text(path, "cassette", MAX_CASSETTE)
            # libyaml when present: 7x faster on a cassette's long literal bodies; a
            # cassette never needs aliases, so none is allowed (no alias bombs)
            _, data = safe_load(text, f"cassette {path}",
                                getattr(yaml, "CSafeLoader", yaml.SafeLoader), aliases=False)
        except OSError as exc:
            raise ConfigError(f"cannot read cassette {path}: {exc.strerror}")
        except UnicodeDecodeError:
            raise ConfigError(f"cassette {path} is not UTF-8 text")
        interactions = data.get("interactions") if isinstance(data, dict) else None
        if not isinstance(interactions, list) or not all(
                isinstance(i, dict) and isinstance(i.get("request"), dict)
                and isinstance(i.get("response"), dict) for i in interactions):
            raise ConfigError(f"cassette {path} has no go-vcr 'interactions' list of "
                              "request/response pairs")
        for number, interaction in enumerate(interactions):
            problem = _response_problem(interaction["response"])
            if problem:
                raise ConfigError(f"cassette {path}: interaction {number}: {problem}")
        meta = data.get("llmrun")
        return cls(path, interactions, meta if isinstance(meta, dict) else None)

    def hints(self) -> Dict[str, str]:
        """Provider, base URL and model of the first recorded request, to default to."""
        from llmrun.settings.providers import GENERIC, provider_for_url

        if not self.interactions:
            return {}
        request = self.interactions[0]["request"]
        url = str(request.get("url") or "")
        hints = {"base_url": url.rsplit("/chat/completions", 1)[0]}
        name = self.meta.get("provider") or provider_for_url(url)
        if isinstance(name, str) and name and name != GENERIC:  # generic: the URL says all
            hints["provider"] = name
        model = _json(request.get("body")).get("model")
        if isinstance(model, str):
            hints["model"] = model
        return hints


def _response_problem(response: Dict[str, Any]) -> Optional[str]:
    """What makes a recorded response unusable for replay, if anything."""
    code = response.get("code", 200)
    if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599:
        return f"response code must be an HTTP status number, not {code!r}"
    if not isinstance(response.get("body", ""), (str, type(None))):
        return "response body must be text"
    headers = response.get("headers") or {}
    if not isinstance(headers, dict) or not all(
            isinstance(v, (str, list)) for v in headers.values()):
        return "response headers must be a mapping of names to lists of values"
    return None


def _open_private(path: str, mode: int) -> int:
    """Open for writing, readable by its owner only (0600), also when the file existed: a
    cassette holds the whole conversation, tool results included."""
    import stat

    fd = os.open(path, os.O_WRONLY | os.O_CREAT | mode, 0o600)
    try:
        if stat.S_ISREG(os.fstat(fd).st_mode):  # never chmod /dev/null or a pipe
            os.fchmod(fd, 0o600)
    except OSError:
        os.close(fd)
        raise
    return fd


def _json(text: Any) -> Dict[str, Any]:
    try:
        data = json.loads(text) if text else {}
    except (TypeError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _header_value(value: Any) -> str:
    return ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)


class ReplayAdapter(BaseAdapter):
    """Answers the n-th request with the n-th recorded response; sends nothing anywhere."""

    def __init__(self, cassette: Cassette, strict: bool = False) -> None:
        super().__init__()
        self.cassette = cassette
        self.strict = strict
        self.used = 0

    def send(self, request: Any, stream: bool = False, timeout: Any = None, verify: Any = True,
             cert: Any = None, proxies: Any = None) -> Any:
        from urllib3 import HTTPResponse

        interactions = self.cassette.interactions
        if self.used >= len(interactions):
            raise StreamError(f"replay exhausted after {len(interactions)} interactions of "
                              f"{self.cassette.path}: the run made one more request")
        recorded = interactions[self.used]
        self.used += 1
        if self.strict:
            check_same_request(recorded["request"], request.body, self.used)
        response = recorded["response"]
        body = response.get("body") or ""
        headers = {k: _header_value(v) for k, v in (response.get("headers") or {}).items()
                   if k.lower() not in _WIRE_HEADERS}
        code = int(response.get("code") or 200)
        status = str(response.get("status") or code)
        raw = HTTPResponse(body=io.BytesIO(body.encode("utf-8")), headers=headers, status=code,
                           reason=status.partition(" ")[2] or None, preload_content=False,
                           decode_content=False, request_method=request.method,
                           request_url=request.url)
        return HTTPAdapter().build_response(request, raw)

    def close(self) -> None:
        pass


def check_same_request(recorded: Dict[str, Any], sent: Any, number: int) -> None:
    """--replay-strict: the messages sent must be the recorded ones."""
    import difflib

    if isinstance(sent, bytes):
        sent = sent.decode("utf-8")
    from llmrun.settings.providers import strip_cache_marks

    want = strip_cache_marks(_json(recorded.get("body")).get("messages"))
    got = strip_cache_marks(_json(sent).get("messages"))
    if want == got:
        return
    a = json.dumps(want, indent=2, ensure_ascii=False, sort_keys=True).splitlines()
    b = json.dumps(got, indent=2, ensure_ascii=False, sort_keys=True).splitlines()
    diff = [line for line in difflib.unified_diff(a, b, "recorded", "sent", lineterm="", n=1)
            if not line.startswith(("---", "+++"))]
    raise ReplayMismatch(f"--replay-strict: request {number} differs from the recording in "
                         "its messages (the run is not the one recorded):\n" + "\n".join(diff))


class ReplayMismatch(ConfigError):
    """--replay-strict: the run asked something else than the recording holds. Not the
    provider's trouble (exit 5): the recording and the run disagree (exit 3)."""

    kind = "replay_mismatch"


class _Tee:
    """Wraps a urllib3 response so every body byte read is also kept for the cassette,
    within the response budget of a step: what --record keeps counts too, events that carry
    nothing included."""

    def __init__(self, raw: Any, sink: List[bytes]) -> None:
        from llmrun.base.budget import RESPONSE_BUDGET

        self._raw = raw
        self._sink = sink
        self._kept = 0
        self._budget = RESPONSE_BUDGET

    def _keep(self, data: bytes) -> bytes:
        self._kept += len(data)
        if self._kept > self._budget:
            from llmrun.base.budget import over_budget

            raise over_budget(self._budget)
        self._sink.append(data)
        return data

    def read1(self, *args: Any, **kwargs: Any) -> bytes:
        return self._keep(self._raw.read1(*args, **kwargs))

    def read(self, *args: Any, **kwargs: Any) -> bytes:
        return self._keep(self._raw.read(*args, **kwargs))

    def stream(self, *args: Any, **kwargs: Any) -> Any:
        for data in self._raw.stream(*args, **kwargs):
            yield self._keep(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


class RecordingAdapter(HTTPAdapter):
    """A normal adapter that also keeps each request and the raw response body it read."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.records: List[Dict[str, Any]] = []

    def send(self, request: Any, **kwargs: Any) -> Any:
        started = time.monotonic()
        response = super().send(request, **kwargs)
        sink: List[bytes] = []
        response.raw = _Tee(response.raw, sink)
        self.records.append({"request": request, "response": response, "body": sink,
                             "started": started})
        return response

    @staticmethod
    def check_target(path: str) -> None:
        """Fail before any request is sent (and paid for) when the cassette cannot be written."""
        try:
            os.close(_open_private(path, os.O_APPEND))
        except OSError as exc:
            raise ConfigError(f"cannot write cassette {path}: {exc.strerror}")

    def write(self, path: str, provider: Optional[str] = None) -> None:
        interactions = [self._interaction(i, r) for i, r in enumerate(self.records)]
        text = dump_cassette(interactions, {"provider": provider} if provider else None)
        try:
            with open(_open_private(path, os.O_TRUNC), "w", encoding="utf-8") as fh:
                fh.write(text)
        except OSError as exc:
            raise ConfigError(f"cannot write cassette {path}: {exc.strerror}")

    @staticmethod
    def _clean(text: str) -> str:
        """The key (remembered by the Transport) never reaches the file, not even with some
        of its characters JSON-escaped by a server that echoes it."""
        from llmrun.base.secrets import redact_escaped

        return redact_escaped(text)

    def _headers(self, headers: Any, request: bool = False) -> Dict[str, List[str]]:
        out: Dict[str, List[str]] = {}
        for key, value in headers.items():
            if secret_header(key) or self._clean(value) != value or \
                    (request and key.lower() not in _REQUEST_HEADERS):
                continue
            out[key] = [value]
        return out

    def _interaction(self, number: int, record: Dict[str, Any]) -> Dict[str, Any]:
        from urllib.parse import urlsplit

        request, response = record["request"], record["response"]
        body = request.body or b""
        body = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
        raw_body = b"".join(record["body"]).decode("utf-8", "replace")
        headers = {k: v for k, v in response.headers.items() if k.lower() not in _WIRE_HEADERS}
        return {
            "id": number,
            "request": {
                "proto": "HTTP/1.1", "proto_major": 1, "proto_minor": 1,
                "content_length": len(body.encode("utf-8")), "host": urlsplit(request.url).netloc,
                "body": self._clean(body), "form": {},
                "headers": self._headers(request.headers, request=True),
                "url": self._clean(request.url), "method": request.method,
            },
            "response": {
                "proto": "HTTP/1.1", "proto_major": 1, "proto_minor": 1,
                "content_length": -1, "body": self._clean(raw_body),
                "headers": self._headers(headers),
                "status": f"{response.status_code} {response.reason or ''}".strip(),
                "code": response.status_code,
                "duration": f"{time.monotonic() - record['started']:.6f}s",
            },
        }


def dump_cassette(interactions: List[Dict[str, Any]],
                  meta: Optional[Dict[str, Any]] = None) -> str:
    """go-vcr v2 YAML, with bodies as literal blocks so recordings stay readable. libyaml's
    emitter when PyYAML has it: a 64 MiB body (the budget of a step) takes 2 s, not minutes."""
    import yaml

    class Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
        pass

    def text(dumper: Any, value: str) -> Any:
        style = "|" if "\n" in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    document: Dict[str, Any] = {"version": 2, "interactions": interactions}
    if meta:
        document["llmrun"] = meta
    text = yaml.dump(document, Dumper=Dumper, sort_keys=False, allow_unicode=True,
                     width=1 << 20)
    if text.endswith("\n...\n"):  # libyaml's document end marker: the same document
        text = text[:-4]
    return "---\n" + text


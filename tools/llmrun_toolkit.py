"""The Python side of llmrun's ready-made tools (see the YAML files next to this one).

Each function takes the tool's arguments as keyword arguments and returns text; raising an
exception sends the model an error result with the message.
"""

from __future__ import annotations

import os
from datetime import datetime
from html.parser import HTMLParser
from typing import List, Optional

USER_AGENT = "llmrun-tools/1.0 (+https://github.com/llmrun)"
FETCH_LIMIT = 2 * 1024 * 1024  # bytes read from a response, at most


def now(timezone: str = "") -> str:
    """The current date and time, in the local time zone or an IANA one (Europe/Rome)."""
    if timezone:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {timezone!r}; use an IANA name such as "
                             "UTC, Europe/Rome or America/New_York")
        t = datetime.now(zone)
    else:
        t = datetime.now().astimezone()
    return (f"{t:%Y-%m-%d %H:%M:%S} {t.tzname()} (UTC{t:%z}), {t:%A}, "
            f"ISO week {t.isocalendar()[1]}")


LINE_LIMIT = 16 * 1024  # characters of one line that are shown; the rest is skipped
READ_LIMIT = 256 * 1024  # bytes of lines returned by one call, at most


def read_file(path: str, start_line: int = 1, max_lines: int = 400) -> str:
    """Lines of a text file, starting at `start_line`; says where to continue. Memory stays
    small whatever the file: a huge line is cut, never read whole."""
    full = os.path.expanduser(path)
    lines: List[str] = []
    size = 0
    more_at: Optional[int] = None
    with open(full, "rb") as fh:
        if b"\0" in fh.read(8192):
            raise ValueError(f"{path} looks like a binary file, not text")
        fh.seek(0)
        number = 0
        while True:
            raw, cut = _line(fh)
            if not raw and not cut:
                break
            number += 1
            if number < start_line:
                continue
            if len(lines) == max_lines or size >= READ_LIMIT:
                more_at = number
                break
            text = raw.decode("utf-8", "replace").rstrip("\r\n")
            lines.append(text + (f" [… line cut at {LINE_LIMIT} bytes]" if cut else ""))
            size += len(raw)
    text = "\n".join(lines)
    if more_at is not None:
        text += f"\n[… the file goes on; call again with start_line={more_at}]"
    elif not lines:
        text = f"[{path}: no lines from line {start_line} on]"
    return text


def _line(fh: "object") -> "tuple[bytes, bool]":
    """The next line, at most LINE_LIMIT bytes of it; True when the rest was skipped."""
    raw = fh.readline(LINE_LIMIT)  # type: ignore[attr-defined]
    if not raw or raw.endswith(b"\n") or len(raw) < LINE_LIMIT:
        return raw, False
    while True:  # skip the rest of an over-long line in bounded pieces
        rest = fh.readline(LINE_LIMIT)  # type: ignore[attr-defined]
        if not rest or rest.endswith(b"\n"):
            return raw, True


class _TextOfHTML(HTMLParser):
    """Readable text of an HTML page: no scripts, styles or tags; blocks on their own lines."""

    SKIP = {"script", "style", "noscript", "template", "svg", "head"}
    BLOCK = {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "section",
             "article", "header", "footer", "pre", "blockquote", "table", "ul", "ol", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: List[str] = []
        self.skipping = 0
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag == "title":
            self._in_title = True
        if tag in self.SKIP:
            self.skipping += 1
        if tag in self.BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        if tag in self.SKIP and self.skipping:
            self.skipping -= 1
        if tag in self.BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data
        elif not self.skipping:
            self.parts.append(data)

    def text(self) -> str:
        lines = (" ".join(line.split()) for line in "".join(self.parts).splitlines())
        body = "\n".join(line for line in lines if line)
        return (f"# {' '.join(self.title.split())}\n\n" if self.title.strip() else "") + body


def html_to_text(html: str) -> str:
    parser = _TextOfHTML()
    parser.feed(html)
    parser.close()
    return parser.text()


def fetch_url(url: str, raw: bool = False) -> str:
    """GET an http(s) URL: status line, content type, then the body (HTML as plain text
    unless `raw`)."""
    import requests

    if not url.lower().startswith(("http://", "https://")):
        raise ValueError("only http:// and https:// URLs can be fetched")
    session = requests.Session()
    session.trust_env = False  # no ~/.netrc credentials for a model's URL...
    for scheme in ("http", "https"):  # ...but the sandbox's proxy, its only way out
        proxy = os.environ.get(f"{scheme.upper()}_PROXY")
        if proxy:
            session.proxies[scheme] = proxy
    with session, session.get(url, timeout=(10, 30), stream=True,
                              headers={"User-Agent": USER_AGENT}) as resp:
        body = bytearray()
        for chunk in resp.iter_content(64 * 1024):
            body += chunk
            if len(body) >= FETCH_LIMIT:
                break
        if resp.status_code >= 400:
            raise RuntimeError(f"HTTP {resp.status_code} {resp.reason} from {resp.url}")
        ctype = resp.headers.get("Content-Type", "")
        text = _decode(bytes(body[:FETCH_LIMIT]), ctype)
        if "html" in ctype.lower() and not raw:
            text = html_to_text(text)
        return f"HTTP {resp.status_code} {resp.reason} {resp.url}\ncontent-type: {ctype}\n\n{text}"


def _decode(body: bytes, content_type: str) -> str:
    """The charset the server named, else UTF-8 (not requests' ISO-8859-1 guess)."""
    charset = "utf-8"
    for part in content_type.split(";"):
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            charset = value.strip('"\' ')
    try:
        return body.decode(charset, "replace")
    except LookupError:
        return body.decode("utf-8", "replace")


def weather(location: str) -> str:
    """Current weather from wttr.in (LLMRUN_WEATHER_URL points elsewhere, e.g. a mirror)."""
    import requests
    from urllib.parse import quote

    base = (os.environ.get("LLMRUN_WEATHER_URL") or "https://wttr.in").rstrip("/")
    fmt = "%l: %C, %t (feels like %f), humidity %h, wind %w, precipitation %p"
    resp = requests.get(f"{base}/{quote(location, safe='')}", params={"format": fmt},
                        headers={"User-Agent": USER_AGENT}, timeout=(10, 20))
    if resp.status_code >= 400:
        raise RuntimeError(f"weather service answered HTTP {resp.status_code} for "
                           f"{location!r}: {resp.text.strip()[:200]}")
    return resp.text.strip()

"""Attachments (`-a/--attach`): files, `https:` URLs and standard input, typed by their bytes
and turned into the user message's content parts in the provider's dialect.

Every file read for a run's input goes through `read_limited` (attachments, `@FILE`, job
files): never more than the limit in memory, never a secret path (tools/secretpaths.py), never
a device or a folder. The size is checked before any request is sent.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from typing import Any, BinaryIO, Dict, List, Optional, Sequence, Union

from llmrun.base.errors import UsageError
from llmrun.settings.providers import DEFAULT_ATTACHMENT_LIMIT, Dialect
from llmrun.tools.secretpaths import refusal

#: (magic bytes at offset 0, MIME type); WebP is RIFF....WEBP (below).
_IMAGES = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"),
           (b"GIF87a", "image/gif"), (b"GIF89a", "image/gif"))
KINDS = "an image (PNG, JPEG, GIF, WebP), a PDF or UTF-8 text"
_MAX_URL = 8192
STDIN = "-"


@dataclass
class Attachment:
    """One attachment: what it is (`image`, `pdf`, `text`, `url`), its bytes, and where it
    came from (the name as given; the absolute path of a file, None for stdin and URLs)."""

    name: str
    kind: str
    mime: str
    data: bytes = b""
    path: Optional[str] = None

    @property
    def size(self) -> int:
        return len(self.data)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    def record(self) -> Dict[str, Any]:
        """What the run log keeps: never the bytes."""
        where = self.path or (self.name if self.kind == "url" else "-")
        return {"path": where, "type": self.mime, "size": self.size,
                "sha256": None if self.kind == "url" else self.sha256}

    def describe(self) -> str:
        """One line for -v."""
        if self.kind == "url":
            return f"attached {_heading(self.name)} (an image URL the provider fetches)"
        return f"attached {_heading(self.name)} ({self.mime}, {size_text(self.size)})"

    def part(self, dialect: Dialect) -> Dict[str, Any]:
        """The content part, spelled by the dialect."""
        if self.kind == "url":
            return dialect.image_part(self.name)
        if self.kind == "text":
            return dialect.text_part(f"--- {_heading(self.name)} ---\n{self.data.decode('utf-8')}")
        url = _data_url(self.mime, self.data)
        if self.kind == "image":
            return dialect.image_part(url)
        filename = os.path.basename(self.path or self.name) or "document.pdf"
        return dialect.file_part(filename, self.mime, url)


def size_text(n: float) -> str:
    for unit in ("bytes", "KiB", "MiB"):
        if n < 1024 or unit == "MiB":
            return f"{n:g} {unit}" if unit == "bytes" else f"{n:.1f} {unit}".replace(".0 ", " ")
        n /= 1024
    return f"{n:g} MiB"


def read_limited(path: str, limit: int, label: str, cfg: Any = None) -> bytes:
    """The bytes of `path` (a regular file or a pipe), at most `limit` of them: more is a
    UsageError starting with `label` (which names the path), as is a missing, unreadable,
    secret or special file."""
    try:
        fd = os.open(os.path.expanduser(path), os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        raise UsageError(f"{label}: {exc.strerror or exc}") from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise UsageError(f"{label}: a folder, not a file")
        if not (stat.S_ISREG(st.st_mode) or stat.S_ISFIFO(st.st_mode)):
            raise UsageError(f"{label}: not a regular file (a device or a socket)")
        why = refusal(fd, path, cfg)
        if why is not None:
            raise UsageError(f"{label}: {why}")
        if stat.S_ISREG(st.st_mode) and st.st_size > limit:
            raise _too_big(label, st.st_size, limit)
        os.set_blocking(fd, True)  # opened non-blocking only so a FIFO's open cannot hang
        with os.fdopen(fd, "rb", closefd=False) as fh:
            return _read_at_most(fh, limit, label)
    except OSError as exc:
        raise UsageError(f"{label}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)


def _read_at_most(fh: BinaryIO, limit: int, label: str) -> bytes:
    data = fh.read(limit + 1)
    if len(data) > limit:
        raise _too_big(label, None, limit)
    return data


def _too_big(label: str, size: Optional[int], limit: int) -> UsageError:
    what = f"{size_text(size)} is" if size is not None else "it is"
    return UsageError(f"{label}: {what} more than the {size_text(limit)} a file may be "
                      "(nothing was sent)")


def sniff(data: bytes) -> Optional[tuple]:
    """(kind, MIME type) from the bytes, never the name; None when it is none of ours."""
    for magic, mime in _IMAGES:
        if data.startswith(magic):
            return "image", mime
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image", "image/webp"
    if data.startswith(b"%PDF-"):
        return "pdf", "application/pdf"
    if b"\0" not in data:
        try:
            data.decode("utf-8")
            return "text", "text/plain"
        except UnicodeDecodeError:
            pass
    return None


def load(spec: str, limit: int = DEFAULT_ATTACHMENT_LIMIT, cfg: Any = None,
         stdin: Optional[BinaryIO] = None) -> Attachment:
    """One attachment from a path, an `https:` URL, or `-` (the `stdin` given)."""
    if not isinstance(spec, str) or not spec:
        raise UsageError("--attach needs a file, an https: URL or - (standard input)")
    label = f"--attach {_heading(spec)}"
    if "://" in spec[:12]:
        return _url(spec, label)
    if spec == STDIN:
        if stdin is None:
            raise UsageError("--attach -: there is no standard input to read here")
        data, path = _read_at_most(stdin, limit, label), None
    else:
        data = read_limited(spec, limit, label, cfg)
        path = os.path.abspath(os.path.expanduser(spec))
    found = sniff(data)
    if found is None:
        raise UsageError(f"{label}: not {KINDS} (the type is read from the bytes, not the "
                         "name; convert it first)")
    return Attachment(spec if spec != STDIN else "stdin", found[0], found[1], data, path)


def load_all(specs: Sequence[Union[str, Attachment]], limit: int = DEFAULT_ATTACHMENT_LIMIT,
             cfg: Any = None, stdin: Optional[BinaryIO] = None) -> List[Attachment]:
    """Each spec loaded in order (ones already loaded are kept); `-` at most once."""
    if sum(1 for s in specs if s == STDIN) > 1:
        raise UsageError("--attach - can be given once (standard input is read only once)")
    return [s if isinstance(s, Attachment) else load(s, limit, cfg, stdin) for s in specs]


def check_limit(attachments: Sequence[Attachment], limit: int, provider: str) -> None:
    """The provider's own limit, before any request."""
    for a in attachments:
        if a.size > limit:
            raise UsageError(f"--attach {_heading(a.name)}: {size_text(a.size)} is more than "
                             f"the {size_text(limit)} a file may be for {provider} "
                             "(nothing was sent)")


def user_content(prompt: str, attachments: Sequence[Attachment], dialect: Dialect,
                 parts: Optional["Parts"] = None) -> Union[str, List[Dict[str, Any]]]:
    """The user message's content: the prompt alone, or, with attachments, a list of parts
    (the prompt first, then each attachment in the order given), each kept in `parts`."""
    if not attachments:
        return prompt
    kept = parts if parts is not None else Parts()
    return [dialect.text_part(prompt)] + [kept.add(a, a.part(dialect)) for a in attachments]


def _url(spec: str, label: str) -> Attachment:
    if not spec.lower().startswith("https://"):
        raise UsageError(f"{label}: only https: URLs can be attached (the provider fetches "
                         "them); download the file and attach it instead")
    if len(spec) > _MAX_URL or any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in spec) \
            or len(spec) <= len("https://"):
        raise UsageError(f"{label}: not a usable URL (spaces, control characters, or over "
                         f"{_MAX_URL} characters)")
    return Attachment(spec, "url", "text/uri-list")


def _data_url(mime: str, data: bytes) -> str:
    import base64

    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def _heading(name: str) -> str:
    """A name as shown to the model and in errors: control characters escaped."""
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        import json

        return json.dumps(name)[1:-1]
    return name


def most_allowed() -> int:
    """The largest limit any dialect has: what a file may be before the provider is known."""
    from llmrun.settings.providers import DIALECTS

    return max(d.attachment_limit for d in DIALECTS.values())


# -- the run log keeps what an attachment was, never its bytes --------------------------------
#: The part the log keeps in place of an attachment's: {"type": REF, "attachment": record}.
REF = "llmrun_attachment"


class Parts:
    """The attachment parts of a run's messages (by identity: the requests and the result
    carry these very dicts) and the record the run log keeps in place of each."""

    def __init__(self) -> None:
        self._kept: Dict[int, tuple] = {}
        self._records: List[Dict[str, Any]] = []

    def add(self, attachment: Attachment, part: Dict[str, Any]) -> Dict[str, Any]:
        record = attachment.record()
        self._records.append(record)
        if attachment.kind != "url":  # a URL carries no bytes: the log keeps it as sent
            self._kept[id(part)] = (part, record)
        return part

    def records(self) -> List[Dict[str, Any]]:
        return list(self._records)

    def strip(self, messages: Any) -> Any:
        """A copy of `messages` with each attachment part replaced by its record."""
        if not self._kept or not isinstance(messages, list):
            return messages
        out = []
        for message in messages:
            content = message.get("content") if isinstance(message, dict) else None
            if isinstance(content, list) and any(id(p) in self._kept for p in content):
                message = dict(message, content=[
                    {"type": REF, "attachment": self._kept[id(p)][1]} if id(p) in self._kept
                    else p for p in content])
            out.append(message)
        return out

    def strip_body(self, body: Any) -> Any:
        if isinstance(body, dict) and "messages" in body:
            return dict(body, messages=self.strip(body["messages"]))
        return body


def restore(messages: List[Dict[str, Any]], dialect: Dialect, parts: Parts, cfg: Any = None,
            run_id: str = "") -> List[Dict[str, Any]]:
    """A logged conversation (`--continue`) with each kept attachment read again from its
    file and spelled for this run's provider; one that cannot be read, or whose bytes
    changed, is a ConfigError (a different file is never sent as the same one)."""
    from llmrun.base.errors import ConfigError

    def rebuilt(part: Any) -> Any:
        if not (isinstance(part, dict) and part.get("type") == REF):
            return part
        record = part.get("attachment") or {}
        path = record.get("path")
        what = f"run {run_id} attached {path}" if run_id else f"the run attached {path}"
        if not isinstance(path, str) or path == STDIN or not path:
            raise ConfigError(f"{what}: standard input cannot be read again, so the "
                              "conversation cannot go on (attach a file instead)")
        try:
            again = load(path, dialect.attachment_limit, cfg)
        except UsageError as exc:
            raise ConfigError(f"{what}, which cannot be attached now: {exc.message}") from None
        if again.sha256 != record.get("sha256"):
            raise ConfigError(f"{what}, which changed since (its SHA-256 differs); "
                              "--continue will not send a different file")
        return parts.add(again, again.part(dialect))

    out = []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            message = dict(message, content=[rebuilt(p) for p in content])
        out.append(message)
    return out

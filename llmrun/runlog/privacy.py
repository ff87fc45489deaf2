"""What may be stored: the key and every scrubbed secret redacted, texts cut at 1 MiB with
their full length noted, and no texts at all under `log: metadata`.

The events a run emits are already redacted of the API key; this is the second lock, and the
only one for the values the tool environment scrubs (a tool may print `$GITHUB_TOKEN`).
"""

from __future__ import annotations

from typing import Any, List, Optional, Tuple

from llmrun.base.secrets import MASK, redact

#: Longest text kept, in UTF-8 bytes.
CAP = 1 << 20


class Texts:
    """Cleans every string before it is written; remembers what had to be cut."""

    def __init__(self, secrets: List[str], metadata_only: bool = False) -> None:
        self.secrets = [s for s in secrets if len(s) >= 6]  # shorter ones would mangle text
        self.metadata_only = metadata_only
        self.cuts: List[Tuple[str, int]] = []

    def clean(self, text: Any, what: str) -> Optional[str]:
        """`text` redacted and capped; None stays None. Kept even in metadata mode (for
        names, models and error messages)."""
        if text is None:
            return None
        text = redact(str(text))
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        if len(text) * 4 <= CAP:
            return text
        data = text.encode("utf-8", "surrogatepass")
        if len(data) <= CAP:
            return text
        self.cuts.append((what, len(data)))
        return data[:CAP].decode("utf-8", "ignore")

    def text(self, text: Any, what: str) -> Optional[str]:
        """A prompt, answer, argument or result: dropped under `log: metadata`."""
        return None if self.metadata_only else self.clean(text, what)

    def value(self, value: Any, what: str, depth: int = 0) -> Any:
        """Every string of a JSON-like value cleaned (a request body, the messages)."""
        if isinstance(value, str):
            return self.clean(value, what)
        if depth > 200:
            return None
        if isinstance(value, list):
            return [self.value(v, what, depth + 1) for v in value]
        if isinstance(value, dict):
            return {str(self.clean(k, what)): self.value(v, what, depth + 1)
                    for k, v in value.items()}
        return value


def clean_url(url: Optional[str]) -> Optional[str]:
    """A base URL without user:password@ (a credential never goes in the log)."""
    if not url:
        return url
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    netloc = host + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

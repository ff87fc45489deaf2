"""Retries of a request before its body is read: which answers are retried, how long to
wait (exponential backoff with jitter, a server's Retry-After honoured up to a cap), and how a
batch's shared 429 pause counts."""

from __future__ import annotations

import random
import re
from itertools import takewhile
from typing import Any, Optional

from urllib3.util.retry import Retry

from llmrun.base.errors import ConfigError

RETRY_STATUSES = (429, 500, 502, 503, 504)
MAX_RETRY_AFTER = 60.0  # seconds; a server asking for longer is not waited for that long
MAX_FREE_WAITS = 100  # a batch's asked-for waits not counted against --retries, at most
BACKOFF = 0.5  # seconds before the first retry; doubled for each next one
BACKOFF_MAX = 20.0

def asked_wait(value: Optional[str]) -> Optional[float]:
    """The seconds a Retry-After value asks for (a number or an HTTP date), else None."""
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        import email.utils
        import time

        parsed = email.utils.parsedate_tz(value)
        if parsed is None:
            return None
        seconds = email.utils.mktime_tz(parsed) - time.time()
    return max(0.0, seconds) if seconds == seconds and seconds != float("inf") else None


def too_long_a_wait(asked: Optional[float]) -> str:
    """Why llmrun does not wait `asked` seconds for a retry ("" when it does)."""
    if asked is None:
        return ""
    if asked > MAX_RETRY_AFTER:
        return f"more than the {MAX_RETRY_AFTER:g} s llmrun waits"
    from llmrun.base.context import current

    left = current().remaining()
    return f"past --deadline ({left:.0f} s left)" if left is not None and asked > left else ""


class CappedRetry(Retry):
    """urllib3's Retry: exponential backoff with jitter from the first retry on, and a
    server's Retry-After (seconds or HTTP date) honoured for 429/503 up to a cap."""

    RETRY_AFTER_STATUS_CODES = frozenset({429, 503})

    def increment(self, method: Any = None, url: Any = None, response: Any = None,
                  error: Any = None, _pool: Any = None, _stacktrace: Any = None) -> Retry:
        """Give up at once (the caller reports the answer) when waiting cannot help: a
        Retry-After longer than llmrun waits or than --deadline leaves, or a 500 whose body
        says the request itself is bad."""
        from urllib3.exceptions import MaxRetryError

        if response is not None and (self._waits_too_long(response) or _bad_request(response)):
            raise MaxRetryError(_pool, url, "not worth retrying")
        from llmrun.base.context import current

        ctx = current()
        source = self._free_try(ctx, response) or self
        retry = super(CappedRetry, source).increment(method, url, response, error, _pool,
                                                     _stacktrace)
        wait = retry.get_backoff_time()
        if response is not None and response.status in self.RETRY_AFTER_STATUS_CODES:
            asked = retry.get_retry_after(response)
            if asked and ctx.gate is not None:  # the provider asked everyone to wait
                ctx.gate.pause(asked)
            wait = asked or wait
        why = f"HTTP {response.status}" if response is not None else \
            f"connection failed ({type(error).__name__})"
        ctx.emit({"type": "retry", "attempt": len(retry.history),
                        "wait_s": round(min(wait, MAX_RETRY_AFTER), 3), "reason": why})
        return retry

    def sleep(self, response: Any = None) -> None:
        """The wait before a retry, cut short when the run is stopped (a deadline, a cancel)."""
        from llmrun.base.context import current

        ctx = current()
        asked = None
        if self.respect_retry_after_header and response is not None:
            asked = self.get_retry_after(response)
        if not (asked and ctx.gate is not None):  # else the shared pause is the wait
            ctx.sleep(asked or self.get_backoff_time())
        if ctx.gate is not None:
            ctx.gate.wait()

    def _free_try(self, ctx: Any, response: Any) -> Optional[Retry]:
        """In a batch (a patient gate), a wait the provider asked for (429/503 with a
        Retry-After) is no failed try: a copy with one more try to spend, else None."""
        if response is None or response.status not in self.RETRY_AFTER_STATUS_CODES or \
                ctx.gate is None or not ctx.gate.patient or \
                len(self.history) >= MAX_FREE_WAITS or not self.get_retry_after(response) or \
                not isinstance(self.total, int) or not isinstance(self.status, int):
            return None
        return self.new(total=self.total + 1, status=self.status + 1)

    def _waits_too_long(self, response: Any) -> bool:
        return response.status in self.RETRY_AFTER_STATUS_CODES and \
            bool(too_long_a_wait(asked_wait(response.headers.get("Retry-After"))))

    def parse_retry_after(self, retry_after: str) -> float:
        """Seconds (fractions too) or an HTTP date, capped; a garbled value is no wait
        (the ordinary back-off applies) rather than an error."""
        asked = asked_wait(retry_after)
        return 0.0 if asked is None else min(asked, self.retry_after_max)

    def get_backoff_time(self) -> float:
        errors = len(list(takewhile(lambda h: h.redirect_location is None,
                                    reversed(self.history))))
        if errors == 0:
            return 0.0
        value = self.backoff_factor * 2 ** (errors - 1) + random.random() * self.backoff_jitter
        return float(max(0.0, min(self.backoff_max, value)))


#: What a 500 says when the request itself is bad (llama.cpp answers cut tool-call arguments
#: with a 500 "Failed to parse …"): retrying the same request cannot help.
_REQUEST_IS_BAD = re.compile(rb"fail(ed)? to parse|parse error|invalid (request|argument|json|"
                             rb"value|parameter|tool)|bad request|malformed|not supported|"
                             rb"unsupported|validation error|context (length|window)|too long",
                             re.IGNORECASE)


def _bad_request(response: Any) -> bool:
    """A small 500 answer whose body says the request is at fault (the body is kept for the
    error message)."""
    if response.status != 500:
        return False
    length = response.headers.get("Content-Length")
    if not length or not length.isdigit() or int(length) > 65536:
        return False
    try:
        body = response.data  # read and kept: api_error shows it
    except Exception:
        return False
    return bool(body and _REQUEST_IS_BAD.search(body[:65536]))


def backoff_base() -> float:
    """LLMRUN_RETRY_BACKOFF (seconds before the first retry) or the default."""
    from llmrun.settings.config import env

    text = env("LLMRUN_RETRY_BACKOFF")
    if text is None:
        return BACKOFF
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 600:
        raise ConfigError(f"LLMRUN_RETRY_BACKOFF={text!r} is not a number of seconds "
                          "between 0 and 600")
    return value


def make_retry(retries: int, backoff: Optional[float] = None) -> Retry:
    """Retry connection errors and 429/5xx answers: only before a body byte was read (the
    body is read outside urllib3's urlopen, so a broken stream is never retried)."""
    base = backoff_base() if backoff is None else backoff
    retry = CappedRetry(total=retries, connect=retries, read=retries, status=retries, other=0,
                        backoff_factor=base, backoff_jitter=base / 2,
                        backoff_max=max(BACKOFF_MAX, base), retry_after_max=MAX_RETRY_AFTER,
                        status_forcelist=RETRY_STATUSES, allowed_methods=None,
                        respect_retry_after_header=True, raise_on_status=False,
                        raise_on_redirect=False)
    return retry

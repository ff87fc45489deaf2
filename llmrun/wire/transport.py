"""HTTP to the provider: one `requests` session, retries before the body, clear errors."""

from __future__ import annotations

import json
import os
import random
import re
from itertools import takewhile
from typing import Any, Dict, Optional
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from llmrun import __version__
from llmrun.base.errors import APIError, ConfigError, ConnectError, LlmrunError, StreamError
from llmrun.base.secrets import redact, remember_secret
from llmrun.settings.providers import GENERIC, Provider
from llmrun.wire.connections import watch_connections
from llmrun.wire.failures import classify, error_detail, reason

RETRY_STATUSES = (429, 500, 502, 503, 504)
MAX_RETRY_AFTER = 60.0  # seconds; a server asking for longer is not waited for that long
MAX_FREE_WAITS = 100  # a batch's asked-for waits not counted against --retries, at most
BACKOFF = 0.5  # seconds before the first retry; doubled for each next one
BACKOFF_MAX = 20.0

_HINTS = {
    404: "check the base URL and the model id",
    413: "the request is too large: shorten the prompt or the tool results",
    429: "rate limited: wait and try again, or raise --retries",
}


def printable_url(text: str) -> str:
    """A server-chosen URL, cut short and with control characters escaped."""
    shown = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text[:300])
    return shown + ("…" if len(text) > 300 else "")


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


_PROXIES: Dict[Any, Dict[str, str]] = {}
#: What requests reads for an http(s) URL (urllib: REQUEST_METHOD turns HTTP_PROXY off).
_PROXY_NAMES = tuple(n for base in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
                     for n in (base, base.upper())) + ("REQUEST_METHOD",)


def _environ_proxies(url: str) -> Dict[str, str]:
    """requests' reading of the proxy variables for `url`, kept for as long as they stay as
    they are: urllib's parsing of them costs a batch's every item more than its request."""
    key = (url, tuple(os.environ.get(name) for name in _PROXY_NAMES))
    found = _PROXIES.get(key)
    if found is None:
        found = _PROXIES[key] = requests.utils.get_environ_proxies(url)
        if len(_PROXIES) > 64:  # a program that keeps changing them: start afresh
            _PROXIES.clear()
            _PROXIES[key] = found
    return dict(found)


class Transport:
    """Sends chat-completion requests for one run and checks the answer's status."""

    def __init__(self, provider: Provider, api_key: Optional[str], timeout: float = 120,
                 retries: int = 2, adapter: Optional[HTTPAdapter] = None,
                 shared: bool = False) -> None:
        self.provider = provider
        self.api_key = api_key.strip() if api_key else None
        remember_secret(api_key)
        remember_secret(self.api_key)
        if self.api_key and not all(33 <= ord(c) < 127 for c in self.api_key):
            raise ConfigError(f"the API key in {self.key_variable()} contains spaces or "
                              "characters that cannot be sent in an HTTP header; check it")
        self.timeout = timeout
        self.retries = retries
        self.session = requests.Session()
        # the environment is read once here, not for every request (requests' trust_env
        # reads ~/.netrc and scans the proxy variables on each): HTTPS_PROXY, NO_PROXY and
        # REQUESTS_CA_BUNDLE/CURL_CA_BUNDLE still apply; ~/.netrc never does (the key is ours)
        self.session.trust_env = False
        self.session.proxies.update(_environ_proxies(provider.base_url))
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            self.session.verify = bundle
        self.shared = shared  # `adapter` is a session's pool, which outlives this run
        self.adapter = watch_connections(adapter or HTTPAdapter(max_retries=make_retry(retries)))
        self.session.mount("http://", self.adapter)
        self.session.mount("https://", self.adapter)

    @property
    def url(self) -> str:
        return self.provider.base_url + "/chat/completions"

    @property
    def who(self) -> str:
        """How messages name the other side: the provider, or the server's host."""
        if self.provider.name != GENERIC:
            return self.provider.name
        return f"the server at {urlsplit(self.url).netloc or self.url}"

    def headers(self) -> Dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream",
                   "User-Agent": f"llmrun/{__version__}"}
        headers.update(self.provider.headers)
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def post(self, body: Dict[str, Any]) -> requests.Response:
        """POST a request; return the streaming response once its status is good."""
        from llmrun.base.context import current

        data = json.dumps(body, ensure_ascii=False, allow_nan=False).encode("utf-8")
        gate = current().gate
        if gate is not None:  # runs that share a rate limit take turns
            gate.wait()
        try:
            resp = self.session.post(self.url, data=data, headers=self.headers(), stream=True,
                                     timeout=(self.timeout, self.timeout),
                                     allow_redirects=False)
        except requests.exceptions.RequestException as exc:
            raise self.connection_error(exc) from None
        self.refuse_redirect(resp)
        if resp.status_code >= 400:
            raise self.api_error(resp)
        return resp

    def refuse_redirect(self, resp: requests.Response, url: Optional[str] = None) -> None:
        """A redirect is never followed: the conversation and the headers (the key, custom
        auth headers) would go to wherever `Location` points."""
        if not 300 <= resp.status_code < 400:
            return
        target = resp.headers.get("Location") or "(no Location header)"
        resp.close()
        raise StreamError(redact(f"{self.who} answered HTTP {resp.status_code} redirecting "
                                 f"{url or self.url} to {printable_url(target)}; llmrun does "
                                 "not follow redirects from the API: set the base URL to the "
                                 "right place yourself if you trust it"))

    def get_json(self, path: str) -> Any:
        """GET `base_url + path` (say /models) with the same key, headers and retries."""
        url = self.provider.base_url + path
        headers = self.headers()
        headers.pop("Content-Type", None)
        headers["Accept"] = "application/json"
        try:
            resp = self.session.get(url, headers=headers, stream=True,
                                    timeout=(self.timeout, self.timeout), allow_redirects=False)
            self.refuse_redirect(resp, url)
            if resp.status_code >= 400:
                raise self.api_error(resp, url)
            body = resp.content
        except requests.exceptions.RequestException as exc:
            raise self.connection_error(exc, url) from None
        try:
            return json.loads(body)
        except ValueError:
            raise StreamError(f"{url} did not answer JSON (is this an OpenAI-compatible "
                              "API?)") from None

    def complete(self, body: Dict[str, Any], acc: Any) -> None:
        """Send one request and read its whole answer into `acc`."""
        from llmrun.base.context import activity
        from llmrun.wire.stream import read_response

        try:
            with activity(f"waiting for {self.who} to answer"):
                resp = self.post(body)
            with activity(f"reading the answer stream from {self.who}"):
                read_response(resp, acc, timeout=self.timeout)
        except LlmrunError as exc:  # a server may echo anything back: never show the key
            exc.message = redact(exc.message)
            exc.args = (exc.message,)
            raise

    def connection_error(self, exc: requests.exceptions.RequestException,
                         url: Optional[str] = None) -> LlmrunError:
        """No usable answer: say what failed, in words, and what to try."""
        from urllib3.exceptions import MaxRetryError

        url = url or self.url
        if isinstance(exc, (requests.exceptions.InvalidURL, requests.exceptions.MissingSchema,
                            requests.exceptions.InvalidSchema)):
            return ConfigError(redact(f"invalid base URL: requests would go to {url!r} "
                                      "(give an http:// or https:// URL)"))
        if isinstance(exc, requests.exceptions.InvalidHeader):
            return ConfigError("a request header is invalid: check the provider's headers "
                               f"and the key in {self.key_variable()}")
        tries = []
        if self.retries and any(isinstance(a, MaxRetryError) for a in exc.args):
            tries = [f"after {self.retries + 1} attempts"]
        kind = classify(exc)
        t = f"{self.timeout:g} s"
        if kind == "timeout" and isinstance(exc, requests.exceptions.ConnectTimeout):
            text, hint = f"cannot connect to {url}: timed out after {t}", "check the URL"
        elif kind == "timeout":
            text, hint = f"no answer from {url} within {t}", "raise --timeout or try again"
        elif kind in ("dropped", "reset", "incomplete"):
            text, hint = f"{self.who} closed the connection before answering", url
        elif kind == "refused":
            text, hint = f"cannot connect to {url}: connection refused", "is the server up?"
        elif kind == "dns":
            text = f"cannot connect to {url}: cannot resolve host {urlsplit(url).hostname}"
            hint = "check the URL"
        elif kind == "tls":
            text, hint = f"TLS error talking to {url}: {reason(exc)}", ""
        else:
            text, hint = f"cannot connect to {url}: {reason(exc)}", ""
        notes = "; ".join(tries + [hint] if hint else tries)
        text += f" ({notes})" if notes else ""
        # error.type "connection" when no connection was made, "stream" once one was
        made = kind in ("dropped", "reset", "incomplete") or (
            kind == "timeout" and not isinstance(exc, requests.exceptions.ConnectTimeout))
        return (StreamError if made else ConnectError)(redact(text))

    def api_error(self, resp: requests.Response, url: Optional[str] = None) -> APIError:
        """HTTP 4xx/5xx: the status, the provider's own message, and what to do."""
        try:
            raw = resp.raw.read(65536, decode_content=True) or resp.raw.data or b""
        except Exception:  # the body is a courtesy; the status alone still says enough
            raw = b""
        finally:
            resp.close()
        code, why = resp.status_code, resp.reason or ""
        detail = error_detail(raw.decode("utf-8", "replace"))
        if detail.lower() in (why.lower(), f"{code} {why}".lower()):
            detail = ""
        message = f"{self.who} answered HTTP {code}" + (f" {why}" if why else "")
        message += f": {detail}" if detail else ""
        hints = []
        retries = getattr(resp.raw, "retries", None)
        history = len(retries.history) if retries is not None else 0
        if history and code in RETRY_STATUSES:
            hints.append(f"after {history + 1} attempts")
        hints.append(self._wait_hint(resp) or self._hint(code, url or self.url))
        message += " (" + "; ".join(h for h in hints if h) + ")" if any(hints) else ""
        return APIError(redact(message), code)

    @staticmethod
    def _wait_hint(resp: requests.Response) -> str:
        """A Retry-After llmrun did not wait for: say how long the provider asked."""
        asked = asked_wait(resp.headers.get("Retry-After"))
        if asked is None or resp.status_code not in RETRY_STATUSES:
            return ""
        why = too_long_a_wait(asked)
        return f"the provider asked to wait {asked:g} s before retrying" + \
            (f", {why}: try again later" if why else "")

    def _hint(self, code: int, url: str) -> str:
        if code in (401, 403):
            if not self.api_key:
                variable = self.provider.api_key_env
                return "no API key was sent: set " + \
                    (f"{variable} or LLMRUN_API_KEY" if variable else "LLMRUN_API_KEY")
            return f"check the key in {self.key_variable()}" + \
                (" and its access to this model" if code == 403 else "")
        if code in _HINTS:
            return _HINTS[code] + (f": requests go to {url}" if code == 404 else "")
        return "the provider is having trouble; try again later" if code >= 500 else ""

    def key_variable(self) -> str:
        """The variable the key came from, for messages; never the key itself."""
        from llmrun.settings.config import env

        if env("LLMRUN_API_KEY"):
            return "LLMRUN_API_KEY"
        return self.provider.api_key_env or "LLMRUN_API_KEY"

    def close(self) -> None:
        if not self.shared:  # closing the requests session closes its adapters' pools
            self.session.close()

"""HTTP to the provider: one `requests` session, retries before the body, clear errors."""

from __future__ import annotations

import json
import os
from typing import Any, Dict, Optional
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from llmrun import __version__
from llmrun.base.errors import APIError, ConfigError, ConnectError, LlmrunError, StreamError
from llmrun.base.secrets import redact, remember_secret
from llmrun.settings.providers import GENERIC, Provider
from llmrun.wire.connections import watch_connections
from llmrun.wire.failures import classify, error_detail, reason
from llmrun.wire.proxies import environ_proxies
from llmrun.wire.retry import RETRY_STATUSES, asked_wait, make_retry, too_long_a_wait

_HINTS = {
    404: "check the base URL and the model id",
    413: "the request is too large: shorten the prompt or the tool results",
    429: "rate limited: wait and try again, or raise --retries",
}


def printable_url(text: str) -> str:
    """A server-chosen URL, cut short and with control characters escaped."""
    shown = "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text[:300])
    return shown + ("…" if len(text) > 300 else "")


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
        self.session.proxies.update(environ_proxies(provider.base_url))
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
            # straight to the adapter: what requests' Session adds (cookies, hooks, merging
            # its settings into each request's) an API call has no use for, and it costs a
            # batch's every request more than the adapter itself
            request = requests.PreparedRequest()
            request.prepare(method="POST", url=self.url, headers=self.headers(), data=data)
            resp = self.adapter.send(request, stream=True, timeout=(self.timeout, self.timeout),
                                     verify=self.session.verify, cert=None,
                                     proxies=self.session.proxies)
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

"""HTTP to the provider: one `requests` session, retries before the body, clear errors."""

from __future__ import annotations

import json
import re
from typing import Any, Dict, Optional

import requests
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from llmrun import __version__
from llmrun.errors import APIError, StreamError
from llmrun.providers import Provider

RETRY_STATUSES = (429, 500, 502, 503, 504)
MAX_RETRY_AFTER = 60.0  # seconds; a server asking for longer is not waited for that long


class CappedRetry(Retry):
    """urllib3's Retry, with a server's Retry-After capped so cron jobs do not hang."""

    def get_retry_after(self, response: Any) -> Optional[float]:
        seconds = super().get_retry_after(response)
        return None if seconds is None else min(seconds, MAX_RETRY_AFTER)


def make_retry(retries: int) -> Retry:
    """Retry connection errors and 429/5xx answers, never a read once a body was sent."""
    return CappedRetry(total=retries, connect=retries, read=0, status=retries, other=0,
                       backoff_factor=0.5, backoff_jitter=0.25, backoff_max=20,
                       status_forcelist=RETRY_STATUSES, allowed_methods=None,
                       respect_retry_after_header=True, raise_on_status=False,
                       raise_on_redirect=False)


class Transport:
    """Sends chat-completion requests for one run and checks the answer's status."""

    def __init__(self, provider: Provider, api_key: Optional[str], timeout: float = 120,
                 retries: int = 2, adapter: Optional[HTTPAdapter] = None) -> None:
        self.provider = provider
        self.api_key = api_key
        self.timeout = timeout
        self.session = requests.Session()
        self.session.trust_env = True
        self.adapter = adapter or HTTPAdapter(max_retries=make_retry(retries))
        self.session.mount("http://", self.adapter)
        self.session.mount("https://", self.adapter)

    @property
    def url(self) -> str:
        return self.provider.base_url + "/chat/completions"

    def headers(self) -> Dict[str, str]:
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream",
                   "User-Agent": f"llmrun/{__version__}"}
        headers.update(self.provider.headers)
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        return headers

    def post(self, body: Dict[str, Any]) -> requests.Response:
        """POST a request; return the streaming response once its status is good."""
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        try:
            resp = self.session.post(self.url, data=data, headers=self.headers(), stream=True,
                                     timeout=(self.timeout, self.timeout))
        except requests.exceptions.RetryError as exc:  # pragma: no cover - raise_on_status off
            raise StreamError(f"giving up on {self.url}: {exc}")
        except requests.exceptions.ConnectTimeout:
            raise StreamError(f"cannot connect to {self.url}: timed out after "
                              f"{self.timeout:g} s (check the URL or raise --timeout)")
        except requests.exceptions.ReadTimeout:
            raise StreamError(f"no answer from {self.url} within {self.timeout:g} s "
                              "(raise --timeout)")
        except requests.exceptions.ConnectionError as exc:
            raise StreamError(f"cannot connect to {self.url}: {_reason(exc)}")
        except requests.exceptions.RequestException as exc:
            raise StreamError(f"request to {self.url} failed: {_reason(exc)}")
        if resp.status_code >= 400:
            raise self.api_error(resp)
        return resp

    def complete(self, body: Dict[str, Any], acc: Any) -> None:
        """Send one request and read its whole answer into `acc`."""
        from llmrun.stream import read_response

        read_response(self.post(body), acc)

    def api_error(self, resp: requests.Response) -> APIError:
        try:
            raw = resp.raw.read(65536, decode_content=True) or b""
        except Exception:
            raw = b""
        finally:
            resp.close()
        detail = error_detail(raw.decode("utf-8", "replace"))
        status = f"HTTP {resp.status_code}" + (f" {resp.reason}" if resp.reason else "")
        message = f"{self.provider.name} answered {status}" + (f": {detail}" if detail else "")
        if resp.status_code in (401, 403):
            message += f" (check the key in {self.key_variable()})"
        return APIError(self.redact(message), resp.status_code)

    def key_variable(self) -> str:
        from llmrun.config import env

        if env("LLMRUN_API_KEY"):
            return "LLMRUN_API_KEY"
        return self.provider.api_key_env or "LLMRUN_API_KEY"

    def redact(self, text: str) -> str:
        return text.replace(self.api_key, "[redacted]") if self.api_key else text

    def close(self) -> None:
        self.session.close()


def error_detail(text: str) -> str:
    """The provider's own error message from a JSON body, or the first line of text/HTML."""
    text = text.strip()
    if not text:
        return ""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if data is not None:
        found = _find_message(data)
        if found:
            return found[:500]
    if "<" in text and ">" in text:  # HTML: the title or first text line
        title = re.search(r"<title[^>]*>(.*?)</title>", text, re.I | re.S)
        text = title.group(1) if title else re.sub(r"<[^>]+>", " ", text)
    for line in text.splitlines():
        if line.strip():
            return " ".join(line.split())[:300]
    return ""


def _find_message(data: Any) -> str:
    """OpenAI/OpenRouter `{"error": {"message"}}`, Vercel, `{"message"}`, `{"detail"}` …"""
    if isinstance(data, str):
        return data
    if isinstance(data, list) and data:
        return _find_message(data[0])
    if not isinstance(data, dict):
        return ""
    error = data.get("error")
    if isinstance(error, dict):
        message = _find_message(error)
        raw = (error.get("metadata") or {}).get("raw") if isinstance(error.get("metadata"),
                                                                     dict) else None
        if message and isinstance(raw, str) and raw not in message:
            message += f" ({raw[:200]})"
        return message
    if isinstance(error, str):
        return error
    for key in ("message", "detail", "error_description", "msg"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, (dict, list)):
            return _find_message(value)
    return ""


def _reason(exc: BaseException) -> str:
    """The innermost cause of a requests/urllib3 error, without the noise."""
    text = str(exc)
    for pattern in (r"\[Errno -?\d+\] ([^'\")]+)", r"Caused by \w+\('?(.*?)'?\)\)*$"):
        match = re.search(pattern, text)
        if match:
            return match.group(1).strip(" :'\"")
    return text[:300]

"""The proxy variables as requests reads them for a URL, read again only when they change."""

from __future__ import annotations

import os
from typing import Any, Dict

import requests

_PROXIES: Dict[Any, Dict[str, str]] = {}
#: What requests reads for an http(s) URL (urllib: REQUEST_METHOD turns HTTP_PROXY off).
_PROXY_NAMES = tuple(n for base in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
                     for n in (base, base.upper())) + ("REQUEST_METHOD",)


def environ_proxies(url: str) -> Dict[str, str]:
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

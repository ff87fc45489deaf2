"""Turning network failures while a body is read into StreamError."""

from __future__ import annotations

from typing import Callable


def wrap_read(read: Callable[[int], bytes]) -> Callable[[int], bytes]:
    """Wrap a raw read so a reset, a stall or a cut chunked body becomes a StreamError."""
    import socket

    from urllib3.exceptions import HTTPError as Urllib3Error, ReadTimeoutError

    from llmrun.errors import StreamError

    def guarded(size: int) -> bytes:
        try:
            return read(size)
        except ReadTimeoutError:
            raise StreamError("the stream stalled: no data within the timeout (raise --timeout)")
        except socket.timeout:
            raise StreamError("the stream stalled: no data within the timeout (raise --timeout)")
        except (Urllib3Error, OSError, ValueError) as exc:
            raise StreamError(f"the connection broke mid-stream: {_short(exc)}")

    return guarded


def _short(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text.split(": ", 1)[-1][:200] if "Connection broken" in text else text[:200]

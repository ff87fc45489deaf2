"""One gate for the requests of many runs (a batch, a Session): a requests-per-minute cap
and one shared pause when the provider says 429, so N workers back off together instead of
each hammering the provider on its own."""

from __future__ import annotations

import threading
import time
from typing import Optional


class Gate:
    """`wait()` before each request; `pause(seconds)` when the provider asked everyone to."""

    def __init__(self, rpm: Optional[float] = None, patient: bool = False) -> None:
        self.interval = 60.0 / rpm if rpm else 0.0
        #: A batch's gate: a wait the provider asked for (429/503 Retry-After) is waited out
        #: and not counted against --retries (llmrun/wire/transport.py).
        self.patient = patient
        self._lock = threading.Lock()
        self._next = 0.0  # monotonic time of the next free slot
        self._paused_until = 0.0

    def pause(self, seconds: float) -> None:
        """No request of anyone starts for `seconds` from now (a 429's Retry-After)."""
        with self._lock:
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)

    def wait(self) -> float:
        """Take a slot, waiting for it (interruptibly: the run's stop cuts the wait short);
        return how long it waited."""
        from llmrun.base.context import current

        ctx = current()
        waited = 0.0
        while True:
            with self._lock:
                now = time.monotonic()
                free = max(self._next, self._paused_until)
                if free <= now:
                    self._next = max(now, self._next) + self.interval
                    return waited
            pause = free - now
            ctx.sleep(pause)  # raises the run's stop reason if it is stopped meanwhile
            waited += pause

"""Imports started early on a thread of their own, where the run would otherwise wait with
nothing to do: the HTTP stack (requests and urllib3, tens of milliseconds of CPU) while MCP
servers start, which is mostly waiting for their answers."""

from __future__ import annotations

import sys
import threading

_started = threading.Event()


def import_transport() -> None:
    """Start importing llmrun.wire.transport, once; the run's own import waits for it (the
    import lock), and says what is wrong if it fails."""
    if _started.is_set() or "llmrun.wire.transport" in sys.modules:
        return
    _started.set()

    def work() -> None:
        try:
            import llmrun.wire.transport  # noqa: F401
        except Exception:
            pass

    threading.Thread(target=work, daemon=True, name="llmrun-import").start()

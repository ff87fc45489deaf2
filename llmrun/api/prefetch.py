"""Imports started early on a thread of their own, where the run would otherwise wait with
nothing to do: the HTTP stack (requests and urllib3, tens of milliseconds of CPU) and the rest
of a run's path (the loop, the tool runner, the stream reader) while MCP servers start, which
is mostly waiting for their answers. Left to the run, a batch's first items would import them
one after the other under the GIL, each waiting for the import lock of the one before."""

from __future__ import annotations

import importlib
import sys
import threading

_started = threading.Event()

#: What a run imports once its tools are ready, in the order it needs them;
#: tests/test_startup.py checks that a batch imports nothing of llmrun's after these.
RUN_PATH = (
    "llmrun.api.run", "llmrun.wire.transport", "llmrun.wire.stream", "llmrun.loop.run",
    "llmrun.tools.runner", "llmrun.tools.checker", "llmrun.tools.validate",
    "llmrun.tools.schemaguard", "llmrun.tools.schema", "llmrun.base.jsonsafe",
    "llmrun.api.recording",
    "llmrun.runlog.recorder", "llmrun.runlog.background", "llmrun.runlog.finish",  # none of
    "llmrun.runlog.steps", "llmrun.runlog.schema",  # them imports sqlite3
    "requests.models", "encodings.idna",  # idna: the codec of a connect's host name
)


def import_transport() -> None:
    """Start importing the run's path (RUN_PATH), once; the run's own imports wait for it
    (the import lock), and say what is wrong if one fails."""
    if _started.is_set() or "llmrun.loop.run" in sys.modules:
        return
    _started.set()
    threading.Thread(target=import_run_path, daemon=True, name="llmrun-import").start()


def import_run_path() -> None:
    for name in RUN_PATH:
        try:
            importlib.import_module(name)
        except Exception:  # the run's own import says what is wrong
            pass

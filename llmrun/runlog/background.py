"""The recorder on a thread of its own: the run hands it each event and goes on; opening
the file, SQLite's locks and the disk are the thread's business. `close` waits for what is
left (one transaction and the file's close), at most a bounded time.

An event is handed over as it is at that moment: the request of a step is copied (its
message list grows after the step), everything else is not changed after it is emitted.
"""

from __future__ import annotations

import queue
import threading
from typing import Any, Callable, Dict, Optional

from llmrun.runlog.settings import LogSettings
from llmrun.runlog.store import BUSY_S

#: The events the log reads; deltas (text, reasoning) are not even queued.
WANTED = frozenset(("start", "warning", "step", "tool_call", "tool_result", "result"))


class BackgroundRecorder:
    """`settings` may be a function that returns them (None: nothing is logged), so that
    even reading the config file happens on the thread."""

    def __init__(self, settings: Any, info: Dict[str, Any], warn: Any,
                 opener: Callable[..., Any]) -> None:
        self.settings, self.warn, self.opener = settings, warn, opener  # recorder.open_now
        self.items: "queue.SimpleQueue[Optional[Dict[str, Any]]]" = queue.SimpleQueue()
        self.recorder: Any = None
        self.thread = threading.Thread(target=self._work, args=(dict(info),), daemon=True,
                                       name="llmrun-runlog")
        self.closed = False
        self.written = threading.Event()  # every event handed over is in the file
        self.thread.start()

    @property
    def id(self) -> Optional[str]:
        """The run's id, once the thread has written its row."""
        return getattr(self.recorder, "id", None)

    def event(self, event: Dict[str, Any]) -> None:
        if event.get("type") not in WANTED or self.closed:
            return
        request = event.get("_request")
        if isinstance(request, dict) and isinstance(request.get("messages"), list):
            event = dict(event, _request=dict(request, messages=list(request["messages"])))
        self.items.put(event)

    def close(self) -> None:
        """Wait until the rest is committed (bounded: a stuck disk never holds the run).
        Closing the file (SQLite's checkpoint) is left to the thread: a process that exits
        meanwhile leaves a WAL that the next reader or writer folds in, as after a crash."""
        if self.closed:
            return
        self.closed = True
        self.items.put(None)
        if not self.written.wait(BUSY_S * 2 + 5):
            _warn(self.warn, f"the run log {getattr(self.settings, 'path', '')} is too slow to answer; the "
                             "end of this run may be missing from it")

    def _work(self, info: Dict[str, Any]) -> None:
        try:
            if callable(self.settings):
                self.settings = self.settings()
            if isinstance(self.settings, LogSettings) and self.settings.enabled:
                self.recorder = self.opener(self.settings, info, self.warn)
        except Exception as exc:  # open_now warns for everything it can foresee
            _warn(self.warn, f"this run is not logged: {exc}")
            self.recorder = None
        try:
            done = False
            while not done:
                batch = [self.items.get()]
                while batch[-1] is not None:  # what else is queued already: one transaction
                    try:
                        batch.append(self.items.get_nowait())
                    except queue.Empty:
                        break
                done = batch[-1] is None  # close() puts it last
                batch = [e for e in batch if e is not None]
                if self.recorder is not None and batch:
                    self.recorder.events(batch)
            if self.recorder is not None:
                self.recorder.finish()
        finally:
            self.written.set()
        if self.recorder is not None:
            self.recorder.close()


def _warn(warn: Any, message: str) -> None:
    try:
        warn(message)
    except Exception:
        pass

"""llmrun as a library: `ask` returns a run's result, `events` yields its events.

Nothing here prints, reads standard input, installs a signal handler or asks a question; a
run's failures are in its result (`exit_code`, `error`), not exceptions. Only a bad argument
raises: ValueError (what the command line answers with exit 2) or TypeError.
"""

from __future__ import annotations

import queue
import signal
import threading
from typing import Any, Dict, Iterator

from llmrun.api.options import RunOptions
from llmrun.api.session import Session
from llmrun.base.context import Interrupt, RunContext
from llmrun.base.events import PUBLIC_TYPES, Consumer, public

# llmrun.api.run (the loop, the accumulator, the result) is imported by the functions below
# when called: `llmrun batch` imports this package for its scheduler, and starts its MCP
# servers before it needs a run (api/prefetch.py imports it then)

__all__ = ["ask", "events", "Session", "RunOptions"]


def ask(prompt: str, *, _session: Any = None, **kwargs: Any) -> Any:
    """Run one ask to its end; return its RunResult (`exit_code`, `answer`, `data`, `usage`,
    `tool_calls`, `error`, `warnings`, `to_dict()`: exactly the --json object)."""
    from llmrun.api.run import check_prompt, execute, load_attachments

    options = RunOptions.from_kwargs(**kwargs)
    text = check_prompt(prompt)
    return execute(options, text, session=_session, attachments=load_attachments(options.attach))


class _Queue(Consumer):
    def __init__(self) -> None:
        self.items: "queue.Queue[Dict[str, Any]]" = queue.Queue()

    def event(self, event: Dict[str, Any]) -> None:
        self.items.put(event)


def events(prompt: str, *, _session: Any = None, **kwargs: Any) -> Iterator[Dict[str, Any]]:
    """The run's events as the dicts `--events` prints, the `result` event last, always.

    The arguments are checked now; the run starts with the first `next()`, in a thread of
    its own. Closing the iterator early (or leaving a `for` loop) cancels the run."""
    from llmrun.api.run import check_prompt, load_attachments

    options = RunOptions.from_kwargs(**kwargs)
    text = check_prompt(prompt)
    return _stream(options, text, _session, load_attachments(options.attach))


def _stream(options: RunOptions, prompt: str, session: Any,
            attachments: Any) -> Iterator[Dict[str, Any]]:
    from llmrun.api.run import execute

    sink = _Queue()
    ctx = RunContext(options.deadline, options.cancel)
    worker = threading.Thread(target=execute, args=(options, prompt, [sink]),
                              kwargs={"session": session, "ctx": ctx,
                                      "attachments": attachments}, daemon=True,
                              name="llmrun-run")
    worker.start()
    finished = False
    try:
        while True:
            event = sink.items.get()
            finished = event["type"] == "result"
            if event["type"] in PUBLIC_TYPES:
                yield public(event)
            if finished:
                return
    finally:
        if not finished:
            ctx.stop(Interrupt(signal.SIGINT))
        worker.join()

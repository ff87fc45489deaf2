"""`llmrun batch`: many asks in one process — N worker threads, each running `execute` for one
item at a time, with one Session (MCP servers started once, one rate gate whose 429 pause
holds every worker) and one output file written in completion order.

The scheduler owns what the whole batch has: the items left, the batch's cost and deadline,
and the stop (a signal, --batch-deadline, a failed output). Each item keeps its own context,
limits and tools, exactly as `llmrun ask` would run it. Input reading and ids are in
api/batchinput.py, shards in api/shards.py, the output file and --resume in api/batchout.py.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence

from llmrun.api.batchinput import Item
from llmrun.api.options import RunOptions
from llmrun.base.context import DeadlineReached, RunContext, Stop
from llmrun.base.errors import (CONFIG, LIMIT, OK, SOME_FAILED, ConfigError, InputError,
                                LimitError, LlmrunError, UsageError)
from llmrun.base.events import Consumer

MAX_CONCURRENCY = 64


@dataclass
class BatchOptions:
    """What only a batch has (the ask options of each item are a RunOptions)."""

    source: str  # a file, or "-" for standard input
    text: bool = False
    output: Optional[str] = None
    resume: bool = False
    concurrency: int = 8
    rpm: Optional[int] = None
    max_cost: Optional[float] = None  # --batch-max-cost
    deadline: Optional[float] = None  # --batch-deadline
    shard: Optional[str] = None
    quiet: bool = False
    verbose: bool = False
    job: Any = None  # --job: the loaded job file (api/job.py), whose template items fill

    def check(self) -> None:
        if self.resume and not self.output:
            raise UsageError("--resume needs -o FILE (the output it finishes)")
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise UsageError(f"--concurrency must be from 1 to {MAX_CONCURRENCY}")


@dataclass
class ItemRun:
    """What is known of one item's run: where a run log records it (batch and item id)."""

    batch_id: str
    item: Item
    options: RunOptions
    ctx: RunContext

    def log_info(self) -> Dict[str, Any]:
        """What the run log's row of this item adds to a run's (`llmrun log --batch ID`)."""
        from llmrun.api.recording import cli_info

        return dict(cli_info(), batch_id=self.batch_id, item_id=self.item.id, kind="batch")


class BatchDeadline(DeadlineReached):
    """--batch-deadline passed: the running items are stopped."""


class _Cost(Consumer):
    """Adds each step's reported cost to the batch's as it happens."""

    def __init__(self, progress: Any) -> None:
        self.progress = progress

    def event(self, event: Dict[str, Any]) -> None:
        if event["type"] == "step" and event.get("usage"):
            self.progress.add_cost(event["usage"].get("cost"))


def new_batch_id() -> str:
    """A short id that sorts by time (what `llmrun log --batch ID` names)."""
    return f"b{int(time.time() * 1000):x}{os.urandom(2).hex()}"


class Scheduler:
    """Runs the pending items on `concurrency` workers until they are done or the batch stops."""

    def __init__(self, b: BatchOptions, run: RunOptions, items: Sequence[Item], output: Any,
                 progress: Any, session: Any, report: Any) -> None:
        self.b, self.run, self.output, self.progress = b, run, output, progress
        self.session, self.report = session, report
        self.batch_id = new_batch_id()
        self._left = list(reversed(items))
        self._lock = threading.Lock()
        self._running: Dict[int, RunContext] = {}
        self.stopped: Optional[BaseException] = None  # a signal, the deadline, a failure
        self.budget_hit = False
        self.cost_unknown = False
        self.failed = 0
        self.fatal: Optional[BaseException] = None  # output that cannot be written
        self._all_done = threading.Event()
        self._workers: List[threading.Thread] = []

    # -- the main thread -----------------------------------------------------------------------
    def start(self) -> None:
        count = min(self.b.concurrency, len(self._left)) or 1
        self._active = count
        for n in range(count):
            worker = threading.Thread(target=self._work, name=f"llmrun-batch-{n}", daemon=True)
            self._workers.append(worker)
            worker.start()

    def wait(self) -> None:
        """Until every worker ended; --batch-deadline is watched here. A signal raises here
        (its handler stopped the running items already): no new item, running ones end."""
        deadline_at = time.monotonic() + self.b.deadline if self.b.deadline else None
        while not self._all_done.is_set():
            left = None if deadline_at is None else deadline_at - time.monotonic()
            if left is not None and left <= 0:
                self.stop(BatchDeadline(self.b.deadline or 0.0))
                deadline_at = None
                continue
            self._all_done.wait(0.2 if left is None else min(0.2, left))

    def stop(self, reason: BaseException) -> None:
        """No new item starts; the running ones are stopped (their lines still written)."""
        with self._lock:
            if self.stopped is None:
                self.stopped = reason
            running = list(self._running.values())
        if isinstance(reason, Stop):
            for ctx in running:
                ctx.stop(_copy(reason))

    def join(self) -> None:
        for worker in self._workers:
            worker.join()

    # -- the workers ---------------------------------------------------------------------------
    def _next(self) -> Optional[Item]:
        with self._lock:
            if self.stopped is not None or self.fatal is not None or not self._left:
                return None
            if self.b.max_cost is not None and self._over_budget():
                return None
            return self._left.pop()

    def _over_budget(self) -> bool:
        cost = self.progress.cost
        if self.cost_unknown or (cost is not None and cost >= (self.b.max_cost or 0.0)):
            self.budget_hit = True
        return self.budget_hit

    def _work(self) -> None:
        try:
            while True:
                item = self._next()
                if item is None:
                    return
                self._one(item)
        except BaseException as exc:  # output that cannot be written, or a bug: stop all
            with self._lock:
                self.fatal = self.fatal or exc
            self.stop(_copy_interrupt())
        finally:
            with self._lock:
                self._active -= 1
                if self._active == 0:
                    self._all_done.set()

    def _one(self, item: Item) -> None:
        if item.problem is not None:  # the --json object of a run that never started
            from llmrun.loop.result import RunResult

            failed = RunResult(self.run.provider or "", item.model or self.run.model or "",
                               error=InputError(item.problem))
            failed.ended = failed.started
            obj = failed.to_dict()
            obj.update(id=item.id, exit_code=failed.exit_code, line=item.line)
            self._finish(item, obj, False)
            return
        from llmrun.api.run import execute

        options = dataclasses.replace(self.run, system=item.system or self.run.system,
                                      model=item.model or self.run.model,
                                      attach=[*self.run.attach, *item.attach])
        ctx = RunContext(options.deadline, options.cancel)
        info = ItemRun(self.batch_id, item, options, ctx)
        with self._lock:
            self._running[id(ctx)] = ctx
            stopped = self.stopped
        if isinstance(stopped, Stop):
            ctx.stop(_copy(stopped))  # stopped between taking the item and starting it
        try:
            result = execute(options, item.prompt, [_Cost(self.progress)],
                             session=self.session, ctx=ctx, log_info=info.log_info())
        finally:
            with self._lock:
                self._running.pop(id(ctx), None)
        if isinstance(ctx.reason, BatchDeadline):
            result.error = LimitError(f"--batch-deadline of {self.b.deadline:g} s passed; "
                                      "the item was stopped", "deadline")
        if self.b.max_cost is not None and result.steps and result.usage.cost is None:
            self.cost_unknown = True  # --batch-max-cost cannot be enforced: start no more
        obj = result.to_dict()
        obj.update(id=item.id, exit_code=result.exit_code)
        self._finish(item, obj, result.exit_code == OK)

    def _finish(self, item: Item, obj: Dict[str, Any], ok: bool) -> None:
        self.output.write(obj)
        if not ok:
            with self._lock:
                self.failed += 1
        self.progress.item_done(ok)
        self.report(item, obj)

    # -- how it ended --------------------------------------------------------------------------
    def exit_code(self) -> int:
        if isinstance(self.fatal, LlmrunError):
            return self.fatal.exit_code
        stopped = self.stopped
        if isinstance(stopped, BatchDeadline):
            return LIMIT
        if stopped is not None:
            return getattr(stopped, "signum", 2) + 128
        if self.budget_hit and self._left:
            return CONFIG if self.cost_unknown else LIMIT
        return SOME_FAILED if self.failed else OK

    def error(self) -> Optional[LlmrunError]:
        """The batch's own error, when it has one to report as `llmrun: error:`."""
        if isinstance(self.fatal, LlmrunError):
            return self.fatal
        if self.budget_hit and self.cost_unknown and self._left:
            return ConfigError(f"--batch-max-cost cannot be enforced: an item's provider "
                               "reported no cost and the config file has no prices for its "
                               f"model; {len(self._left)} items were not started (add prices, "
                               "then --resume)")
        return None

    def why_stopped(self) -> str:
        """For the summary line: what ended the batch early, if anything did."""
        left = len(self._left)
        not_started = f"{left} item{'s' if left != 1 else ''} not started (--resume finishes them)"
        if isinstance(self.stopped, BatchDeadline):
            return f"--batch-deadline of {self.b.deadline:g} s passed; {not_started}"
        if self.stopped is not None and self.fatal is None:
            from llmrun.base.signals import interrupted

            return f"{interrupted(self.stopped).message}; {not_started}"
        if self.budget_hit and left and not self.cost_unknown:
            return f"the batch's cost reached --batch-max-cost ${self.b.max_cost:g}; " \
                   f"{not_started}"
        return ""


def _copy(reason: BaseException) -> Stop:
    """A fresh stop reason of the same kind for each item (each records what it killed)."""
    if isinstance(reason, BatchDeadline):
        return BatchDeadline(reason.seconds)
    from llmrun.base.context import Interrupt

    return Interrupt(getattr(reason, "signum", 2))


def _copy_interrupt() -> Stop:
    from llmrun.base.context import Interrupt

    return Interrupt()

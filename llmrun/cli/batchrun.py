"""One `llmrun batch` from start to exit status: the plan, the checks before the first item,
the signal handlers, the scheduler (llmrun/api/batch.py), the progress line and the summary.

A signal stops every running item (base/signals.py stops each run of the process) and is
raised here, in the main thread: no new item starts, the running ones end with their error
and are written, and the exit status is 130 or 143; `--resume` finishes the rest.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

from llmrun.api.batch import BatchOptions, Scheduler
from llmrun.api.options import RunOptions
from llmrun.base.errors import LlmrunError
from llmrun.cli.environment import Environment


def run_batch(b: BatchOptions, run: RunOptions, env: Optional[Environment] = None) -> int:
    """Run the batch to its end or its stop; return its exit status."""
    from llmrun.api.batchprep import plan, read_source
    from llmrun.api.session import Session
    from llmrun.base.context import Stop
    from llmrun.base.signals import handling

    env = env or Environment.from_process()
    try:
        b.check()
        run.check()
        work = plan(b, read_source(b.source, env.stdin))
    except LlmrunError as exc:
        return _error(env, exc)
    session = Session(rpm=b.rpm)
    session.gate.patient = True  # a 429 the provider asked to wait out costs no retry
    try:
        with handling():
            try:
                return _run(b, run, env, work, session)
            except Stop as exc:  # a signal before the items started
                return 128 + getattr(exc, "signum", 2)
    finally:
        session.close()


def _run(b: BatchOptions, run: RunOptions, env: Environment, work: Any, session: Any) -> int:
    from llmrun.api.batchout import Output
    from llmrun.api.batchprep import preflight, raise_open_files
    from llmrun.output.progress import Progress

    raise_open_files()
    try:
        if any(item.problem is None for item in work.items):
            preflight(run, session, b.max_cost)
        progress = Progress(env.stderr, len(work.items), env.stderr_isatty, b.quiet)
        guard = progress.above if b.output is None and env.stdout_isatty else None
        output = Output(b.output, env.stdout, append=b.resume, guard=guard)
    except LlmrunError as exc:
        return _error(env, exc)
    report = _reporter(progress) if b.verbose and not b.quiet else _silent
    scheduler = Scheduler(b, run, work.items, output, progress, session, report)
    try:
        _schedule(scheduler)
    finally:
        output.close()
        progress.close(scheduler.why_stopped())
    fatal = scheduler.fatal
    if fatal is not None and not isinstance(fatal, LlmrunError):
        raise fatal  # output that cannot be written (a closed pipe), or a bug: main() says it
    error = scheduler.error()
    if error is not None:
        _error(env, error)
    return scheduler.exit_code()


def _schedule(scheduler: Scheduler) -> None:
    """Start the workers and wait for them; a signal stops the batch and still waits for the
    running items to end (they were stopped, so that is quick) and be written."""
    from llmrun.base.context import Interrupt, Stop

    scheduler.start()
    try:
        scheduler.wait()
    except KeyboardInterrupt as exc:
        scheduler.stop(exc if isinstance(exc, Stop) else Interrupt())
    finally:
        scheduler.join()


def _reporter(progress: Any) -> Any:
    """-v: one line per finished item."""
    from llmrun.base.safetext import printable

    def report(item: Any, obj: Dict[str, Any]) -> None:
        error = obj.get("error") or {}
        what = f": {error.get('message')}" if error else ""
        progress.note(printable(f"llmrun: item {item.id}: exit {obj['exit_code']}{what}"))
    return report


def _silent(item: Any, obj: Dict[str, Any]) -> None:
    """Without -v the items' outcomes are in their lines and the summary."""


def _error(env: Environment, exc: LlmrunError) -> int:
    from llmrun.base.safetext import printable
    from llmrun.base.secrets import redact

    env.stderr.write(f"llmrun: error: {printable(redact(exc.message))}\n")
    env.stderr.flush()
    return exc.exit_code

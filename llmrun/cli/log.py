"""`llmrun log`: the runs kept in the run log — list, show, cost, cassette, path, rm, prune.

Only click is imported at the top; sqlite3 and the rest when a command runs.
"""

from __future__ import annotations

import functools
import json
import shutil
import sys
from typing import Any, Callable, Dict, Iterator, List, Optional

import click

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


def _reports_errors(func: Callable[..., None]) -> Callable[..., None]:
    """An LlmrunError becomes one `llmrun: error:` line and its exit code."""
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        from llmrun.base.errors import LlmrunError, report

        try:
            func(*args, **kwargs)
        except LlmrunError as exc:
            sys.exit(report(exc))
    return wrapper


def log_settings() -> Any:
    """Where the log is: LLMRUN_LOG_DB, the config's log_db, or the default place."""
    from llmrun.runlog.settings import from_config
    from llmrun.settings.config import load_config

    return from_config(load_config())


class _Reader:
    """The log opened for reading, or None when there is no file yet."""

    def __init__(self) -> None:
        self.settings = log_settings()
        self.conn: Any = None

    def __enter__(self) -> "_Reader":
        import os
        import sqlite3

        from llmrun.base.errors import ConfigError
        from llmrun.runlog.store import LogUnavailable, open_log

        if os.path.exists(self.settings.path):
            try:
                self.conn = open_log(self.settings.path, create=False)
            except LogUnavailable as exc:
                raise ConfigError(exc.message) from None
            self.conn.row_factory = sqlite3.Row
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.conn is not None:
            self.conn.close()

    def need(self) -> Any:
        from llmrun.base.errors import ConfigError

        if self.conn is None:
            raise ConfigError(f"the run log {self.settings.path} has no runs yet")
        return self.conn


def _sqlite_errors(func: Callable[..., None]) -> Callable[..., None]:
    """A corrupt or locked file is exit 3 with SQLite's words, never a traceback."""
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        import sqlite3

        from llmrun.base.errors import ConfigError

        try:
            func(*args, **kwargs)
        except sqlite3.Error as exc:
            raise ConfigError(f"cannot read the run log {log_settings().path}: {exc}") from None
    return _reports_errors(wrapper)


def _when(value: Optional[str], option: str) -> Optional[float]:
    from llmrun.runlog.settings import parse_when

    return None if value is None else parse_when(value, option)


def _width() -> int:
    return shutil.get_terminal_size((120, 24)).columns if sys.stdout.isatty() else 200


def _json_lines(rows: Iterator[Dict[str, Any]]) -> None:
    for row in rows:
        click.echo(json.dumps(row, ensure_ascii=False))


@click.group("log", cls=click.Group, invoke_without_command=True, context_settings=CONTEXT)
@click.option("-n", "limit", type=click.IntRange(min=0), default=20, show_default=True,
              metavar="N", help="How many runs (0: all).")
@click.option("--since", metavar="WHEN", help="Runs started since: 7d, 12h, 2026-11-30, 14:00.")
@click.option("--until", metavar="WHEN", help="Runs started before this.")
@click.option("--failed", is_flag=True, help="Only runs that did not exit 0 (killed too).")
@click.option("--exit", "exit_code", type=int, metavar="CODE", help="Only runs with this exit.")
@click.option("-m", "--model", metavar="ID", help="Only runs of this model.")
@click.option("-p", "--provider", metavar="NAME", help="Only runs of this provider.")
@click.option("--tool", metavar="NAME", help="Only runs that called this tool.")
@click.option("--search", metavar="TEXT", help="Full text: prompts, answers, tool results.")
@click.option("--batch", metavar="ID", help="Only the items of this batch.")
@click.option("--json", "json_", is_flag=True, help="One JSON object per line.")
@click.pass_context
@_sqlite_errors
def log_group(ctx: click.Context, limit: int, since: Optional[str], until: Optional[str],
              failed: bool, exit_code: Optional[int], model: Optional[str],
              provider: Optional[str], tool: Optional[str], search: Optional[str],
              batch: Optional[str], json_: bool) -> None:
    """The runs llmrun kept: newest first, one line a run.

    \b
    Every run is logged (llmrun log path says where); --no-log, LLMRUN_NO_LOG=1 or config
    'log: false' turn it off. Subcommands: show, cost, cassette, path, rm, prune.
    """
    if ctx.invoked_subcommand is not None:
        return
    from llmrun.cli.log_format import run_lines
    from llmrun.runlog.queries import Filter, list_runs

    f = Filter(limit or None, _when(since, "--since"), _when(until, "--until"), failed,
               exit_code, model, provider, tool, search, batch)
    with _Reader() as reader:
        if reader.conn is None:
            runs: List[Dict[str, Any]] = []
        else:
            runs = list_runs(reader.conn, f)
    if json_:
        _json_lines(iter(runs))
    elif runs:
        click.echo("\n".join(run_lines(runs, _width())))
    else:
        click.echo("no runs logged" + (" that match" if any(
            (since, until, failed, exit_code is not None, model, provider, tool, search,
             batch)) else " yet"), err=True)


@log_group.command("show", context_settings=CONTEXT)
@click.argument("run_id", metavar="ID|last")
@click.option("--json", "json_", is_flag=True, help="The run as one JSON object.")
@_sqlite_errors
def show_command(run_id: str, json_: bool) -> None:
    """The whole run: prompt, each step, tool calls with arguments and results, answer."""
    from llmrun.cli.log_format import show_lines
    from llmrun.runlog.queries import resolve_id, show

    with _Reader() as reader:
        conn = reader.need()
        run = show(conn, resolve_id(conn, run_id, reader.settings.path))
    if json_:
        click.echo(json.dumps(run, ensure_ascii=False))
    else:
        click.echo("\n".join(show_lines(run)))


@log_group.command("cost", context_settings=CONTEXT)
@click.option("--since", metavar="WHEN", help="Runs started since: 30d, 2026-11-01, …")
@click.option("--until", metavar="WHEN", help="Runs started before this.")
@click.option("--by", type=click.Choice(["day", "model", "provider", "tool", "cwd"]),
              help="One row per day (local date), model, provider, tool or folder.")
@click.option("--json", "json_", is_flag=True, help="One JSON object per line.")
@_sqlite_errors
def cost_command(since: Optional[str], until: Optional[str], by: Optional[str],
                 json_: bool) -> None:
    """Summed tokens and cost, as the providers reported them (or the config's prices).

    Runs without a known cost are counted as such, never guessed. With --by tool a run
    counts under every tool it called, so those rows do not add up.
    """
    from llmrun.cli.log_format import cost_lines
    from llmrun.runlog.queries import cost

    with _Reader() as reader:
        rows = [] if reader.conn is None else cost(
            reader.conn, _when(since, "--since"), _when(until, "--until"), by)
    if json_:
        _json_lines(iter(rows))
        return
    tty = sys.stdout.isatty()
    block = "█" if (getattr(sys.stdout, "encoding", "") or "").lower().startswith("utf") \
        else "#"
    click.echo("\n".join(cost_lines(rows, by, tty, _width(), block)))


@log_group.command("cassette", context_settings=CONTEXT)
@click.argument("run_id", metavar="ID|last")
@_sqlite_errors
def cassette_command(run_id: str) -> None:
    """The run's model traffic as a go-vcr cassette on stdout, for `ask --replay`.

    Rebuilt from what llmrun read (redacted), with no credential header. Replaying it runs
    the tools again, for real.
    """
    from llmrun.runlog.queries import resolve_id, run_row
    from llmrun.runlog.replay import interactions
    from llmrun.wire.cassette import dump_cassette

    with _Reader() as reader:
        conn = reader.need()
        run = run_row(conn, resolve_id(conn, run_id, reader.settings.path))
        found = interactions(conn, run)
    meta = {"provider": run["provider"]} if run["provider"] else None
    click.echo(dump_cassette(found, meta), nl=False)


@log_group.command("path", context_settings=CONTEXT)
@_reports_errors
def path_command() -> None:
    """Print the run log's file (LLMRUN_LOG_DB, config log_db, or the default place)."""
    settings = log_settings()
    click.echo(settings.path)
    if not settings.enabled:
        click.echo("llmrun: logging is off (LLMRUN_NO_LOG or config 'log: false')", err=True)


@log_group.command("rm", context_settings=CONTEXT)
@click.argument("run_ids", metavar="ID…", nargs=-1, required=True)
@_sqlite_errors
def rm_command(run_ids: List[str]) -> None:
    """Remove these runs (whole ids, or `last`) and everything logged of them."""
    from llmrun.base.errors import UsageError
    from llmrun.runlog.maintain import remove
    from llmrun.runlog.queries import resolve_id

    with _Reader() as reader:
        conn = reader.need()
        ids = []
        for word in run_ids:
            found = resolve_id(conn, word, reader.settings.path)
            if word != "last" and found != word:
                raise UsageError(f"'llmrun log rm' takes whole ids, not the start of one "
                                 f"({word!r} is the start of {found})")
            ids.append(found)
        gone = remove(conn, sorted(set(ids)))
    click.echo(f"removed {gone} run{'s' if gone != 1 else ''}", err=True)


@log_group.command("prune", context_settings=CONTEXT)
@click.option("--older-than", "age", metavar="AGE", required=True,
              help="Remove runs that started longer ago than this: 90d, 12w, 1y.")
@_sqlite_errors
def prune_command(age: str) -> None:
    """Remove old runs (config 'log_keep: AGE' does it as runs are logged)."""
    import time

    from llmrun.base.errors import UsageError
    from llmrun.runlog.maintain import prune
    from llmrun.runlog.settings import parse_age

    seconds = parse_age(age)
    if seconds is None:
        raise UsageError(f"--older-than {age!r}: expected an age such as 90d, 12h or 1y")
    with _Reader() as reader:
        gone = 0 if reader.conn is None else prune(reader.conn, time.time() - seconds)
    click.echo(f"removed {gone} run{'s' if gone != 1 else ''} older than {age}", err=True)

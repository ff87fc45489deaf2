"""`llmrun batch [OPTIONS] FILE`: the ask options of each item, the batch's own options, the
signal handlers, and the engine (llmrun/api/batch.py) — nothing else."""

from __future__ import annotations

import sys
from typing import Any

import click

from llmrun.cli.main import CONTEXT, FiniteFloat, run_options

BATCH_ONLY = ("output", "resume", "text", "concurrency", "rpm", "batch_max_cost",
              "batch_deadline", "shard", "job")

#: Options of `llmrun ask` that one run at a terminal has but a batch cannot: refused by
#: name (exit 2) rather than with click's "no such option".
NOT_IN_BATCH = {"--stream": "items do not stream (their lines are written as each ends)",
                "--no-stream": "items do not stream (their lines are written as each ends)",
                "--events": "the output is one JSON line per item",
                "--record": "a cassette holds one run", "--replay": "a cassette holds one run",
                "--replay-strict": "a cassette holds one run",
                "-c": "a batch starts no conversation from the log",
                "--continue": "a batch starts no conversation from the log",
                "--cid": "a batch starts no conversation from the log",
                "--show-reasoning": "nothing streams to the terminal in a batch"}


def _refused(command: Any) -> Any:
    """Hidden options that name themselves in a clear exit 2, instead of click's "no such
    option" (which would suggest they were mistyped)."""
    for name, why in NOT_IN_BATCH.items():
        def refuse(ctx: click.Context, param: click.Parameter, value: Any,
                   name: str = name, why: str = why) -> None:
            if value:
                raise click.UsageError(f"{name} is not a batch option: {why}", ctx)

        extra = {} if name == "--cid" else {"is_flag": True}
        command = click.option(name, f"_refused{name.replace('-', '_')}", hidden=True,
                               expose_value=False, callback=refuse, **extra)(command)
    return command


@click.command(context_settings=CONTEXT)
@click.argument("file", metavar="FILE")
@click.option("-o", "--output", metavar="FILE", type=click.Path(dir_okay=False),
              help="Write the item lines here (else standard output).")
@click.option("--resume", is_flag=True,
              help="Skip items already answered in -o FILE; append the rest.")
@click.option("--text", is_flag=True,
              help="Each non-empty line is a prompt (its line number its id), not JSON.")
@click.option("--concurrency", type=click.IntRange(1, 64), default=8, show_default=True,
              metavar="N", help="Items running at once.")
@click.option("--rpm", type=click.IntRange(min=1), metavar="N",
              help="Most requests per minute, across the batch.")
@click.option("--batch-max-cost", type=FiniteFloat(min=0, min_open=True), metavar="USD",
              help="Start no new item once the batch cost this much (exit 6).")
@click.option("--batch-deadline", type=FiniteFloat(min=0, min_open=True), metavar="SECONDS",
              help="End the whole batch by then, running items stopped (exit 6).")
@click.option("--shard", metavar="K/N|auto",
              help="Run only the items of shard K of N (by the SHA-256 of the id); auto: "
                   "from a Kubernetes Indexed Job or a Slurm job array.")
@click.option("--job", metavar="JOB.yaml",
              help="A job file: its settings for every item, its template the prompt of "
                   "each item that has none, filled from the item's \"vars\".")
@run_options(batch=True)
@_refused
def batch(file: str, json_: bool, no_stdin: bool, **kwargs: Any) -> None:
    """Run one ask per line of FILE (JSON lines; `-` is standard input), many at once.

    \b
    Each line: {"id": "…", "prompt": "…"} with optional "system", "model", "attach"
    (a path or a list; after -a's) and, with --job, "vars" instead of "prompt".
    Output: one JSON line per item (the --json object plus "id" and "exit_code"),
    written as each item ends. --json and --no-stdin are accepted and change nothing.

    \b
    Exit status: 0 every item answered · 9 some items did not (each line has its own
    exit_code) · 6 --batch-max-cost or --batch-deadline stopped it · 2 bad command line
    3 configuration · 130/143 SIGINT/SIGTERM (--resume finishes the rest)
    """
    from llmrun.api.batch import BatchOptions
    from llmrun.api.options import RunOptions
    from llmrun.cli.batchrun import run_batch

    own = {name: kwargs.pop(name) for name in BATCH_ONLY}
    b = BatchOptions(file, own["text"], own["output"], own["resume"], own["concurrency"],
                     own["rpm"], own["batch_max_cost"], own["batch_deadline"], own["shard"],
                     quiet=kwargs.pop("quiet"), verbose=kwargs.pop("verbose"))
    run = RunOptions(**kwargs)
    if own["job"]:
        b.job = _job(own["job"], run)
    if "-" in run.attach:
        raise click.UsageError("--attach - is not a batch option: standard input is not an "
                               "item's (attach a file)")
    sys.exit(run_batch(b, run))


def _job(path: str, run: Any) -> Any:
    """--job: the job file loaded (a problem in it is exit 3 with file and line), its
    settings set on `run` where the command line gave none."""
    from click.core import ParameterSource

    from llmrun.api.job import load_job
    from llmrun.base.errors import LlmrunError, report

    ctx = click.get_current_context()
    try:
        job = load_job(path)
    except LlmrunError as exc:
        sys.exit(report(exc))
    job.apply(run, lambda name: ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE)
    return job

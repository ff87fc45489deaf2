"""`llmrun run JOB.yaml [--var NAME=VALUE]… [ask options]`: one ask whose prompt, settings and
vars come from a job file (llmrun/api/job.py); the options on the command line win.

Only click is imported at the top. `llmrun run JOB.yaml --help` reads the job and lists its
own vars with their descriptions: a job file documents itself.
"""

from __future__ import annotations

import sys
from typing import Any, List, Optional, Sequence

import click

from llmrun.cli.main import CONTEXT, EXIT_STATUS, run_options

_JOB = "llmrun.job"


class JobCommand(click.Command):
    """A command whose --help also shows the vars of the job file named before it."""

    def parse_args(self, ctx: click.Context, args: List[str]) -> List[str]:
        ctx.meta[_JOB] = _job_word(self, ctx, args)  # --help exits while parsing
        return super().parse_args(ctx, args)

    def format_epilog(self, ctx: click.Context, formatter: Any) -> None:
        path = ctx.meta.get(_JOB)
        if path:
            _format_vars(path, formatter)
        super().format_epilog(ctx, formatter)


def _job_word(command: click.Command, ctx: click.Context, args: Sequence[str]) -> Optional[str]:
    """The JOB argument as click will see it (the first word that is no option's value)."""
    try:
        parser = command.make_parser(ctx)
        opts, words, _order = parser.parse_args(list(args))
        found = opts.get("job") or (words[0] if words else None)
        return found if isinstance(found, str) else None
    except Exception:  # a bad command line: click says so itself in a moment
        return None


def _format_vars(path: str, formatter: Any) -> None:
    from llmrun.api.job import load_job
    from llmrun.base.errors import LlmrunError

    try:
        job = load_job(path)
    except LlmrunError as exc:
        with formatter.section(f"Job {path}"):
            formatter.write_text(f"(cannot be read: {exc.message})")
        return
    with formatter.section(f"Vars of {path} (--var NAME=VALUE)"):
        if job.vars:
            formatter.write_dl([(v.name, v.describe()) for v in job.vars.values()])
        else:
            formatter.write_text("(none: the job takes no vars)")


@click.command(cls=JobCommand, context_settings=CONTEXT, epilog=EXIT_STATUS)
@click.argument("job", metavar="JOB.yaml")
@click.option("--var", "var", metavar="NAME=VALUE", multiple=True,
              help="A value for one of the job's vars; repeatable (`llmrun run JOB.yaml "
                   "--help` lists them).")
@run_options()
def run(job: str, var: tuple, json_: bool, **kwargs: Any) -> None:
    """Run the job file JOB.yaml: its prompt template filled from --var, with its provider,
    model, tools, MCP servers, schema, attachments and limits.

    Options given here win over the file's (a list given here replaces the file's). Paths
    in the file are relative to the file. Standard input, when it is not a terminal, is
    appended to the prompt as with `llmrun ask`.

    \b
    Exit status as for `llmrun ask`; a problem in the job file is 3 (file and line),
    a missing or unknown --var is 2.
    """
    from click.core import ParameterSource

    from llmrun.cli.ask import AskOptions, ask

    ctx = click.get_current_context()

    def given(name: str) -> bool:
        return ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE

    def prepare(o: AskOptions) -> None:
        from llmrun.api.job import load_job
        from llmrun.cli.atfile import AtFiles

        if given("system"):  # -s @FILE typed here is read; the job's system is its text
            o.system = AtFiles().option(o.system, "-s")
        spec = load_job(job)
        values = spec.values(var)
        spec.apply(o, given)
        o.prompt_text = spec.render(values)
        o.at_files = False

    sys.exit(ask(AskOptions(json=json_, **kwargs), prepare=prepare))

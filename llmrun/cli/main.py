"""The command line. Only click is imported here: `--help` and `--version` stay instant."""

from __future__ import annotations

import os
import sys
from typing import Any, List, Optional, Tuple

import click

from llmrun import __version__
from llmrun.cli.exitcodes import EPILOG as EXIT_STATUS

#: click >= 8.2 raises this for a bare `llmrun`; older versions print help themselves.
_NO_ARGS = getattr(click.exceptions, "NoArgsIsHelpError", ())
CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class _LazyGroup(click.Group):
    """Subcommands that live in their own module, imported only when used or listed."""

    lazy = {"tools": ("llmrun.cli.tools", "tools"), "config": ("llmrun.cli.main", "config_group"),
            "log": ("llmrun.cli.log", "log_group"), "batch": ("llmrun.cli.batch", "batch"),
            "run": ("llmrun.cli.run", "run")}

    def list_commands(self, ctx: click.Context) -> List[str]:
        return sorted(set(super().list_commands(ctx)) | set(self.lazy))

    def get_command(self, ctx: click.Context, name: str) -> Optional[click.Command]:
        if name in self.lazy:
            import importlib

            module, attr = self.lazy[name]
            return getattr(importlib.import_module(module), attr)
        return super().get_command(ctx, name)


class FiniteFloat(click.FloatRange):
    """A float range that also refuses nan and inf, which JSON and timeouts cannot carry."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        number = super().convert(value, param, ctx)
        if number != number or number in (float("inf"), float("-inf")):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


#: The longest --timeout or --deadline: more would overflow the platform's timers (a
#: --timeout of 1e10 is an OverflowError deep in the socket layer), and 115 days is plenty.
MAX_SECONDS = 1e7


def _use_config(ctx: click.Context, param: click.Parameter, value: Optional[str]) -> None:
    if value:
        from llmrun.settings import config

        config.CONFIG_OPTION = value


@click.group(cls=_LazyGroup, context_settings=CONTEXT)
@click.version_option(__version__, "-V", "--version", prog_name="llmrun",
                      message="%(prog)s %(version)s")
@click.option("--config", metavar="FILE", expose_value=False, callback=_use_config,
              is_eager=True, help="Config file to use [env LLMRUN_CONFIG; default: "
                                  "~/.config/llmrun/config.yaml, see 'llmrun config path'].")
def cli() -> None:
    """Run one LLM request with tools, end to end, from a shell, a pipe or a cron job.

    \b
    First time? Set one key (OPENAI_API_KEY, OPENROUTER_API_KEY, AI_GATEWAY_API_KEY…) and
    run `llmrun ask "…"`; `llmrun config show` says what a run would use and why.
    """


def _complete_provider(ctx: click.Context, param: click.Parameter,
                       incomplete: str) -> List[str]:
    """Shell completion for -p: the presets and the config file's providers."""
    try:
        from llmrun.cli.providers import provider_rows

        return [r["name"] for r in provider_rows() if r["name"].startswith(incomplete)]
    except Exception:  # a broken config must not break the shell
        return []


def _tool_paths(ctx: click.Context, param: click.Parameter, value: Any) -> List[str]:
    return list(value or ())


def _option(*decls: str, batch: bool = True, batch_help: Optional[str] = None,
            **attrs: Any) -> Tuple[Any, Any]:
    """The option for `ask`, and for `batch` (None: not a batch option; `batch_help`: what
    it does there, when that differs)."""
    in_batch = click.option(*decls, **dict(attrs, help=batch_help or attrs.get("help")))
    return click.option(*decls, **attrs), (in_batch if batch else None)


#: The options of `llmrun ask`, in --help order, shared with `llmrun batch` and `llmrun run`;
#: `batch=False` marks those only a single run at a terminal has (exit 2 in a batch).
ASK_OPTIONS: List[Tuple[Any, Any]] = [
    _option("-m", "--model", metavar="ID", help="Model id sent as `model` [env LLMRUN_MODEL]."),
    _option("-p", "--provider", metavar="NAME", shell_complete=_complete_provider,
            help="openai, openrouter, vercel, groq, xai, … or one from the config file "
                 "[env LLMRUN_PROVIDER]."),
    _option("--base-url", metavar="URL",
            help="API root; requests go to URL/chat/completions [env LLMRUN_BASE_URL]."),
    _option("-s", "--system", metavar="TEXT", help="System message, sent first."),
    _option("-a", "--attach", "attach", metavar="PATH|URL|-", multiple=True, callback=_tool_paths,
            help="Attach an image, a PDF or a text file (its type read from its bytes), an "
                 "https: image URL, or - for standard input; repeatable.",
            batch_help="Attach this file or https: image URL to every item (before the "
                       "item's own attach); repeatable."),
    _option("-t", "--tools", "tools", metavar="PATH", multiple=True, callback=_tool_paths,
            help="Tool YAML file or folder; repeatable [env LLMRUN_TOOLS]."),
    _option("--tool", "tool", metavar="NAME", multiple=True,
            help="Offer only this tool; repeatable."),
    _option("--mcp", "mcp", metavar="SPEC", multiple=True,
            help="MCP servers: an mcpServers JSON/YAML file, or a server NAME from the "
                 "config; repeatable [env LLMRUN_MCP]."),
    _option("--approve", "approve", metavar="NAME", multiple=True,
            help="Run this confirm-needing tool without asking; repeatable."),
    _option("--max-tokens", type=click.IntRange(min=1), metavar="N", help="Output limit."),
    _option("--temperature", type=FiniteFloat(min=0), metavar="F",
            help="Sampling temperature (0 for the most predictable answers)."),
    _option("--reasoning-effort", type=click.Choice(["minimal", "low", "medium", "high"]),
            help="Reasoning effort, in the provider's dialect."),
    _option("--max-steps", type=click.IntRange(min=1), default=10, show_default=True,
            metavar="N", help="Most model calls in one run."),
    _option("--json", "json_", is_flag=True, help="Print one JSON object at the end.",
            batch_help="Accepted; the item lines are JSON anyway."),
    _option("--events", is_flag=True, batch=False,
            help="Print one JSON event per line as things happen, a result event last."),
    _option("--max-cost", type=FiniteFloat(min=0, min_open=True), metavar="USD",
            help="Start no step once the run cost this much (exit 6)."),
    _option("--deadline", type=FiniteFloat(min=0, min_open=True, max=MAX_SECONDS),
            metavar="SECONDS",
            help="End the whole run by then, tools killed (exit 6)."),
    _option("--max-tool-calls", type=click.IntRange(min=0), metavar="N",
            help="Most tool calls in one run (exit 6)."),
    _option("--fail-on-tool-error", is_flag=True,
            help="Exit 7 after the answer when a tool call ended in an error."),
    _option("--schema", metavar="SCHEMA",
            help="The answer must be JSON valid against this JSON Schema (file or inline)."),
    _option("--schema-mode", type=click.Choice(["auto", "response_format", "tool"]),
            default="auto", show_default=True, help="How --schema is asked for."),
    _option("--stream/--no-stream", default=None, batch=False,
            help="Write the answer as it arrives [default: when stdout is a terminal]."),
    _option("-q", "--quiet", is_flag=True, help="Nothing on stderr but errors.",
            batch_help="Nothing on stderr but errors (no progress, no summary)."),
    _option("-v", "--verbose", is_flag=True,
            help="Tool calls, results, reasoning and per-step usage on stderr.",
            batch_help="One line on stderr as each item ends."),
    _option("--show-reasoning", is_flag=True, batch=False,
            help="Show the model's reasoning, dimmed, on stderr as it arrives."),
    _option("--yes", is_flag=True, help="Run tools marked confirm: true without asking."),
    _option("--parallel", type=click.IntRange(1, 16), default=16, show_default=True,
            metavar="N", help="Most tools running at once."),
    _option("--timeout", type=FiniteFloat(min=0, min_open=True, max=MAX_SECONDS), default=120,
            show_default=True, metavar="SECONDS", help="Connect and read timeout."),
    _option("--retries", type=click.IntRange(min=0), default=2, show_default=True,
            metavar="N", help="Retries for connection errors, 429 and 5xx."),
    _option("--record", metavar="FILE", type=click.Path(dir_okay=False), batch=False,
            help="Write the run's HTTP traffic to a cassette."),
    _option("--replay", metavar="FILE", type=click.Path(dir_okay=False), batch=False,
            help="Answer requests from a cassette instead of the network."),
    _option("--replay-strict", is_flag=True, batch=False,
            help="With --replay: fail when a request's messages differ from the recording."),
    _option("--no-cache", is_flag=True,
            help="Do not ask for prompt caching (Anthropic models via OpenRouter, Vercel)."),
    _option("--no-stdin", is_flag=True, help="Do not read standard input.",
            batch_help="Accepted; items never read standard input."),
    _option("--no-log", is_flag=True,
            help="Keep nothing of this run in the run log [env LLMRUN_NO_LOG=1]."),
    _option("-c", "--continue", "continue_last", is_flag=True, batch=False,
            help="Go on with the newest finished ask run of the run log."),
    _option("--cid", metavar="ID", batch=False,
            help="Go on with this run of the run log ('llmrun log')."),
    _option("--no-sandbox", is_flag=True, help="Run every tool unconfined (no sandbox)."),
]


def run_options(batch: bool = False) -> Any:
    """Apply the ask options (for `batch`: those that apply to each item) to a command."""
    def apply(command: Any) -> Any:
        for for_ask, for_batch in reversed(ASK_OPTIONS):
            option = for_batch if batch else for_ask
            if option is not None:
                command = option(command)
        return command
    return apply


@cli.command(context_settings=CONTEXT, epilog=EXIT_STATUS)  # the exit codes, short
@click.argument("prompt", nargs=-1)
@run_options()
def ask(prompt: tuple, json_: bool, **kwargs: Any) -> None:
    """Ask PROMPT, run the tools the model calls, print the answer.

    Standard input, when it is not a terminal, is appended to PROMPT after a blank line.

    \b
    Exit status: 0 answered · 1 a bug in llmrun · 2 bad command line · 3 configuration
    4 the API answered an error · 5 connection or stream failure
    6 a limit stopped the run (--max-steps, --max-cost, --deadline, --max-tool-calls,
      the token limit cut a tool call) · 7 --fail-on-tool-error and a tool failed
    8 --schema and the answer is not valid · 130/143/129 SIGINT/SIGTERM/SIGHUP
    """
    from llmrun.cli.ask import AskOptions
    from llmrun.cli.ask import ask as run_ask

    sys.exit(run_ask(AskOptions(prompt=prompt, json=json_, **kwargs)))


@cli.command(context_settings=CONTEXT)
@click.option("--json", "json_", is_flag=True, help="Print a JSON list instead of a table.")
def providers(json_: bool) -> None:
    """List providers with base URL and key variable, never the key.

    Presets and the config file's providers; KEY says whether the key variable is set.
    * marks the default provider.
    """
    from llmrun.cli.providers import list_providers

    sys.exit(list_providers(json_))


@cli.command(context_settings=CONTEXT)
@click.option("-p", "--provider", metavar="NAME", shell_complete=_complete_provider,
              help="A preset or a provider from the config file [env LLMRUN_PROVIDER].")
@click.option("--base-url", metavar="URL", help="API root [env LLMRUN_BASE_URL].")
@click.option("--json", "json_", is_flag=True, help="Print the server's model objects as JSON.")
@click.option("--timeout", type=FiniteFloat(min=0, min_open=True, max=MAX_SECONDS),
              default=30, show_default=True, metavar="SECONDS", help="Connect and read timeout.")
@click.option("--retries", type=click.IntRange(min=0), default=2, show_default=True,
              metavar="N", help="Retries for connection errors, 429 and 5xx.")
def models(provider: Optional[str], base_url: Optional[str], json_: bool, timeout: float,
           retries: int) -> None:
    """List the models a provider offers, one id per line.

    Asks GET BASE_URL/models of the provider chosen by -p, --base-url, the environment or
    the config file.
    """
    from llmrun.cli.providers import list_models

    sys.exit(list_models(provider, base_url, json_, timeout, retries))


@click.group("config", context_settings=CONTEXT)
def config_group() -> None:
    """Where the settings come from: the config file and the effective settings."""


@config_group.command("path", context_settings=CONTEXT)
def config_path_command() -> None:
    """Print the config file in use (--config, LLMRUN_CONFIG, or the default place)."""
    from llmrun.cli.config_show import show_path

    sys.exit(show_path())


@config_group.command("show", context_settings=CONTEXT)
def config_show_command() -> None:
    """Print the settings a run would use and where each comes from (keys masked)."""
    from llmrun.cli.config_show import show_settings

    sys.exit(show_settings())


def main(argv: Optional[List[str]] = None) -> None:
    """Entry point: click's usage errors become one `llmrun: error:` line and exit 2; output
    that cannot be written ends llmrun as a Unix filter would (llmrun/outstreams.py)."""
    from llmrun.base.errors import CLOSED_PIPE, CONFIG
    from llmrun.output.streams import OutputClosed, OutputFailed, leave_quietly, prepare

    try:
        prepare()
        _main(argv)
    except SystemExit as exc:
        if isinstance(exc.code, (int, type(None))) and _leaves_at_once(argv):
            _exit_now(exc.code or 0)
        raise
    except (OutputClosed, BrokenPipeError):  # BrokenPipeError: a write that bypassed the guard
        leave_quietly()
        sys.exit(CLOSED_PIPE)
    except OutputFailed as exc:
        sys.stderr.write(f"llmrun: error: cannot write the output: {exc} (is the disk full, "
                         "or standard output closed?)\n")
        leave_quietly()
        sys.exit(CONFIG)


def _leaves_at_once(argv: Optional[List[str]]) -> bool:
    """`llmrun batch` ends without the interpreter's teardown: its hundreds of runs left
    threads and modules that take tens of milliseconds to tear down, and everything it owes
    is done by then (each line written, the servers stopped, each run's log committed)."""
    words = list(sys.argv[1:] if argv is None else argv)
    return words[:1] == ["batch"]


def _exit_now(code: int) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # a closed pipe: what could be said was said
            pass
    os._exit(code)


def _main(argv: Optional[List[str]]) -> None:
    from llmrun.base.errors import BUG, INTERRUPTED, OK, USAGE
    from llmrun.output.streams import OutputClosed, OutputFailed

    try:
        cli.main(args=argv, prog_name="llmrun", standalone_mode=False)
    except _NO_ARGS as exc:
        click.echo(exc.ctx.get_help(), err=True)
        sys.exit(USAGE)
    except click.UsageError as exc:
        click.echo(f"llmrun: error: {exc.format_message()}{_usage_hint(exc, argv)}", err=True)
        sys.exit(USAGE)
    except click.Abort:
        click.echo("llmrun: error: interrupted", err=True)
        sys.exit(INTERRUPTED)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except (OutputClosed, OutputFailed, BrokenPipeError):
        raise  # main() says it, once
    except Exception as exc:  # a bug: one line, unless LLMRUN_DEBUG asks for the traceback
        if os.environ.get("LLMRUN_DEBUG"):
            raise
        from llmrun.base.secrets import redact  # the API key never reaches the screen

        click.echo(redact(f"llmrun: error: internal error: {type(exc).__name__}: {exc} "
                          "(set LLMRUN_DEBUG=1 for a traceback and report it)"), err=True)
        sys.exit(BUG)
    sys.exit(OK)


def _usage_hint(exc: click.UsageError, argv: Optional[List[str]]) -> str:
    """Where to read more: the help of the command that failed (`llmrun ask --help`), and,
    for an option that was meant as a word of the prompt, how to pass it."""
    words = list(sys.argv[1:] if argv is None else argv)
    path = exc.ctx.command_path if exc.ctx is not None else "llmrun"
    if path == "llmrun" and words and words[0] in cli.list_commands(click.Context(cli)):
        path = f"llmrun {words[0]}"  # click blamed the group for a subcommand's option
    hint = f" (see '{path} --help')"
    if isinstance(exc, click.NoSuchOption) and path == "llmrun ask":
        from llmrun.cli.hints import after_dashdash

        hint = (f" (a prompt with words that start with '-' must be quoted, or put after --: "
                f"{after_dashdash(ask, words)}; see 'llmrun ask --help')")
    return hint

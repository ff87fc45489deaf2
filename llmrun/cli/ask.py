"""`llmrun ask`: the prompt from the words and standard input, a renderer for the terminal,
the signal handlers, and one run of the library (llmrun/api/run.py) — nothing else."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Callable, List, Optional, Sequence, Tuple

from llmrun.api.options import RunOptions
from llmrun.base.errors import ConfigError, UsageError
from llmrun.cli.environment import Environment


@dataclass
class AskOptions(RunOptions):
    """The run's options, and what only the command line has: the prompt's words and how
    the output looks."""

    prompt: Sequence[str] = ()
    json: bool = False
    events: bool = False
    stream: Optional[bool] = None
    quiet: bool = False
    verbose: bool = False
    show_reasoning: bool = False
    no_stdin: bool = False
    #: expand @FILE in the prompt words and -s (what the user typed; not a job's values)
    at_files: bool = True
    #: the whole prompt, given as text (a job's filled template): never expanded
    prompt_text: Optional[str] = None

    def check(self) -> None:
        super().check()
        if self.events and self.json:
            raise UsageError("--events and --json cannot be used together")

    def run_options(self) -> RunOptions:
        names = {f.name for f in fields(RunOptions)}
        return RunOptions(**{k: v for k, v in vars(self).items() if k in names})


def read_prompt(words: Sequence[str], use_stdin: bool, env: Environment) -> str:
    """PROMPT words, then standard input after a blank line when it is not a terminal."""
    from llmrun.api.run import NOT_UTF8, check_prompt

    prompt = " ".join(words)
    stdin = env.stdin
    if use_stdin and stdin is not None and not env.stdin_isatty:
        from llmrun.base.files import read_stream

        try:
            piped = read_stream(stdin).rstrip("\n")  # bounded: `< /dev/zero` ends
        except UnicodeDecodeError:
            raise UsageError(NOT_UTF8) from None
        except ValueError as exc:
            raise UsageError(f"{exc}; that is no prompt (pass --no-stdin if standard input "
                             "is not part of it)") from None
        if piped:
            prompt = f"{prompt}\n\n{piped}" if prompt else piped
    return check_prompt(prompt)


def inputs(o: AskOptions, env: Environment) -> Tuple[str, List[Any]]:
    """The prompt (words with @FILE read, or a job's text; then standard input) and the
    attachments (`-a -` takes standard input, which is then not part of the prompt)."""
    from llmrun.api.run import load_attachments

    words: Sequence[str] = o.prompt if o.prompt_text is None else (o.prompt_text,)
    if o.at_files:
        from llmrun.cli.atfile import AtFiles

        expand = AtFiles()
        o.system = expand.option(o.system, "-s")
        words = expand.words(words)
    from_stdin = "-" in o.attach
    if from_stdin and o.no_stdin:
        raise UsageError("--attach - reads standard input, which --no-stdin says not to read")
    prompt = read_prompt(words, not o.no_stdin and not from_stdin, env)
    stdin = getattr(env.stdin, "buffer", env.stdin) if from_stdin else None
    return prompt, load_attachments(o.attach, stdin)


def ask(o: AskOptions, env: Optional[Environment] = None,
        prepare: Optional[Callable[[AskOptions], None]] = None) -> int:
    """Run one `llmrun ask`; return its exit status. `prepare` completes the options first
    (`llmrun run`: the job file's settings), its errors reported like the command line's."""
    from llmrun.api.recording import cli_info
    from llmrun.api.run import execute
    from llmrun.base.context import RunContext
    from llmrun.base.signals import handling
    from llmrun.tools.confirm import ask_terminal

    env = env or Environment.from_process()
    renderer = _renderer(o, env)
    try:
        o.check()
        if prepare is not None:
            prepare(o)
        prompt, attachments = inputs(o, env)
    except (UsageError, ConfigError) as exc:  # before anything ran; reported as any run's end
        return _refused(o, renderer, exc)
    options = o.run_options()
    ctx = RunContext(options.deadline)
    try:
        with handling(ctx):  # SIGINT/SIGTERM/SIGHUP stop the request and the tools
            result = execute(options, prompt, [renderer], ctx=ctx, attachments=attachments,
                             confirm=renderer.holding(ask_terminal),  # no spinner over it
                             log_info=cli_info())
    except BaseException:
        renderer.close()  # a bug, or output that failed: erase the spinner first
        raise
    return result.exit_code


def _refused(o: AskOptions, renderer: Any, error: Any) -> int:
    """A command line llmrun refuses: the error line, and with --json the one object (with
    --events the result event), like every other end of a run."""
    from llmrun.api.run import result_event
    from llmrun.loop.result import RunResult

    result = RunResult(provider=o.provider or "", model=o.model or "", error=error)
    result.ended = result.started
    renderer.event(result_event(result))
    return error.exit_code


def _renderer(o: AskOptions, env: Environment) -> Any:
    """Plain, --json or --events: the run does not know which."""
    from llmrun.output.render import Renderer

    kind: Any = Renderer
    if o.events:
        from llmrun.output.events import EventsRenderer

        kind = EventsRenderer
    return kind(stream=env.stdout_isatty if o.stream is None else o.stream, json_mode=o.json,
                quiet=o.quiet, verbose=o.verbose, show_progress=env.stderr_isatty,
                show_reasoning=o.show_reasoning, out=env.stdout, err=env.stderr)

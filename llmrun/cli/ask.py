"""`llmrun ask`: wires settings, tools, transport, the tool loop and the renderer together."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Optional, Sequence

from llmrun.base.errors import LlmrunError, UsageError


@dataclass
class AskOptions:
    prompt: Sequence[str] = ()
    model: Optional[str] = None
    provider: Optional[str] = None
    base_url: Optional[str] = None
    system: Optional[str] = None
    tools: Sequence[str] = ()
    tool: Sequence[str] = ()
    mcp: Sequence[str] = ()
    approve: Sequence[str] = ()
    max_tokens: Optional[int] = None
    temperature: Optional[float] = None
    reasoning_effort: Optional[str] = None
    max_steps: int = 10
    json: bool = False
    stream: Optional[bool] = None
    quiet: bool = False
    verbose: bool = False
    show_reasoning: bool = False
    yes: bool = False
    parallel: int = 16
    timeout: float = 120.0
    retries: int = 2
    record: Optional[str] = None
    replay: Optional[str] = None
    replay_strict: bool = False
    no_stdin: bool = False
    no_cache: bool = False
    events: bool = False
    max_cost: Optional[float] = None
    deadline: Optional[float] = None
    max_tool_calls: Optional[int] = None
    fail_on_tool_error: bool = False
    schema: Optional[str] = None
    schema_mode: str = "auto"
    no_sandbox: bool = False  # every tool unconfined


NOT_UTF8 = ("the prompt is not UTF-8 text (convert it first, e.g. with iconv, or pass "
            "--no-stdin if standard input is not part of it)")


def read_prompt(words: Sequence[str], use_stdin: bool, stdin: Any = None) -> str:
    """PROMPT words, then standard input after a blank line when it is not a terminal."""
    prompt = " ".join(words)
    stdin = stdin if stdin is not None else sys.stdin
    if use_stdin and stdin is not None and not stdin.isatty():
        try:
            piped = stdin.read().rstrip("\n")
        except UnicodeDecodeError:
            raise UsageError(NOT_UTF8) from None
        if piped:
            prompt = f"{prompt}\n\n{piped}" if prompt else piped
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(NOT_UTF8) from None
    if not prompt.strip():
        raise UsageError("empty prompt: give the question as arguments or on standard input")
    return prompt


def ask(o: AskOptions) -> int:
    """Run one `llmrun ask`; return its exit status."""
    from llmrun.base.signals import handling
    from llmrun.loop.run import RunResult

    renderer = _renderer(o)
    result = RunResult(provider=o.provider or "", model=o.model or "")
    error: Optional[LlmrunError] = None
    try:
        with handling():  # SIGINT/SIGTERM/SIGHUP stop the request and the tools
            _ask(o, renderer, result)
        error = _after(o, result)
    except LlmrunError as exc:
        error = exc
    except KeyboardInterrupt as exc:
        error = _stopped(exc)
    except BaseException:
        renderer.close()  # a bug: erase the spinner before the error line
        raise
    renderer.finish(result, error)
    return error.exit_code if error else 0


def _renderer(o: AskOptions) -> Any:
    """Plain, --json or --events: the rest of the run does not know which."""
    from llmrun.output.render import Renderer

    kind: Any = Renderer
    if o.events:
        from llmrun.output.events import EventsRenderer

        kind = EventsRenderer
    out_tty = sys.stdout.isatty()
    return kind(stream=out_tty if o.stream is None else o.stream, json_mode=o.json,
                quiet=o.quiet, verbose=o.verbose, show_progress=sys.stderr.isatty(),
                show_reasoning=o.show_reasoning)


def _stopped(exc: BaseException) -> LlmrunError:
    """A signal or --deadline: the error that reports it."""
    from llmrun.base.errors import LimitError
    from llmrun.base.signals import DeadlineReached, interrupted

    if isinstance(exc, DeadlineReached):
        doing = f" while {exc.doing}" if exc.doing else ""
        return LimitError(f"--deadline of {exc.seconds:g} s passed{doing}; the run was stopped "
                          "and its tools killed", "deadline")
    return interrupted(exc)


def _after(o: AskOptions, result: Any) -> Optional[LlmrunError]:
    """An answered run can still end non-zero: --fail-on-tool-error."""
    from llmrun.base.errors import ToolErrorExit

    failed = result.tool_errors
    if o.fail_on_tool_error and failed:
        return ToolErrorExit(f"{failed} tool call{'s' if failed != 1 else ''} ended in an error "
                             "result (--fail-on-tool-error)")
    return None


def _ask(o: AskOptions, renderer: Any, result: Any) -> None:
    from llmrun.base.signals import deadline
    from llmrun.loop.conversation import RequestOptions, first_messages
    from llmrun.loop.run import run
    from llmrun.settings.config import load_config
    from llmrun.settings.resolve import resolve

    if o.record and o.replay:
        raise UsageError("--record and --replay cannot be used together")
    prompt = read_prompt(o.prompt, not o.no_stdin)
    structured = _structured(o)
    with deadline(o.deadline):
        cfg = load_config()
        cassette = None
        if o.replay:
            from llmrun.wire.cassette import Cassette

            cassette = Cassette.load(o.replay)
        settings = resolve(vars(o), cfg, need_key=cassette is None,
                           fallback=cassette.hints() if cassette else None)
        result.provider = settings.provider.name
        result.model = result.requested_model = settings.model
        for note in settings.notes:
            renderer.note(note)
        if structured is not None:
            structured.mode = _schema_mode(o, settings)
        limits = _limits(o, settings)
        with _tools(o, settings, cfg, renderer) as toolbox:  # MCP servers run until the end
            renderer.start(settings.provider.name, settings.model, list(toolbox.tools))
            transport = _transport(o, settings, cassette, renderer)
            opts = RequestOptions(settings.model, o.max_tokens, o.temperature,
                                  o.reasoning_effort,
                                  cache=settings.provider.cache and not o.no_cache)
            try:
                run(result, transport, toolbox, renderer, opts,
                    first_messages(settings.system, prompt), limits, structured)
            finally:
                transport.close()
                if o.record:
                    transport.adapter.write(o.record, settings.provider.name)


def _structured(o: AskOptions) -> Any:
    if o.schema is None:
        return None
    from llmrun.loop.structured import StructuredAnswer, load_schema

    return StructuredAnswer(load_schema(o.schema), o.schema_mode)


def _schema_mode(o: AskOptions, settings: Any) -> str:
    """--schema-mode, or `auto`: what the provider is known to do best (its dialect says)."""
    if o.schema_mode != "auto":
        return o.schema_mode
    return settings.provider.dialect.schema_mode


def _limits(o: AskOptions, settings: Any) -> Any:
    from llmrun.base.errors import ConfigError
    from llmrun.loop.limits import Limits

    provider = settings.provider
    prices = provider.prices.get(settings.model)
    if o.max_cost is not None and not prices and not provider.dialect.reports_cost:
        raise ConfigError(f"--max-cost cannot be enforced: {provider.name} does not report cost "
                          f"and the config file has no prices for model '{settings.model}' (add "
                          "prices: {MODEL: {prompt: …, completion: …}} to the provider in the "
                          "config file)")
    return Limits(o.max_steps, o.max_cost, o.max_tool_calls, prices, provider.name)


@contextmanager
def _tools(o: AskOptions, settings: Any, cfg: Any, renderer: Any) -> Iterator[Any]:
    """The Toolbox of the YAML tools and the MCP servers' tools; the servers stop after."""
    from llmrun.sandbox.policy import settings_for
    from llmrun.tools.confine import verbose_lines
    from llmrun.tools.confirm import ask_terminal
    from llmrun.tools.runner import Toolbox
    from llmrun.tools.sources import mcp_names, open_tools

    show = renderer.server_line if o.verbose else None
    confine = settings_for(cfg, o.no_sandbox, [o.record or ""])  # the tools' sandbox
    with open_tools(settings.tool_paths, o.tool, mcp_names(o.mcp, cfg), cfg, show,
                    settings.sources.get("tools", ""), renderer.warn, confine) as tools:
        for line in verbose_lines(tools) if o.verbose else ():  # each tool's sandbox
            renderer.note(line)
        yield Toolbox(tools, yes=o.yes,
                      ask=renderer.holding(ask_terminal),  # no spinner over the question
                      parallel=o.parallel, approve=o.approve)


def _transport(o: AskOptions, settings: Any, cassette: Any, renderer: Any) -> Any:
    from llmrun.wire.transport import Transport, make_retry

    adapter = None
    if cassette is not None:
        from llmrun.wire.cassette import ReplayAdapter

        adapter = ReplayAdapter(cassette, o.replay_strict)
    elif o.record:
        from llmrun.wire.cassette import RecordingAdapter

        RecordingAdapter.check_target(o.record)
        adapter = RecordingAdapter(max_retries=make_retry(o.retries, on_retry=renderer.retry))
    return Transport(settings.provider, settings.api_key, o.timeout, o.retries, adapter,
                     on_retry=renderer.retry)

"""`llmrun ask`: wires settings, tools, transport, the tool loop and the renderer together."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from llmrun.errors import LlmrunError, UsageError


@dataclass
class AskOptions:
    prompt: Sequence[str] = ()
    model: Optional[str] = None
    provider: Optional[str] = None
    base_url: Optional[str] = None
    system: Optional[str] = None
    tools: Sequence[str] = ()
    tool: Sequence[str] = ()
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
    from llmrun.render import Renderer
    from llmrun.run import RunResult
    from llmrun.signals import handling, interrupted

    out_tty = sys.stdout.isatty()
    renderer = Renderer(stream=out_tty if o.stream is None else o.stream, json_mode=o.json,
                        quiet=o.quiet, verbose=o.verbose, show_progress=sys.stderr.isatty(),
                        show_reasoning=o.show_reasoning)
    result = RunResult(provider=o.provider or "", model=o.model or "")
    error: Optional[LlmrunError] = None
    try:
        with handling():  # SIGINT/SIGTERM/SIGHUP stop the request and the tools
            _ask(o, renderer, result)
    except LlmrunError as exc:
        error = exc
    except KeyboardInterrupt as exc:
        error = interrupted(exc)
    except BaseException:
        renderer.close()  # a bug: erase the spinner before the error line
        raise
    renderer.finish(result, error)
    return error.exit_code if error else 0


def _ask(o: AskOptions, renderer: Any, result: Any) -> None:
    from llmrun.config import load_config, resolve
    from llmrun.conversation import RequestOptions, first_messages
    from llmrun.run import run
    from llmrun.tools.confirm import ask_terminal
    from llmrun.tools.runner import Toolbox
    from llmrun.tools.spec import load_tools

    if o.record and o.replay:
        raise UsageError("--record and --replay cannot be used together")
    prompt = read_prompt(o.prompt, not o.no_stdin)
    cfg = load_config()
    cassette = None
    if o.replay:
        from llmrun.cassette import Cassette

        cassette = Cassette.load(o.replay)
    settings = resolve(vars(o), cfg, need_key=cassette is None,
                       fallback=cassette.hints() if cassette else None)
    result.provider = settings.provider.name
    result.model = result.requested_model = settings.model
    toolbox = Toolbox(load_tools(settings.tool_paths, o.tool), yes=o.yes,
                      ask=renderer.holding(ask_terminal),  # no spinner over the question
                      parallel=o.parallel)
    transport = _transport(o, settings, cassette)
    opts = RequestOptions(settings.model, o.max_tokens, o.temperature, o.reasoning_effort,
                          cache=settings.provider.cache and not o.no_cache)
    try:
        run(result, transport, toolbox, renderer, opts,
            first_messages(settings.system, prompt), o.max_steps)
    finally:
        transport.close()
        if o.record:
            transport.adapter.write(o.record, settings.provider.name)


def _transport(o: AskOptions, settings: Any, cassette: Any) -> Any:
    from llmrun.transport import Transport, make_retry

    adapter = None
    if cassette is not None:
        from llmrun.cassette import ReplayAdapter

        adapter = ReplayAdapter(cassette, o.replay_strict)
    elif o.record:
        from llmrun.cassette import RecordingAdapter

        RecordingAdapter.check_target(o.record)
        adapter = RecordingAdapter(max_retries=make_retry(o.retries))
    return Transport(settings.provider, settings.api_key, o.timeout, o.retries, adapter)



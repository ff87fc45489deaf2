"""One run, start to end: settings, tools, transport and the tool loop, in its own context.

`execute` never raises for what can go wrong in a run (that is in the result: `exit_code`,
`error`); it emits the run's events to the consumers it is given, the `result` event last on
every end. Who shows what (a terminal, `--json`, `--events`, a log, a batch) is theirs.
"""

from __future__ import annotations

import signal
import time
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from llmrun.api.options import RunOptions
from llmrun.base.context import DeadlineReached, Interrupt, RunContext, Stop
from llmrun.base.errors import ConfigError, LimitError, LlmrunError, ToolErrorExit, UsageError
from llmrun.base.events import VERSION, Bus, Consumer
from llmrun.loop.result import RunResult

#: (tool, arguments) -> True/False as the user answers, None when nobody can be asked.
Confirm = Callable[[Any, Dict[str, Any]], Optional[bool]]

NOT_UTF8 = ("the prompt is not UTF-8 text (convert it first, e.g. with iconv, or pass "
            "--no-stdin if standard input is not part of it)")


def check_prompt(prompt: Any) -> str:
    """The prompt of a run: text that is not empty and can be sent."""
    if not isinstance(prompt, str):
        raise TypeError(f"the prompt must be a string, not {type(prompt).__name__}")
    try:
        prompt.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(NOT_UTF8) from None
    if not prompt.strip():
        raise UsageError("empty prompt: give the question as arguments or on standard input")
    return prompt


class _Gathered(Consumer):
    """What the result keeps of the events: the warnings."""

    def __init__(self, result: RunResult) -> None:
        self.result = result

    def event(self, event: Dict[str, Any]) -> None:
        if event["type"] == "warning":
            self.result.warnings.append(event["message"])


def load_attachments(specs: Sequence[str], stdin: Any = None) -> List[Any]:
    """The attachments read and typed before a run starts, so that a bad one is a
    UsageError (exit 2; from Python a ValueError) before anything else happens. The
    provider's own size limit is checked again in the run, once the provider is known."""
    if not specs:
        return []
    from llmrun.loop.attachments import load_all, most_allowed
    from llmrun.settings.config import load_config

    try:
        cfg = load_config()  # its sandbox_deny and its own path are never attached
    except ConfigError:
        cfg = None  # the run itself reports a broken config
    return load_all(specs, most_allowed(), cfg, stdin)


def execute(options: RunOptions, prompt: str, consumers: Sequence[Consumer] = (), *,
            confirm: Optional[Confirm] = None, session: Any = None,
            ctx: Optional[RunContext] = None, attachments: Optional[Sequence[Any]] = None,
            log_info: Optional[Dict[str, Any]] = None) -> RunResult:
    """Run one ask to its end and return its result; `ctx` may be made by the caller (to
    stop it, or to reach it from a signal handler); `log_info` adds to the run log's row
    (argv, kind, batch_id, item_id). `attachments` are the ones `load_attachments` read
    already; without them `options.attach` is read in the run."""
    from llmrun.api.recording import LogConsumer

    ctx = ctx or RunContext(options.deadline, options.cancel)
    result = RunResult(provider=options.provider or "", model=options.model or "")
    log = LogConsumer(options, prompt, log_info)  # the run log: one more consumer
    bus = Bus([_Gathered(result), log, *consumers])
    ctx.emit, ctx.flush = bus.emit, bus.flush
    log.open(bus.emit)
    error: Optional[LlmrunError] = None
    completed = False
    with ctx.running():
        try:
            _run(ctx, options, prompt, result, confirm, session, attachments)
            completed = True
            error = _after(options, result)
        except LlmrunError as exc:
            error = exc
        except KeyboardInterrupt as exc:  # a Stop, or a bare Ctrl-C raised by someone else
            ctx.stop(exc if isinstance(exc, Stop) else Interrupt(signal.SIGINT))
        if ctx.reason is not None and not completed:
            error = stop_error(ctx.reason)  # what the stop caused (a cut stream) is not news
    result.error = error
    result.ended = time.monotonic()
    bus.emit(result_event(result))
    return result


def result_event(result: RunResult) -> Dict[str, Any]:
    """The last event: the --json object; privately, what the renderers and the log need."""
    event: Dict[str, Any] = {"type": "result"}
    event.update(result.to_dict())
    event.update({"_exit_code": result.exit_code, "_answered": result.answered,
                  "_messages": result.messages, "_warnings": list(result.warnings)})
    return event


def stop_error(reason: BaseException) -> LlmrunError:
    """A signal, a cancel or --deadline: the error that reports it."""
    from llmrun.base.signals import interrupted

    if isinstance(reason, DeadlineReached):
        doing = f" while {reason.doing}" if reason.doing else ""
        return LimitError(f"--deadline of {reason.seconds:g} s passed{doing}; the run was "
                          "stopped and its tools killed", "deadline")
    return interrupted(reason)


def _after(o: RunOptions, result: RunResult) -> Optional[LlmrunError]:
    """An answered run can still end non-zero: --fail-on-tool-error."""
    failed = result.tool_errors
    if o.fail_on_tool_error and failed:
        return ToolErrorExit(f"{failed} tool call{'s' if failed != 1 else ''} ended in an error "
                             "result (--fail-on-tool-error)")
    return None


def _run(ctx: RunContext, o: RunOptions, prompt: str, result: RunResult,
         confirm: Optional[Confirm], session: Any, attachments: Optional[Sequence[Any]]) -> None:
    from llmrun.api.recording import continued, first_messages
    from llmrun.loop.conversation import RequestOptions
    from llmrun.loop.limits import limits_for
    from llmrun.loop.run import run
    from llmrun.settings.config import load_config
    from llmrun.settings.resolve import resolve

    if session is not None:
        ctx.gate = session.gate  # one rate limit and one 429 pause for all its runs
    structured = _structured(o)
    cfg = load_config()
    _warm_sandbox(o, cfg)
    o, earlier = continued(o)  # --continue/--cid: the logged run's conversation and settings
    cassette = None
    if o.replay:
        from llmrun.wire.cassette import Cassette

        cassette = Cassette.load(o.replay)
    settings = resolve(vars(o), cfg, need_key=cassette is None,
                       fallback=cassette.hints() if cassette else None)
    result.provider = settings.provider.name
    result.model = result.requested_model = settings.model
    for note in settings.notes:
        ctx.emit({"type": "note", "message": note})
    if structured is not None:
        structured.mode = o.schema_mode if o.schema_mode != "auto" else \
            settings.provider.dialect.schema_mode
    limits = limits_for(o.max_steps, o.max_cost, o.max_tool_calls, settings.provider,
                        settings.model)
    attached = _attached(o, attachments, settings, cfg)
    for a in attached:
        ctx.emit({"type": "note", "message": a.describe()})
    parts, content, earlier = _inputs(prompt, attached, earlier, settings.provider.dialect, cfg)
    with _tools(ctx, o, settings, cfg, confirm, session) as (toolbox, sources):
        ctx.emit({"type": "start", "version": VERSION, "provider": settings.provider.name,
                  "model": settings.model, "tools": list(toolbox.tools),
                  "_tool_sources": sources, "_base_url": settings.provider.base_url,
                  "_system": settings.system, "_prompt": prompt,
                  "_attachments": parts.records() if parts else [],
                  "_attachment_parts": parts})
        transport = _transport(o, settings, cassette, session)
        opts = RequestOptions(settings.model, o.max_tokens, o.temperature, o.reasoning_effort,
                              cache=settings.provider.cache and not o.no_cache)
        try:
            run(ctx, result, transport, toolbox, opts,
                first_messages(settings.system, content, earlier), limits, structured)
            limits.after_answer(lambda text: ctx.emit({"type": "warning", "message": text}))
        finally:
            transport.close()
            if o.record:
                transport.adapter.write(o.record, settings.provider.name)


def _attached(o: RunOptions, attachments: Optional[Sequence[Any]], settings: Any,
              cfg: Any) -> List[Any]:
    """The run's attachments, within its provider's size limit (before any request)."""
    specs = list(attachments) if attachments is not None else list(o.attach)
    if not specs:
        return []
    from llmrun.loop.attachments import check_limit, load_all

    limit = settings.provider.dialect.attachment_limit
    loaded = load_all(specs, limit, cfg)
    check_limit(loaded, limit, settings.provider.name)
    return loaded


def _inputs(prompt: str, attached: Sequence[Any], earlier: Optional[List[Dict[str, Any]]],
            dialect: Any, cfg: Any) -> Tuple[Any, Any, Optional[List[Dict[str, Any]]]]:
    """(the attachment parts, the user content, the earlier conversation with its own
    attachments read again): what the run log keeps of them is in the parts."""
    if not attached and not earlier:
        return None, prompt, earlier
    from llmrun.loop.attachments import Parts, restore, user_content

    parts = Parts()
    if earlier:
        earlier = restore(earlier, dialect, parts, cfg)
    return parts, user_content(prompt, attached, dialect, parts), earlier


def _warm_sandbox(o: RunOptions, cfg: Any) -> None:
    """Start the sandbox's fork server now when the run will likely offer YAML tools: its
    Python start-up then overlaps the rest of the set-up (the YAML, the transport) and the
    first request, instead of delaying the first tool call. MCP servers do not need it (each
    starts under a supervisor of its own)."""
    import os

    if o.no_sandbox or getattr(cfg, "sandbox", True) is False:
        return
    if o.tools or os.environ.get("LLMRUN_TOOLS") or cfg.tools:
        from llmrun.sandbox.launch import warm_up

        warm_up()


def _confinement(o: RunOptions, cfg: Any) -> Any:
    """The run's sandbox Settings: no tool reads the run log, nor what --record writes."""
    from llmrun.runlog.settings import from_config as log_settings
    from llmrun.sandbox.policy import settings_for

    log = log_settings(cfg).path
    own = [o.record or ""] + [log + end for end in ("", "-wal", "-shm", "-journal")]
    return settings_for(cfg, o.no_sandbox, own)


def _structured(o: RunOptions) -> Any:
    if o.schema is None:
        return None
    from llmrun.loop.structured import StructuredAnswer, load_schema

    return StructuredAnswer(load_schema(o.schema), o.schema_mode)


@contextmanager
def _tools(ctx: RunContext, o: RunOptions, settings: Any, cfg: Any, confirm: Optional[Confirm],
           session: Any) -> Iterator[Tuple[Any, Dict[str, str]]]:
    """The Toolbox of the YAML tools and the MCP servers' tools (the session's, already
    running, or the run's own, stopped after it)."""
    from llmrun.tools.runner import Toolbox
    from llmrun.tools.sources import mcp_names, open_tools

    def note(line: str) -> None:
        ctx.emit({"type": "note", "message": line, "_server_line": True})

    def warn(message: str) -> None:
        ctx.emit({"type": "warning", "message": message})

    confine = _confinement(o, cfg)  # the tools' sandbox
    names = mcp_names(o.mcp, cfg)
    started = session.servers(names, cfg, confine) if session is not None and names else None
    meanwhile = None
    if names and o.replay is None:
        from llmrun.api.prefetch import import_transport

        meanwhile = import_transport  # while this thread waits for the servers' answers
    with open_tools(settings.tool_paths, o.tool, names, cfg, note,
                    settings.sources.get("tools", ""), warn, started=started,
                    sandbox=confine, meanwhile=meanwhile) as tools:
        _sandbox_notes(ctx, tools)
        sources = {t.name: (f"mcp:{t.target}" if t.kind == "mcp" else t.source) for t in tools}
        yield Toolbox(tools, yes=o.yes, ask=confirm, parallel=o.parallel,
                      approve=o.approve), sources


def _sandbox_notes(ctx: RunContext, tools: Any) -> None:
    """Each tool's sandbox policy (or that it runs unconfined, and why): -v shows them."""
    from llmrun.tools.confine import verbose_lines

    for line in verbose_lines(tools):
        ctx.emit({"type": "note", "message": line})


def _transport(o: RunOptions, settings: Any, cassette: Any, session: Any = None) -> Any:
    from llmrun.wire.retry import make_retry
    from llmrun.wire.transport import Transport

    adapter = None
    if session is not None and cassette is None and not o.record:  # the session's pool
        return Transport(settings.provider, settings.api_key, o.timeout, o.retries,
                         session.http_adapter(o.retries), shared=True)
    if cassette is not None:
        from llmrun.wire.cassette import ReplayAdapter

        adapter = ReplayAdapter(cassette, o.replay_strict)
    elif o.record:
        from llmrun.wire.cassette import RecordingAdapter

        RecordingAdapter.check_target(o.record)
        adapter = RecordingAdapter(max_retries=make_retry(o.retries))
    return Transport(settings.provider, settings.api_key, o.timeout, o.retries, adapter)

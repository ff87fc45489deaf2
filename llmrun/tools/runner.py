"""Carrying out the tool calls a model asked for.

Every failure -- unknown tool, bad JSON, a schema violation, a refused confirmation, a crash,
a timeout, too much output -- becomes an error result the model can read and act on; none of
them stops the run. The calls of one step run concurrently; results come back in call order.
"""

from __future__ import annotations

import json
import queue
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

from llmrun.tools.argv import arg_text, substitute
from llmrun.tools.spec import Tool

STDERR_SHOWN = 2000  # characters of stderr's tail shown to the model on failure
MAX_PARALLEL = 16  # tools running at once, at most (--parallel)
MAX_CALLS_PER_STEP = 128  # calls of one step that are run; the rest get an error result


@dataclass
class ToolResult:
    content: str
    is_error: bool = False
    duration: float = 0.0
    log: str = ""  # the end of what the tool wrote on stderr (its print()s): shown with -v


class ToolError(Exception):
    """A failure the model is told about as an error result."""


def tool_env(args: Dict[str, Any], tool: Optional[Tool] = None) -> Dict[str, str]:
    """llmrun's environment without secrets (childenv), the variables the tool's file names
    in `pass_env`, and its arguments: `LLMRUN_ARG_<NAME>` for each declared one, all of them
    as JSON in `LLMRUN_ARGS`."""
    from llmrun.tools.childenv import child_env, env_name

    extra = {"LLMRUN_ARGS": json.dumps(args, ensure_ascii=False)}
    declared = (tool.parameters.get("properties") or {}) if tool is not None else args
    for key, value in args.items():
        if key in declared:  # an undeclared name must not set any variable it likes
            extra[env_name(key)] = arg_text(value)
    if tool is not None:
        extra["LLMRUN_TOOL_NAME"] = tool.name
        extra["LLMRUN_TOOL_DIR"] = tool.folder
    return child_env(tool.pass_env if tool is not None else (), extra)


def decode(data: bytes, cut: bool) -> str:
    """UTF-8 with replacement; a cut output loses only its last, incomplete character."""
    if not cut:
        return data.decode("utf-8", "replace")
    import codecs

    return codecs.getincrementaldecoder("utf-8")("replace").decode(data, final=False)


def cut_note(tool: Tool) -> str:
    return cut_note_for(tool.name, tool.max_output)


def cut_note_for(name: str, cap: int) -> str:
    return (f"\n[llmrun: output cut: tool '{name}' wrote more than its limit of "
            f"{cap} bytes; only the first {cap} bytes are shown. "
            "Ask for less output, e.g. a narrower query or range.]")


def run_command(tool: Tool, args: Dict[str, Any]) -> ToolResult:
    from llmrun.tools.process import run_process

    if tool.kind == "command":
        argv = substitute(tool.target, args,  # type: ignore[arg-type]
                          tool.parameters.get("properties") or {})
    else:
        argv = ["sh", "-c", tool.target, tool.name]  # type: ignore[list-item]
    from llmrun.tools.confine import policy_of

    try:
        out = run_process(argv, tool_env(args, tool), tool.timeout, tool.max_output,
                          policy=policy_of(tool))
    except FileNotFoundError:
        raise ToolError(f"could not start: command {argv[0]!r} not found")
    except UnicodeEncodeError:
        raise ToolError("could not start: an argument holds text that cannot be passed to a "
                        "command (a lone surrogate); send plain text")
    except ValueError as exc:  # embedded NUL: no command can receive it
        raise ToolError(f"could not start: {exc}; send the value without NUL characters")
    except OSError as exc:
        raise ToolError(f"could not start {argv[0]!r}: {exc.strerror or exc}")
    text = decode(out.stdout, out.cut)
    if out.timed_out:
        return _failed(tool, f"timed out after {tool.timeout:g} s and was stopped, with "
                       "every process it started", text, out.stderr_tail)
    if out.cut:
        return ToolResult(text + cut_note(tool), True)
    if out.returncode != 0:
        return _failed(tool, _exit_words(out.returncode), text, out.stderr_tail)
    return ToolResult(text.rstrip(), False, log=_log(out.stderr_tail))


def _log(stderr: bytes) -> str:
    return stderr.decode("utf-8", "replace").strip()[-STDERR_SHOWN:]


def _exit_words(code: Optional[int]) -> str:
    if code is not None and code < 0:
        try:
            return f"was killed by signal {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with status {code}"


def _failed(tool: Tool, what: str, stdout: str, stderr: bytes) -> ToolResult:
    from llmrun.tools.confine import failure_note

    parts = [f"error: tool '{tool.name}' {what}"]
    tail = stderr.decode("utf-8", "replace").strip()[-STDERR_SHOWN:]
    if tail:
        parts.append(f"stderr (end):\n{tail}")
    if stdout.strip():
        parts.append(f"stdout:\n{stdout.rstrip()}")
    parts.append(failure_note(tool))  # the sandbox's one line, when it ran confined
    return ToolResult("\n".join(p for p in parts if p), True)


def run_python(tool: Tool, args: Dict[str, Any]) -> ToolResult:
    """Call the function in a worker process, under the same limits as a command."""
    from llmrun.tools import pyfunc
    from llmrun.tools.childenv import child_env
    from llmrun.tools.confine import policy_of
    from llmrun.tools.process import run_process

    env = child_env(tool.pass_env, {"LLMRUN_TOOL_NAME": tool.name,
                                    "LLMRUN_TOOL_DIR": tool.folder})
    try:
        data = pyfunc.request(tool.target, tool.folder, args,  # type: ignore[arg-type]
                              tool.max_output)
        out = run_process(pyfunc.command(), env, tool.timeout,
                          6 * tool.max_output + 65536, stdin=data, policy=policy_of(tool))
    except (OSError, ValueError) as exc:
        raise ToolError(f"could not start the Python worker: {exc}")
    answer = pyfunc.parse_result(out.stdout)
    if out.timed_out:
        return _failed(tool, f"timed out after {tool.timeout:g} s and was stopped", "",
                       out.stderr_tail)
    if not answer:
        return _failed(tool, "crashed: its worker " + _exit_words(out.returncode) +
                       " without a result", "", out.stderr_tail)
    if not answer.get("ok"):
        return _failed(tool, str(answer.get("error") or "failed"), "", out.stderr_tail)
    text = str(answer.get("text") or "")
    if answer.get("cut"):
        return ToolResult(text + cut_note(tool), True)
    return ToolResult(text, False, log=_log(out.stderr_tail))


def run_tool(tool: Tool, args: Dict[str, Any]) -> ToolResult:
    """Run one tool with already checked arguments; never raises for the tool's failures."""
    start = time.monotonic()
    try:
        if tool.runner is not None:  # a tool of an MCP server
            result = tool.runner(args)
        elif tool.kind == "python":
            result = run_python(tool, args)
        else:
            result = run_command(tool, args)
    except ToolError as exc:
        result = ToolResult(f"error: tool '{tool.name}' {exc}", True)
    result.duration = time.monotonic() - start
    return result


Job = Tuple[Tool, Dict[str, Any]]


class Toolbox:
    """The tools offered in one run, and how their calls are carried out."""

    def __init__(self, tools: List[Tool], yes: bool = False,
                 ask: Optional[Callable[[Tool, Dict[str, Any]], Optional[bool]]] = None,
                 parallel: int = MAX_PARALLEL, approve: Sequence[str] = ()) -> None:
        self.tools = {t.name: t for t in tools}
        self.yes = yes
        unknown = [n for n in approve if n not in self.tools]
        if unknown:
            from llmrun.base.errors import UsageError

            raise UsageError(f"--approve {unknown[0]}: no tool of that name is offered "
                             f"(tools: {', '.join(self.tools) or 'none'})")
        self.approved = set(approve)  # --approve: these run without asking
        self.ask = ask  # how to confirm; the terminal by default
        self.parallel = max(1, min(parallel, MAX_PARALLEL))
        from llmrun.tools.checker import warm_up

        warm_up(t.parameters for t in tools if not t.simple_schema)  # patterns: a worker

    @staticmethod
    def redact(result: ToolResult) -> ToolResult:
        """A tool that prints its environment must not hand the API key to the output."""
        from llmrun.base.secrets import redact

        result.content = redact(result.content)
        result.log = redact(result.log)
        return result

    def schemas(self) -> List[Dict[str, Any]]:
        return [t.schema() for t in self.tools.values()]

    def prepare(self, name: str, arguments: str) -> Union[ToolResult, Job]:
        """Everything before running: find the tool, parse and check the arguments, and
        confirm. Returns the job, or the error result the model gets instead."""
        from llmrun.tools.validate import ArgumentError, check_arguments, parse_arguments

        tool = self.tools.get(name)
        if tool is None:
            known = ", ".join(self.tools) or "none"
            return ToolResult(f"error: there is no tool named {name!r}; the available tools "
                              f"are: {known}. Call one of those by its exact name.", True)
        try:
            args = parse_arguments(name, arguments)
            check_arguments(tool, args)
        except ArgumentError as exc:
            return ToolResult(f"error: {exc}", True)
        except Exception as exc:  # e.g. a $ref jsonschema cannot resolve
            return ToolResult(f"error: the arguments for tool '{name}' could not be checked "
                              f"({type(exc).__name__}: {exc})", True)
        refusal = self._confirm(tool, args)
        return refusal if refusal is not None else (tool, args)

    def _confirm(self, tool: Tool, args: Dict[str, Any]) -> Optional[ToolResult]:
        if not tool.confirm or self.yes or tool.name in self.approved:
            return None
        from llmrun.tools.confirm import refusal

        answer = self.ask(tool, args) if self.ask is not None else None  # None: no terminal
        return None if answer else ToolResult(refusal(tool, answer), True)

    def run_call(self, name: str, arguments: str) -> ToolResult:
        """One call, start to finish (used by `llmrun tools run`)."""
        job = self.prepare(name, arguments)
        return self.redact(job if isinstance(job, ToolResult) else run_tool(*job))

    def run_calls(self, calls: List[Any],
                  on_start: Optional[Callable[[Any], None]] = None,
                  on_done: Optional[Callable[[Any, ToolResult], None]] = None
                  ) -> List[ToolResult]:
        """Run one step's calls concurrently, at most `parallel` at a time; results in call
        order. Callbacks run in the calling thread: on_done in the order calls finish."""
        from llmrun.base.context import current

        ctx = current()
        done: "queue.Queue[Tuple[int, ToolResult]]" = queue.Queue()
        todo: "queue.Queue[Tuple[int, Job]]" = queue.Queue()
        results: List[Optional[ToolResult]] = [None] * len(calls)
        try:
            for i, call in enumerate(calls):  # asks in call order, before anything runs
                if on_start:
                    on_start(call)
                job = self.prepare(call.name, call.arguments) if i < MAX_CALLS_PER_STEP \
                    else too_many(call.name)
                if isinstance(job, ToolResult):
                    done.put((i, job))
                else:
                    todo.put((i, job))
            if len(calls) == 1 and _runs_inline(todo):
                _work(todo, done)  # here: a thread and two hand-overs less for every step
                ctx.check()  # stopped meanwhile: the call's "result" is the stop, raised here
            for n in range(min(self.parallel, todo.qsize())):
                threading.Thread(target=_worker, args=(ctx, todo, done), daemon=True,
                                 name=f"llmrun-tool-{n}").start()
            for _ in calls:
                i, result = _next_result(ctx, done)
                results[i] = result = self.redact(result)
                if on_done:
                    on_done(calls[i], result)
        except BaseException:  # Ctrl-C, SIGTERM, a deadline: no tool of this run outlives it
            _drain(todo)
            ctx.kill_processes()
            ctx.reap()
            raise
        return [r for r in results if r is not None]


def too_many(name: str) -> ToolResult:
    return ToolResult(f"error: tool '{name}' was not run: at most {MAX_CALLS_PER_STEP} calls "
                      "of one step are run. Make fewer calls at once.", True)


def _drain(todo: "queue.Queue[Tuple[int, Job]]") -> None:
    """Nothing queued starts once the run is stopping."""
    while True:
        try:
            todo.get_nowait()
        except queue.Empty:
            return


def _runs_inline(todo: "queue.Queue[Tuple[int, Job]]") -> bool:
    """A step's one call of an MCP server's tool runs in the calling thread: its wait for
    the answer wakes for a stopped run by itself (mcp/jsonrpc.py). The main thread keeps
    the tool thread, where a Ctrl-C cannot land in the middle of the tool's own code."""
    tool = todo.queue[0][1][0] if todo.qsize() == 1 else None
    return tool is not None and tool.runner is not None and \
        threading.current_thread() is not threading.main_thread()


def _next_result(ctx: Any, done: "queue.Queue[Tuple[int, ToolResult]]"
                 ) -> Tuple[int, ToolResult]:
    """Wait for the next finished call, waking now and then: Python runs signal handlers
    only in the main thread, and a Ctrl-C the kernel hands to a tool thread would not wake
    a main thread blocked on a lock for good; a stopped run leaves at once."""
    while True:
        try:
            return done.get(timeout=0.1)
        except queue.Empty:
            ctx.check()


def _worker(ctx: Any, todo: "queue.Queue[Tuple[int, Job]]",
            done: "queue.Queue[Tuple[int, ToolResult]]") -> None:
    """Run queued calls one after another until none is left, in the run's context."""
    from llmrun.base.context import activate

    with activate(ctx):
        _work(todo, done)


def _work(todo: "queue.Queue[Tuple[int, Job]]",
          done: "queue.Queue[Tuple[int, ToolResult]]") -> None:
    while True:
        try:
            i, job = todo.get_nowait()
        except queue.Empty:
            return
        try:
            result = run_tool(*job)
        except BaseException as exc:  # a bug here must not leave the run waiting forever
            result = ToolResult(f"error: tool '{job[0].name}' failed inside llmrun: "
                                f"{type(exc).__name__}: {exc}", True)
        done.put((i, result))

"""Everything llmrun writes: the answer on stdout, progress, usage and errors on stderr.

The plain and `--json` renderer is a consumer of the run's events (base/events.py): the tool
loop does not know it exists. At a terminal, stderr also gets a spinner, dim tool lines and
colour; in a pipe or a cron job it gets plain lines only. Events may come from other threads
(an MCP server's lines): every write goes through one lock, and the spinner's line is erased
before anything else is written.
"""

from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager
from typing import Any, Callable, Dict, Iterator, List, Optional, TextIO

from llmrun.base.events import Consumer, public
from llmrun.base.safetext import mend, name_shown, one_line, printable
from llmrun.output.style import PLAIN, Style, is_terminal, wants_colour


def _fmt_cost(cost: float) -> str:
    return f"${cost:.6f}".rstrip("0").rstrip(".") if cost else "$0"


class Renderer(Consumer):
    """One run's output. stdout gets the answer (or one JSON object) and nothing else."""

    def __init__(self, *, stream: bool, json_mode: bool, quiet: bool, verbose: bool,
                 show_progress: bool, show_reasoning: bool = False,
                 out: Optional[TextIO] = None, err: Optional[TextIO] = None,
                 terminal: Optional[bool] = None, colour: Optional[bool] = None) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.stream = stream and not json_mode
        #: At a terminal the answer's control characters are shown escaped; to a pipe or a
        #: file it is written byte for byte.
        self.escape_out = is_terminal(self.out)
        self.json_mode = json_mode
        self.quiet = quiet
        self.verbose = verbose and not quiet
        self.progress = (show_progress or verbose) and not quiet
        self.show_reasoning = (show_reasoning or verbose) and not quiet
        self._streamed = False  # some answer text is already on stdout
        self._line_open = False  # stdout's last text did not end with a newline
        self._unflushed = False  # text written to stdout, not flushed yet (see flush)
        self._reasoning_open = False  # stderr's last reasoning did not end with a newline
        self._lock = threading.RLock()
        self._running: List[str] = []  # tools running now, in start order
        self._calls_in_step = 0
        self._results_due = 0  # tool results of this step still to come
        self._receiving = False  # text is arriving but not shown (stdout is not streamed)
        self._steps = 0
        terminal = is_terminal(self.err) if terminal is None else terminal
        colour = wants_colour(self.err) if colour is None else colour
        self.style = Style(True) if colour and terminal else PLAIN
        self._spinner = None
        if terminal and not quiet and os.environ.get("TERM") != "dumb":
            from llmrun.output.spinner import Spinner

            self._spinner = Spinner(self.err, self._lock,
                                    lambda text: self.style.paint(text, "cyan"))

    # -- the events -------------------------------------------------------------------------
    def event(self, event: Dict[str, Any]) -> None:
        kind = event["type"]
        if kind == "text":
            self.text(event["text"])
        elif kind == "reasoning":
            self.reasoning(event["text"])
        elif kind == "tool_call":
            self.tool_start(event)
        elif kind == "tool_result":
            self.tool_done(event)
        elif kind == "step":
            self.step_done(event)
        elif kind == "start":
            self.start(event)
        elif kind == "retry":
            self.retry(event["attempt"], event["wait_s"], event["reason"])
        elif kind == "warning":
            self.warn(event["message"])
        elif kind == "note":
            if event.get("_server_line"):
                if self.verbose:
                    self.server_line(event["message"])
            else:
                self.note(event["message"])
        elif kind == "result":
            self.finish(event)

    # -- during the run ---------------------------------------------------------------------
    def start(self, event: Dict[str, Any]) -> None:
        """The run is set up (provider, model and tools known): the first request goes."""
        self.waiting()

    def retry(self, attempt: int, wait_s: float, reason: str) -> None:
        """A request is tried again after `wait_s` seconds."""
        if self.progress:
            with self._lock:
                self._note(f"llmrun: {printable(reason)}; retry {attempt} in {wait_s:.1f} s",
                           "yellow")

    def warn(self, message: str) -> None:
        """Something legal but probably a mistake (unless -q)."""
        if not self.quiet:
            with self._lock:
                self._note(f"llmrun: warning: {printable(message)}", "yellow")

    def note(self, message: str) -> None:
        """A choice llmrun made for the user (with -v)."""
        if self.verbose:
            with self._lock:
                self._note(f"llmrun: {printable(message)}", "dim")

    def server_line(self, line: str) -> None:
        """A line an MCP server wrote on its stderr (shown with -v)."""
        with self._lock:
            self._note(printable(line), "dim")

    def waiting(self) -> None:
        """A request is on its way: spin until its first token."""
        with self._lock:
            self._receiving = False
            more = f" (step {self._steps + 1})" if self._steps else ""
            self._spin(f"waiting for the model{more}")

    def text(self, delta: str) -> None:
        if not self.stream:
            if self._spinner is not None and not self._receiving:
                with self._lock:
                    self._receiving = True
                    self._spin("receiving the answer")
            return
        with self._lock:
            self._spin(None)
            self._end_reasoning()
            if self.escape_out:
                delta = printable(delta)
            try:
                self.out.write(delta)
            except UnicodeEncodeError:  # half a surrogate pair: the JSON answer mends it
                self.out.write(mend(delta))
            self._unflushed = True
            self._streamed = True
            self._line_open = not delta.endswith("\n")

    def flush(self) -> None:
        """Push streamed text out. The stream reader calls it after the events of each network
        read: one write per read rather than one per delta, and nothing waits longer."""
        if self._unflushed:
            with self._lock:
                self._unflushed = False
                self.out.flush()

    def reasoning(self, delta: str) -> None:
        if not self.show_reasoning or not delta:
            return
        with self._lock:
            self._spin(None)
            if self._unflushed:  # answer text before this reasoning goes out first
                self._unflushed = False
                self.out.flush()
            self.err.write(self.style.paint(printable(delta), "dim"))
            self.err.flush()
            self._reasoning_open = not delta.endswith("\n")

    def step_done(self, step: Dict[str, Any]) -> None:
        calls = step.get("_tool_calls") or []
        with self._lock:
            self._spin(None)
            self._end_reasoning()
            self._steps = step["step"]
            self._calls_in_step = self._results_due = len(calls)
            # end the answer's line before anything else is written below it: tool lines,
            # or the -v step note (stdout and stderr share a terminal line)
            if self.stream and self._line_open and (calls or self.verbose):
                self.out.write("\n")
                self.out.flush()
                self._line_open = False
            usage = step.get("usage")
            if self.verbose and usage is not None:
                self._note(f"step {step['step']}: {usage['prompt_tokens']} prompt + "
                           f"{usage['completion_tokens']} completion tokens, "
                           f"finish: {step['finish_reason']}", "dim")

    def tool_start(self, call: Dict[str, Any]) -> None:
        """A tool begins: one dim line, then spin while it runs."""
        with self._lock:
            name = name_shown(call["name"])  # the model (or an MCP server) chose it
            self._running.append(name)
            if self.progress:
                raw = call.get("_raw", "")
                self._note(self._fit(f"→ {name} {one_line(raw)}"), "dim")
            self._spin("running " + ", ".join(self._running))

    def tool_done(self, done: Dict[str, Any]) -> None:
        name = done["name"]
        with self._lock:
            name = name_shown(name)
            if name in self._running:
                self._running.remove(name)
            if self.progress:
                mark = "✗" if done["is_error"] else "←"
                who = f"{name}: " if self._calls_in_step > 1 else ""
                line = self._fit(f"{mark} {who}{result_line(done['result'])}",
                                 f" ({done['duration_s']:.2f} s)")
                self._note(line, "red" if done["is_error"] else "dim")
                if self.verbose and done.get("_log"):  # what it print()ed
                    for text in done["_log"].splitlines()[-LOG_LINES:]:
                        self._note(f"  {name} stderr: {printable(text)}", "dim")
            self._results_due -= 1
            if self._running:
                self._spin("running " + ", ".join(self._running))
            elif self._results_due <= 0:
                self.waiting()  # every result is in: the next request goes
            else:
                self._spin(None)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Hold the spinner while something else uses the terminal (a confirmation prompt)."""
        with self._lock:
            if self._spinner is not None:
                self._spinner.held += 1
                self._spinner.erase()
            self._end_reasoning()
        try:
            yield
        finally:
            with self._lock:
                if self._spinner is not None:
                    self._spinner.held -= 1

    def holding(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        """`fn` (say, a confirmation prompt) wrapped to run with the spinner held."""
        def held(*args: Any, **kwargs: Any) -> Any:
            with self.paused():
                return fn(*args, **kwargs)
        return held

    # -- at the end -------------------------------------------------------------------------
    def finish(self, result: Dict[str, Any]) -> None:
        """The `result` event: the answer (or the JSON object), the usage line, the error."""
        error = result.get("error")
        answered = result.get("_answered", error is None)
        with self._lock:
            self._spin(None)
            self._end_reasoning()
            if self.json_mode:
                self.write_result(result)
            elif self.stream:
                if self._line_open:
                    self.out.write("\n")
                    self._line_open = False
            elif answered:
                answer = printable(result["answer"]) if self.escape_out else result["answer"]
                self.out.write(answer + "\n")
            self.out.flush()
            if not self.quiet and (result["steps"] or error is None):
                self._note(usage_line(result), "green" if error is None else "yellow")
            if answered and result["finish_reason"] == "length" and not self.quiet:
                self._note("llmrun: the answer was cut by the output token limit "
                           "(finish_reason: length); raise --max-tokens for all of it", "yellow")
            if error is not None:
                self.error(error["message"])
        self.close()

    def write_result(self, result: Dict[str, Any]) -> None:
        """--json: the one object, at the end."""
        from llmrun.base.jsonsafe import dumps  # RFC 8259 always

        self.out.write(mend(dumps(json_object(result))) + "\n")

    def error(self, message: str) -> None:
        with self._lock:
            self._spin(None)
            self._end_reasoning()
            self._note(f"llmrun: error: {printable(message)}", "red")

    def close(self) -> None:
        """Erase the spinner and end its thread; safe to call more than once."""
        if self._spinner is not None:
            self._spinner.close()

    # -- helpers (call with the lock held) --------------------------------------------------
    def _spin(self, label: Optional[str]) -> None:
        if self._spinner is None:
            return
        if label is None:
            self._spinner.hide()
        else:
            self._spinner.show(label)

    def _end_reasoning(self) -> None:
        if self._reasoning_open:
            self._reasoning_open = False
            self._note("")

    def _note(self, line: str, *style: str) -> None:
        if self._spinner is not None:
            self._spinner.erase()
        self.err.write(self.style.paint(line, *style) + "\n")
        self.err.flush()

    def _fit(self, line: str, tail: str = "") -> str:
        """On a terminal, cut a long line to its width so it stays one line."""
        if self._spinner is None:
            return line + tail
        from llmrun.output.spinner import columns

        room = columns(self.err) - 1 - len(tail)
        if len(line) > room > 10:
            line = line[:room - 1] + "…"
        return line + tail


RESULT_SHOWN = 500  # characters of a result on its progress line
LOG_LINES = 20  # lines of a tool's stderr shown with -v


def result_line(content: str) -> str:
    """A result on one line: all of it, whitespace runs as one space (a pretty-printed
    JSON result reads `{ "a": 1 }`, not `{ …`), cut at RESULT_SHOWN characters."""
    text = one_line(content[:RESULT_SHOWN * 4])
    if len(text) <= RESULT_SHOWN:
        return text
    lines = content.count("\n") + 1
    return text[:RESULT_SHOWN] + f"… ({len(content)} characters, {lines} lines)"


def usage_line(result: Dict[str, Any]) -> str:
    """The usage line of a `result` event."""
    u = result["usage"]
    calls, steps = len(result["tool_calls"]), result["steps"]
    parts = [f"{steps} step{'s' if steps != 1 else ''}",
             f"{calls} tool call{'s' if calls != 1 else ''}",
             f"{u['prompt_tokens']} prompt + {u['completion_tokens']} completion tokens "
             f"({u['reasoning_tokens']} reasoning, {u['cached_tokens']} cached"
             + (f", {u['cache_write_tokens']} written to cache" if u['cache_write_tokens']
                else "") + ")"]
    if u["cost"] is not None:
        parts.append(_fmt_cost(u["cost"]))
    parts.append(f"{result['duration_s']:.2f} s")
    return "llmrun: " + " · ".join(parts)


def json_object(result: Dict[str, Any]) -> Dict[str, Any]:
    """The --json object of a `result` event: its public keys but `type`."""
    obj = public(result)
    obj.pop("type", None)
    return obj

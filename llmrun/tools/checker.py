"""Checking a value the model chose against a JSON Schema, bounded in time.

jsonschema checks `pattern` and `patternProperties` with Python's `re`, a backtracking engine:
an ordinary e-mail pattern against `"aaa…a!"` takes 2^n steps, and `re` holds the GIL all
along, so no timer thread — `--deadline`, a tool's timeout — could run until it was done.
Schemas with patterns are therefore checked in a worker process of our own (started on
first use, reused for the run, one Python start-up): the main thread only waits on a pipe
with `select`, which releases the GIL and lets every signal and deadline in; the worker stops
a check after CHECK_SECONDS with its own timer, and is killed (and replaced on the next
check) if it does not answer by then. A linear-time engine (google-re2) would need a
compiled dependency, and its syntax differs from the ECMA-262 patterns schemas are written
in; a killable worker keeps jsonschema's exact answers. Schemas without patterns are checked
in-process, as before.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import threading
from typing import Any, Dict, List, Optional, Tuple

#: The longest one check of a model's value against a schema with patterns may take.
CHECK_SECONDS = 2.0
_GRACE = 2.0  # then the worker is killed, whatever it is doing
MAX_MESSAGE = 1000  # characters of one problem (jsonschema repeats the whole value in it)
MAX_ERRORS = 50

Problem = Tuple[List[Any], str]


class CheckFailed(Exception):
    """The value could not be checked (too slow, too deep): the message says why."""


def has_patterns(schema: Any) -> bool:
    """Whether a schema anywhere holds `pattern` or `patternProperties` (checked with `re`)."""
    stack = [schema]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            if isinstance(value.get("pattern"), str) or value.get("patternProperties"):
                return True
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    return False


def problems(schema: Dict[str, Any], value: Any, validator: Any = None) -> List[Problem]:
    """Every way `value` breaks `schema`, as (path, message), ordered by path.

    Raises CheckFailed when the check cannot be done in time or at all."""
    if has_patterns(schema):
        return _WORKER.check(schema, value)
    if validator is None:
        from jsonschema.validators import Draft202012Validator, validator_for

        validator = validator_for(schema, default=Draft202012Validator)(schema)
    try:
        return _collect(validator.iter_errors(value))
    except RecursionError:
        raise CheckFailed("the value is nested too deeply for the schema's checks") from None
    except Exception as exc:  # a $ref to another document (referencing.Unresolvable), …
        raise CheckFailed(f"jsonschema raised {type(exc).__name__}: {str(exc)[:300]}") from None


def _collect(errors: Any) -> List[Problem]:
    found = []
    for error in errors:
        found.append((list(error.absolute_path), _short(error.message)))
        if len(found) >= MAX_ERRORS:
            break
    return sorted(found, key=lambda p: [str(part) for part in p[0]])


def _short(message: str) -> str:
    return message if len(message) <= MAX_MESSAGE else message[:MAX_MESSAGE - 1] + "…"


_CODE = r"""
import json, signal, sys
if len(sys.argv) > 1:
    sys.path.append(sys.argv[1])
try:  # die with llmrun, even when it is killed with SIGKILL (Linux)
    import ctypes
    ctypes.CDLL(None).prctl(1, 9)
except Exception:
    pass
from jsonschema.validators import Draft202012Validator, validator_for


class Late(Exception):
    pass


def late(signum, frame):
    raise Late()


signal.signal(signal.SIGALRM, late)
signal.signal(signal.SIGINT, signal.SIG_IGN)
for line in sys.stdin:
    request = json.loads(line)
    try:
        signal.setitimer(signal.ITIMER_REAL, request["seconds"])
        schema = request["schema"]
        found = []
        for error in validator_for(schema, default=Draft202012Validator)(schema).iter_errors(
                request["value"]):
            message = error.message
            if len(message) > %(max_message)d:
                message = message[:%(max_message)d - 1] + "\u2026"
            found.append([list(error.absolute_path), message])
            if len(found) >= %(max_errors)d:
                break
        signal.setitimer(signal.ITIMER_REAL, 0)
        answer = {"problems": found}
    except Late:
        answer = {"late": True}
    except RecursionError:
        answer = {"failed": "the value is nested too deeply for the schema's checks"}
    except Exception as exc:
        answer = {"failed": "jsonschema raised %%s: %%s" %% (type(exc).__name__, str(exc)[:300])}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
""" % {"max_message": MAX_MESSAGE, "max_errors": MAX_ERRORS}


class _Worker:
    """The checking process: one request at a time, killed when it does not answer."""

    def __init__(self) -> None:
        self.proc: Optional[subprocess.Popen] = None
        self.lock = threading.Lock()

    def check(self, schema: Dict[str, Any], value: Any) -> List[Problem]:
        request = json.dumps({"schema": schema, "value": value, "seconds": CHECK_SECONDS},
                             allow_nan=False) + "\n"  # ASCII: any string gets through
        with self.lock:
            try:
                answer = self._ask(request.encode("ascii"))
            except BaseException:  # a signal, --deadline: the worker goes with the check
                self._kill()
                raise
        if answer.get("late"):
            raise CheckFailed(f"checking it against the schema's patterns took more than "
                              f"{CHECK_SECONDS:g} s (a pattern that backtracks on this value)")
        if "failed" in answer:
            raise CheckFailed(str(answer["failed"]))
        return sorted(((list(p), str(m)) for p, m in answer.get("problems") or []),
                      key=lambda p: [str(part) for part in p[0]])

    def _ask(self, request: bytes) -> Dict[str, Any]:
        for attempt in (1, 2):  # a worker that died since the last check is replaced once
            try:
                proc = self._start()
            except OSError as exc:  # no fork, no memory: the value stays unchecked, not run
                raise CheckFailed(f"its checking process could not be started "
                                  f"({exc.strerror or exc})") from None
            try:
                proc.stdin.write(request)  # type: ignore[union-attr]
                proc.stdin.flush()  # type: ignore[union-attr]
            except OSError:
                self._kill()
                if attempt == 2:
                    raise CheckFailed("the checking process could not be started") from None
                continue
            line = self._read_line(proc, CHECK_SECONDS + _GRACE)
            if line is None:
                self._kill()
                return {"late": True}
            try:
                return json.loads(line)
            except ValueError:
                self._kill()
        raise CheckFailed("the checking process gave no usable answer")

    def _start(self) -> subprocess.Popen:
        if self.proc is not None and self.proc.poll() is None:
            return self.proc
        argv = [sys.executable, "-I", "-c", _CODE]
        where = _jsonschema_folder()
        if where:
            argv.append(where)
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL, start_new_session=True,
                                     close_fds=True)
        return self.proc  # shared by the runs of the process; it dies with llmrun (PDEATHSIG)

    @staticmethod
    def _read_line(proc: subprocess.Popen, seconds: float) -> Optional[bytes]:
        """One answer line, or None when it does not come within `seconds`."""
        import time

        from llmrun.base.context import current

        ctx = current()  # the run that asked: its deadline or cancel ends the wait
        fd = proc.stdout.fileno()  # type: ignore[union-attr]
        parts: List[bytes] = []
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return None
            # the GIL is free meanwhile, and a signal or --deadline interrupts the wait; slices
            # of 0.1 s leave room for a run's own cancellation to be looked at here too
            ready, _, _ = select.select([fd], [], [], min(left, 0.1))
            if not ready:
                ctx.check()  # raises the run's stop reason: the caller kills the worker
                continue
            data = os.read(fd, 65536)
            if not data:  # the worker died (killed, out of memory) in the middle
                return b'{"failed": "its checking process died before it answered"}'
            parts.append(data)
            if data.endswith(b"\n"):
                return b"".join(parts)

    def _kill(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            proc.kill()
        except OSError:
            pass
        for stream in (proc.stdin, proc.stdout):
            try:
                stream.close()  # type: ignore[union-attr]
            except OSError:
                pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass


def _jsonschema_folder() -> Optional[str]:
    """Where jsonschema is installed, for a worker started with -I (found, not imported)."""
    import importlib.util

    spec = importlib.util.find_spec("jsonschema")
    if spec is None or not spec.origin:
        return None
    return os.path.dirname(os.path.dirname(spec.origin))


_WORKER = _Worker()


def warm_up(schemas: Any) -> None:
    """Start the worker now, when any of `schemas` has patterns: its start-up (a Python and
    jsonschema, about a quarter of a second) then overlaps the first model request instead
    of delaying the first check."""
    if any(has_patterns(s) for s in schemas):
        with _WORKER.lock:
            try:
                _WORKER._start()
            except OSError:
                pass  # the first check tries again, and says so if it cannot


def stop_worker() -> None:
    """End the checking process (at the end of a run, or in tests)."""
    with _WORKER.lock:
        _WORKER._kill()

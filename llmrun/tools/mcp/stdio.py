"""A stdio MCP server: one JSON message per line on its stdin and stdout, its stderr kept
apart, in a process group of its own that llmrun stops and reaps whatever happens. Its stdin
is written by a thread (pipes.PipeWriter), so a server that stops reading blocks no call, and
its stderr is read in bounded pieces (pipes.TailReader)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from typing import Any, Callable, Optional

from llmrun.tools.mcp.jsonrpc import ServerGone
from llmrun.tools.mcp.pipes import PipeFull, PipeWriter, TailReader
from llmrun.tools.mcp.spec import ServerSpec

MAX_MESSAGE = 64 * 1024 * 1024  # one line of the server's stdout, at most
STDERR_LINES = 20


class StdioTransport:
    def __init__(self, spec: ServerSpec, deliver: Callable[[Any], None],
                 gone: Callable[[str], None], show: Optional[Callable[[str], None]] = None
                 ) -> None:
        from llmrun.base.context import current
        from llmrun.tools.childenv import child_env
        from llmrun.tools.confine import policy_of

        self.spec = spec
        self._deliver, self._gone = deliver, gone
        self.ignored = 0  # lines of stdout that were not JSON-RPC
        read_end, write_end = os.pipe()  # ours alone: no file object shares the write end
        argv, env, fds = [spec.command, *spec.args], child_env(extra=spec.env), ()
        try:
            if policy_of(spec).enabled:  # confined, under its supervisor
                from llmrun.sandbox.launch import command
                from llmrun.tools.childenv import is_secret

                argv, fds, done = command(argv, policy_of(spec), env, spec.cwd,  # type: ignore
                                          is_secret=is_secret)
                os.close(done)  # its reader thread's end-of-file says the same
            self.proc = subprocess.Popen(argv,  # type: ignore[arg-type]
                                         stdin=read_end, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, cwd=spec.cwd, env=env,
                                         start_new_session=True, pass_fds=fds)
            if fds:
                os.close(fds[1])
        except (OSError, ValueError) as exc:
            os.close(write_end)
            raise ServerGone(f"cannot start {spec.command!r}: "
                             f"{getattr(exc, 'strerror', None) or exc}") from None
        finally:
            os.close(read_end)
        self._ctx = current()  # the run's (or the session's): a stop kills the server too
        self._ctx.add_process(self.proc)
        self._writer = PipeWriter(write_end)
        self._stderr = TailReader(self.proc.stderr, STDERR_LINES, show)
        self._threads = [threading.Thread(target=self._read_stdout, daemon=True),
                         self._stderr.thread]
        self._threads[0].start()

    def send(self, message: Any) -> None:
        """Queue one message; never waits for the server to read it."""
        data = (json.dumps(message, ensure_ascii=False) + "\n").encode("utf-8", "replace")
        try:
            self._writer.put(data)
        except PipeFull as exc:
            self._gone(f"{exc}: it stopped reading its input")
            self.kill()
            raise ServerGone(str(exc)) from None
        except OSError:
            raise ServerGone(self.why_gone()) from None

    def stderr_tail(self) -> str:
        # once the server exited, wait a moment for the end of what it wrote
        return self._stderr.text(settle=1.0 if self.proc.poll() is not None else 0.0)

    def why_gone(self) -> str:
        code = self.proc.poll()
        what = "exited" if code is None or code >= 0 else "was killed"
        status = f" (status {code})" if code is not None and code >= 0 else \
            (f" by signal {-code}" if code is not None else "")
        return f"the server {what}{status}"

    def _read_stdout(self) -> None:
        out = self.proc.stdout
        while True:
            line = out.readline(MAX_MESSAGE + 1)  # type: ignore[union-attr]
            if not line:
                break
            if len(line) > MAX_MESSAGE:
                self._gone(f"the server sent a message over {MAX_MESSAGE // 2**20} MiB")
                self.kill()
                return
            try:
                message = json.loads(line)
            except (ValueError, RecursionError):
                self.ignored += 1  # a log line on stdout: not ours to parse
                continue
            self._deliver(message)
        self.proc.wait()
        self._gone(self.why_gone())

    def close(self) -> None:
        """Close stdin, then SIGTERM, then SIGKILL the whole group; reap it."""
        self._writer.close()  # end of input, even for a server that stopped reading
        for sig, grace in ((None, 0.5), (signal.SIGTERM, 1.0), (signal.SIGKILL, 5.0)):
            if sig is not None:
                try:
                    os.killpg(self.proc.pid, sig)
                except (ProcessLookupError, PermissionError):
                    pass
            if self._exited(grace):
                break
        try:  # what the server started and left in its group goes too
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._ctx.discard_process(self.proc)
        for thread in self._threads:
            thread.join(timeout=1)

    def _exited(self, grace: float) -> bool:
        """Whether the server exits within `grace` seconds. The stdout reader's blocking wait
        reaps it, so joining the reader sees the exit at once, where Popen.wait with a
        timeout polls at up to 50 ms intervals (the end of every batch waits for this)."""
        end = time.monotonic() + grace
        self._threads[0].join(grace)
        try:  # the reader ended without reaping (it killed an oversized server): wait here
            self.proc.wait(timeout=max(0.0, end - time.monotonic()))
            return True
        except subprocess.TimeoutExpired:
            return False

    def kill(self) -> None:
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

"""The errors llmrun reports, each carrying the exit code the contract gives it."""

from __future__ import annotations

#: The exit codes of the contract's table, the one place they are spelled out.
OK = 0
BUG = 1  # a bug in llmrun, and only that
USAGE = 2
CONFIG = 3
API = 4
STREAM = 5
LIMIT = 6
TOOL_ERROR = 7
SCHEMA = 8
SOME_FAILED = 9  # llmrun batch: some items did not answer
INTERRUPTED = 130  # 128 + the signal: 130 SIGINT, 143 SIGTERM, 129 SIGHUP
CLOSED_PIPE = 141  # stdout's reader went away (128 + SIGPIPE), as any Unix filter


class LlmrunError(Exception):
    """An expected failure: reported as one `llmrun: error:` line, never a traceback.

    Each kind declares its exit code and `error.type` in its class line:
    `class ConfigError(LlmrunError, code=CONFIG, kind="config")`."""

    exit_code = BUG
    kind = "error"
    keeps_answer = False  # the answer is still printed (--fail-on-tool-error)

    def __init_subclass__(cls, code: int = 0, kind: str = "", **rest: object) -> None:
        super().__init_subclass__(**rest)  # type: ignore[arg-type]
        cls.exit_code = code or cls.exit_code
        cls.kind = kind or cls.kind

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(LlmrunError, ValueError, code=USAGE, kind="usage"):
    """A bad command line (from Python: a bad argument, hence a ValueError too)."""


class ConfigError(LlmrunError, code=CONFIG, kind="config"):
    """Configuration: provider, key, tool file, config file, cassette, MCP server."""


class APIError(LlmrunError, code=API, kind="api"):
    """The server answered with an HTTP error status (after retries)."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class StreamError(LlmrunError, code=STREAM, kind="stream"):
    """Cannot connect, timed out, or the stream was cut, malformed or carried an error."""


class ConnectError(StreamError, kind="connection"):
    """Cannot connect at all: refused, no such host, the connect timed out, TLS failed."""


class LimitError(LlmrunError, code=LIMIT):
    """A limit the user set stopped the run; `kind` says which (max_steps, max_cost,
    deadline, max_tool_calls, max_tokens)."""

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class MaxStepsError(LimitError):
    def __init__(self, message: str) -> None:
        super().__init__(message, "max_steps")


class ToolErrorExit(LlmrunError, code=TOOL_ERROR, kind="tool_error"):
    """--fail-on-tool-error: the run answered, but a tool call ended in an error result."""

    keeps_answer = True


class SchemaError(LlmrunError, code=SCHEMA, kind="schema"):
    """--schema: the final answer is not valid against the schema, even after a repair."""


class InputError(LlmrunError, code=USAGE, kind="input"):
    """llmrun batch: an item's line cannot run (not JSON, no prompt, a repeated id)."""


class Interrupted(LlmrunError, code=INTERRUPTED, kind="interrupted"):
    """A signal: 130 (SIGINT), 143 (SIGTERM), 129 (SIGHUP)."""

    def __init__(self, message: str, exit_code: int = INTERRUPTED) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def report(exc: LlmrunError) -> int:
    """Print the one `llmrun: error:` line for `exc` (key redacted); return its exit status.

    For the commands that have no renderer (`tools`, `providers`, `models`)."""
    import sys

    from llmrun.base.safetext import printable
    from llmrun.base.secrets import redact

    sys.stderr.write(f"llmrun: error: {printable(redact(exc.message))}\n")
    sys.stderr.flush()
    return exc.exit_code

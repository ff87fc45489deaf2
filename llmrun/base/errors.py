"""The errors llmrun reports, each carrying the exit code the contract gives it."""

from __future__ import annotations


class LlmrunError(Exception):
    """An expected failure: reported as one `llmrun: error:` line, never a traceback."""

    exit_code = 1
    kind = "error"
    keeps_answer = False  # the answer is still printed (--fail-on-tool-error)

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UsageError(LlmrunError):
    exit_code = 2
    kind = "usage"


class ConfigError(LlmrunError):
    exit_code = 3
    kind = "config"


class APIError(LlmrunError):
    """The server answered with an HTTP error status (after retries)."""

    exit_code = 4
    kind = "api"

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.status = status


class StreamError(LlmrunError):
    """Cannot connect, timed out, or the stream was cut, malformed or carried an error."""

    exit_code = 5
    kind = "stream"


class LimitError(LlmrunError):
    """A limit the user set stopped the run; `kind` says which (max_steps, max_cost,
    deadline, max_tool_calls, max_tokens)."""

    exit_code = 6

    def __init__(self, message: str, kind: str) -> None:
        super().__init__(message)
        self.kind = kind


class MaxStepsError(LimitError):
    def __init__(self, message: str) -> None:
        super().__init__(message, "max_steps")


class ToolErrorExit(LlmrunError):
    """--fail-on-tool-error: the run answered, but a tool call ended in an error result."""

    exit_code = 7
    kind = "tool_error"
    keeps_answer = True


class SchemaError(LlmrunError):
    """--schema: the final answer is not valid against the schema, even after a repair."""

    exit_code = 8
    kind = "schema"


class Interrupted(LlmrunError):
    exit_code = 130
    kind = "interrupted"

    def __init__(self, message: str, exit_code: int = 130) -> None:
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

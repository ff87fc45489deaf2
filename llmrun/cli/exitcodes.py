"""The exit codes and `error.type`s of `llmrun ask`, as `--help` shows them (the README's
"Exit status" table says the same at length; a test keeps the two and the error classes in
step). Plain data: `llmrun --help` imports it, so it must stay cheap."""

from __future__ import annotations

from typing import List, Tuple

#: (code, what it means, the error.type values it carries)
EXIT_CODES: List[Tuple[str, str, str]] = [
    ("0", "answered", ""),
    ("1", "a bug in llmrun (only that)", ""),
    ("2", "bad command line (batch: a bad input line, on its item's line)", "usage, input"),
    ("3", "configuration (provider, API key, tool, config, --schema, cassette, MCP, sandbox)",
     "config, replay_mismatch"),
    ("4", "the API answered an HTTP error", "api"),
    ("5", "cannot connect, or the stream failed", "connection, stream"),
    ("6", "a limit stopped the run", "max_steps, max_cost, deadline, max_tool_calls, "
                                     "max_tokens"),
    ("7", "answered, but a tool failed (--fail-on-tool-error)", "tool_error"),
    ("8", "the answer does not match --schema", "schema"),
    ("9", "llmrun batch: some items did not answer (each line has its own code)", ""),
    ("130/143/129", "SIGINT / SIGTERM / SIGHUP", "interrupted"),
]

EPILOG = "\b\nExit status (and error.type in --json):\n" + "\n".join(
    f"  {code:<12}{meaning}" + (f"  [{kinds}]" if kinds else "")
    for code, meaning, kinds in EXIT_CODES)

"""Reading a file someone named, within a bound: `--config /dev/zero` must be exit 3 naming
the file and the limit, not a read that never ends and a MemoryError (exit 1).

Every file llmrun reads whole — the config file, tool files, `--schema FILE`, `--mcp FILE`,
cassettes — goes through `read_text`.
"""

from __future__ import annotations

from llmrun.base.errors import ConfigError

#: The most a config file, a tool file, a schema or an MCP server file may hold. Real ones
#: are a few KiB; 4 MiB leaves room for generated ones.
MAX_SETTINGS_FILE = 4 * 1024 * 1024
#: The most a cassette may hold: a recording keeps every step's raw stream (each within the
#: 64 MiB response budget).
MAX_CASSETTE = 256 * 1024 * 1024
_BLOCK = 1024 * 1024


def read_text(path: str, what: str, limit: int = MAX_SETTINGS_FILE) -> str:
    """The UTF-8 text of `path`, read in blocks and never more than `limit` bytes.

    Raises OSError and UnicodeDecodeError as `open` and `decode` would (callers word those),
    and ConfigError when the file is bigger than `limit` (a device such as /dev/zero, a
    runaway generated file)."""
    parts = []
    size = 0
    with open(path, "rb") as fh:
        while True:
            block = fh.read(min(_BLOCK, limit + 1 - size))
            if not block:
                break
            parts.append(block)
            size += len(block)
            if size > limit:
                raise ConfigError(f"{what} {path} is larger than {_size(limit)}; llmrun reads no "
                                  "more of it (is it the right file?)")
    text = b"".join(parts).decode("utf-8")
    return text.replace("\r\n", "\n").replace("\r", "\n")  # as text mode reads it


def _size(limit: int) -> str:
    mib = limit / (1024 * 1024)
    return f"{mib:g} MiB" if mib >= 1 else f"{limit} bytes"


#: The most standard input may bring as (part of) the prompt.
MAX_STDIN = 64 * 1024 * 1024


def read_stream(stream: object, limit: int = MAX_STDIN) -> str:
    """All of a text stream (standard input), or ValueError when it holds more than
    `limit` characters (`llmrun ask < /dev/zero` must end, not fill the memory)."""
    parts = []
    size = 0
    while True:
        block = stream.read(min(_BLOCK, limit + 1 - size))  # type: ignore[attr-defined]
        if not block:
            return "".join(parts)
        parts.append(block)
        size += len(block)
        if size > limit:
            raise ValueError(f"standard input is larger than {_size(limit)}")

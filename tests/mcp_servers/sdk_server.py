"""A real MCP server built with the official SDK (a test dependency): `stdio` or `http PORT`."""

import os
import sys
import time

from mcp.server.mcpserver import MCPServer
from mcp.types import ToolAnnotations

server = MCPServer("llmrun-test")


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def choose(kind: "int | str", tags: "list[str] | None" = None) -> str:
    """A schema with anyOf and an optional array: it must reach the model unchanged."""
    return f"{kind!r} {tags!r}"


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def slow(seconds: float) -> str:
    """Sleep, then answer."""
    time.sleep(seconds)
    return f"slept {seconds}"


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def fail(why: str) -> str:
    """Always fails."""
    raise ValueError(why)


@server.tool(annotations=ToolAnnotations(readOnlyHint=True))
def env(name: str) -> str:
    """One variable of the server's environment."""
    return os.environ.get(name, "<unset>")


@server.tool()
def delete_everything(path: str) -> str:
    """Destructive (no annotations): needs a confirmation."""
    return f"deleted {path}"


if __name__ == "__main__":
    if sys.argv[1:2] == ["http"]:
        import asyncio

        asyncio.run(server.run_streamable_http_async(host="127.0.0.1", port=int(sys.argv[2])))
    else:
        server.run("stdio")

"""MCP servers as a source of tools: start them (in parallel), list their tools, turn each
into a Tool the tool loop runs like a YAML one, map call results, and stop every server."""

from __future__ import annotations

import json
import threading
from typing import Any, Callable, Dict, List, Optional, Set

from llmrun.base.errors import ConfigError
from llmrun.tools.mcp.jsonrpc import RpcError, ServerGone, Session
from llmrun.tools.mcp.spec import ServerSpec

PROTOCOL = "2025-06-18"
KNOWN_PROTOCOLS = ("2024-11-05", "2025-03-26", "2025-06-18")
MAX_PAGES = 100
#: A server's tool list goes into every request: past these it is refused (exit 3, named).
MAX_TOOLS = 1000
MAX_LIST_BYTES = 8 * 1024 * 1024


class McpServer:
    """One running server and its session."""

    def __init__(self, spec: ServerSpec, show: Optional[Callable[[str], None]] = None) -> None:
        self.spec = spec
        self.show = show
        self.transport: Any = None
        self.session: Optional[Session] = None
        self.listed: List[Dict[str, Any]] = []
        self._sound: Set[str] = set()  # tools whose inputSchema passed the check
        self._left: Callable[[], float] = lambda: spec.startup_timeout  # of the start-up
        self.spawned = threading.Event()  # its process started (or could not): now it answers

    def start(self) -> None:
        """Spawn or connect, shake hands, list the tools: all within `startup_timeout`."""
        try:
            self._start()
        except TimeoutError:
            raise TimeoutError(f"no answer within {self.spec.startup_timeout:g} s "
                               "(its startup_timeout)") from None
        finally:
            self.spawned.set()

    def _start(self) -> None:
        import time

        deadline = time.monotonic() + self.spec.startup_timeout
        self._left = lambda: max(deadline - time.monotonic(), 0.01)
        session = Session(None)
        self.session = session
        if self.spec.command:
            from llmrun.tools.mcp.stdio import StdioTransport

            show = (lambda line: self.show(f"[{self.spec.name}] {line}")) if self.show else None
            self.transport = StdioTransport(self.spec, session.deliver, session.fail_all, show)
        else:
            from llmrun.tools.mcp.http import HttpTransport

            self.transport = HttpTransport(self.spec, session.deliver, session.fail_all)
        session.transport = self.transport
        self.spawned.set()
        answer = session.request("initialize", {
            "protocolVersion": PROTOCOL, "capabilities": {},
            "clientInfo": {"name": "llmrun", "version": _version()}},
            self._left())
        version = answer.get("protocolVersion") if isinstance(answer, dict) else None
        if version not in KNOWN_PROTOCOLS:
            raise ServerGone(f"the server speaks protocol version {version!r}, which llmrun "
                             f"does not know ({', '.join(KNOWN_PROTOCOLS)})")
        if hasattr(self.transport, "protocol") and version >= "2025-06-18":
            self.transport.protocol = version
        session.notify("notifications/initialized")
        self.listed = self._list_tools()

    def _list_tools(self) -> List[Dict[str, Any]]:
        tools: List[Dict[str, Any]] = []
        cursor, size = None, 0
        for _ in range(MAX_PAGES):
            params = {"cursor": cursor} if cursor else {}
            page = self.session.request("tools/list", params,  # type: ignore[union-attr]
                                        self._left())
            if not isinstance(page, dict) or not isinstance(page.get("tools"), list):
                raise ServerGone("tools/list answered without a list of tools")
            for raw in page["tools"]:
                if isinstance(raw, dict) and isinstance(raw.get("name"), str):
                    size += _size_of(raw)
                    tools.append(raw)
                if len(tools) > MAX_TOOLS or size > MAX_LIST_BYTES:
                    raise ServerGone(f"its tools/list offers more than {MAX_TOOLS} tools or "
                                     f"more than {MAX_LIST_BYTES // 2**20} MiB of tool "
                                     "definitions (every request would carry them all); "
                                     "llmrun refuses it")
            cursor = page.get("nextCursor")
            if not cursor:
                return tools
        raise ServerGone(f"tools/list went on for more than {MAX_PAGES} pages")

    def tools(self) -> List[Any]:
        """The server's tools as Tools, filtered by `tools` and `exclude_tools`."""
        from llmrun.tools.spec import Tool

        wanted = self.spec.tools
        out = []
        for raw in self.listed:
            name = raw["name"]
            if (wanted is not None and name not in wanted) or name in self.spec.exclude_tools:
                continue
            schema = raw.get("inputSchema")
            if name not in self._sound:  # a session's server serves many runs: once each
                self._check_schema(name, schema)
                self._sound.add(name)
            tool = Tool(name, str(raw.get("description") or raw.get("title") or ""),
                        schema if isinstance(schema, dict) else {"type": "object"},
                        "mcp", self.spec.name, self.spec.timeout, self._confirm(raw),
                        origin=f"MCP server '{self.spec.name}' ({self.spec.where})")
            tool.runner = lambda args, _tool=tool: self.call(_tool, args)
            out.append(tool)
        if wanted is not None:
            missing = sorted(set(wanted) - {raw["name"] for raw in self.listed})
            if missing:
                raise ConfigError(f"MCP server '{self.spec.name}' ({self.spec.where}) has no "
                                  f"tool '{missing[0]}' (it offers: "
                                  f"{', '.join(t['name'] for t in self.listed) or 'none'})")
        return out

    def _check_schema(self, name: str, schema: Any) -> None:
        """A schema that cannot be sent or checked (1e999, a $ref cycle…) stops the run."""
        from llmrun.tools.schemaguard import describe, hazard

        found = hazard(schema) if isinstance(schema, dict) else None
        if found is not None:
            raise ConfigError(f"MCP server '{self.spec.name}' ({self.spec.where}): tool "
                              f"'{name}' has an inputSchema that cannot be used: {found[1]} "
                              f"({describe(found[0])}); leave it out with exclude_tools")

    def _confirm(self, raw: Dict[str, Any]) -> bool:
        """`confirm` from the config, else the annotations: read-only runs, anything that may
        be destructive (the protocol's default) asks."""
        setting = self.spec.confirm
        if isinstance(setting, bool):
            return setting
        if isinstance(setting, list) and raw["name"] in setting:
            return True
        notes = raw.get("annotations") if isinstance(raw.get("annotations"), dict) else {}
        if notes.get("readOnlyHint") is True:
            return False
        return notes.get("destructiveHint") is not False

    def call(self, tool: Any, args: Dict[str, Any]) -> Any:
        from llmrun.tools.runner import ToolResult

        name = tool.name
        try:
            result = self.session.request("tools/call",  # type: ignore[union-attr]
                                          {"name": name, "arguments": args}, self.spec.timeout)
        except TimeoutError:
            return self._noted(ToolResult(f"error: tool '{name}' of MCP server "
                                          f"'{self.spec.name}' timed out after "
                                          f"{self.spec.timeout:g} s; the call was cancelled",
                                          True))
        except ServerGone as exc:
            tail = self.transport.stderr_tail()
            return self._noted(ToolResult(f"error: MCP server '{self.spec.name}' is gone: {exc}"
                                          + (f"\nits stderr (end):\n{tail}" if tail else ""),
                                          True))
        except RpcError as exc:
            return ToolResult(f"error: MCP server '{self.spec.name}' refused the call to "
                              f"'{name}': {exc}", True)
        return self._noted(to_result(result, tool.max_output, name))

    def _noted(self, result: Any) -> Any:
        """A failed call of a confined stdio server says so, with its policy, in one line."""
        if result.is_error and self.spec.command:
            from llmrun.tools.confine import failure_note

            note = failure_note(self.spec)
            result.content += f"\n{note}" if note else ""
        return result

    def stop(self) -> None:
        if self.session is not None:
            self.session.fail_all("the run ended")
        if self.transport is not None:
            self.transport.close()


def to_result(result: Any, cap: int, name: str) -> Any:
    """A tools/call result as the model reads it: text parts joined, structuredContent as
    JSON when there is no text, other parts as short placeholders, isError an error."""
    from llmrun.tools.runner import ToolResult, cut_note_for

    if not isinstance(result, dict):
        return ToolResult(f"error: tool '{name}' answered something that is not a result", True)
    parts = []
    for part in result.get("content") or []:
        if isinstance(part, dict):
            parts.append(_part(part))
    texts = [p for p in parts if p is not None]
    if not any(isinstance(p, dict) and p.get("type") == "text" for p in
               result.get("content") or []) and result.get("structuredContent") is not None:
        texts.insert(0, json.dumps(result["structuredContent"], ensure_ascii=False))
    text = "\n".join(texts)
    data = text.encode("utf-8", "replace")
    if len(data) > cap:
        return ToolResult(data[:cap].decode("utf-8", "ignore") + cut_note_for(name, cap), True)
    return ToolResult(text, result.get("isError") is True)


def _part(part: Dict[str, Any]) -> Optional[str]:
    kind = part.get("type")
    if kind == "text":
        return str(part.get("text", ""))
    if kind in ("image", "audio"):
        size = len(str(part.get("data") or "")) * 3 // 4
        return f"[{part.get('mimeType') or kind}, {_size(size)}]"
    if kind == "resource_link":
        return f"[resource {part.get('uri', '')}]"
    if kind == "resource":
        inner = part.get("resource") if isinstance(part.get("resource"), dict) else {}
        if isinstance(inner.get("text"), str):
            return inner["text"]
        return f"[resource {inner.get('uri', '')}, {inner.get('mimeType') or 'binary'}]"
    return f"[{kind} content]" if kind else None


def _size_of(raw: Dict[str, Any]) -> int:
    """Bytes a tool definition takes in a request (what the list's bound counts)."""
    try:
        return len(json.dumps(raw, ensure_ascii=False).encode("utf-8", "replace"))
    except (TypeError, ValueError, RecursionError):
        return MAX_LIST_BYTES + 1  # not even JSON: past any bound


def _size(n: int) -> str:
    return f"{n} B" if n < 1024 else f"{n / 1024:.0f} KiB" if n < 2**20 else f"{n / 2**20:.1f} MiB"


def _version() -> str:
    from llmrun import __version__

    return __version__


def start_all(specs: List[ServerSpec], show: Optional[Callable[[str], None]] = None,
              meanwhile: Optional[Callable[[], None]] = None) -> List[McpServer]:
    """Start every server at once; one that cannot start stops them all with exit 3, naming
    it and the end of its stderr. `meanwhile` runs once every process is spawned, while they
    start: CPU work there (imports) no longer delays the spawns, and overlaps their start."""
    servers = [McpServer(spec, show) for spec in specs]
    failures: Dict[str, str] = {}

    def start(server: McpServer) -> None:
        try:
            server.start()
        except (ServerGone, RpcError, TimeoutError, OSError) as exc:
            failures[server.spec.name] = str(exc) or type(exc).__name__
        except Exception as exc:  # a bug must not leave the main thread waiting
            failures[server.spec.name] = f"{type(exc).__name__}: {exc}"

    from llmrun.base.context import activate, current

    ctx = current()

    def started(server: McpServer) -> None:
        with activate(ctx):  # the server's process belongs to the run that starts it
            start(server)

    threads = [threading.Thread(target=started, args=(s,), daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    try:
        if meanwhile is not None:
            for server in servers:
                while not server.spawned.wait(0.1):  # wakes for signals and --deadline
                    ctx.check()
            meanwhile()
        for thread in threads:
            while thread.is_alive():
                thread.join(0.1)  # wakes for signals and --deadline
                ctx.check()
    except BaseException:
        stop_all(servers)
        raise
    if failures:
        name = sorted(failures)[0]
        server = next(s for s in servers if s.spec.name == name)
        tail = server.transport.stderr_tail() if server.transport is not None else ""
        stop_all(servers)
        raise ConfigError(f"MCP server '{name}' ({server.spec.where}) could not start: "
                          f"{failures[name]}" + (f"; its stderr ends: {tail[-600:]}" if tail
                                                 else ""))
    return servers


def stop_all(servers: List[McpServer]) -> None:
    """Stop every server, in parallel (each may take a moment to exit)."""
    threads = [threading.Thread(target=s.stop, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

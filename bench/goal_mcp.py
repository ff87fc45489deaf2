"""Goal 6: listing an MCP server's tools costs little more than the server itself.

`llmrun tools list --mcp` against the official SDK's server (tests/mcp_servers/sdk_server.py), next
to a bare 30-line stdio client doing initialize + tools/list against the same server, in the
same run. The server's own start-up (the SDK imports in about a second) dominates both.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from typing import List

from common import HERE, PY, ROOT, Row, interleaved, llmrun_cmd, log, median

#: The SDK is a test dependency of llmrun's environment: the server runs on its interpreter
#: (sys.executable, not PY's real path, whose site-packages lack it).
SERVER = [sys.executable, os.path.join(ROOT, "tests", "mcp_servers", "sdk_server.py"), "stdio"]


def goal6(runs: int) -> List[Row]:
    try:
        import mcp  # noqa: F401  (a test dependency: pip install -e '.[test]')
    except ImportError:
        return [Row("6", "`llmrun tools list --mcp` (skipped: the mcp SDK is not installed)",
                    0.0, None, "", "s", "<= 1.2x", None)]
    folder = tempfile.mkdtemp(prefix="llmrun-bench-mcp-")
    spec = os.path.join(folder, "mcp.json")
    with open(spec, "w") as fh:
        json.dump({"mcpServers": {"sdk": {"command": SERVER[0], "args": SERVER[1:]}}}, fh)
    cmds = {"llmrun": llmrun_cmd() + ["tools", "list", "--mcp", spec],
            "bare": [PY, os.path.join(HERE, "clients", "mcp_bare.py")] + SERVER}
    log(f"goal 6: tools/list of an SDK server over stdio, {runs} runs each")
    got = interleaved(cmds, runs)
    if not got["llmrun"][0].stdout.startswith(b"add"):
        raise RuntimeError(f"llmrun listed {got['llmrun'][0].stdout[:200]!r}")
    wall = {name: median([s.wall for s in got[name]]) for name in cmds}
    ratio = wall["llmrun"] / wall["bare"]
    return [Row("6", "`llmrun tools list --mcp` against the SDK's server, wall, server start-up "
                     "included", wall["llmrun"], wall["bare"],
                "bare 30-line stdio client (initialize + tools/list)", "s", "<= 1.2x",
                ratio <= 1.2)]

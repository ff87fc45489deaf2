"""Goal 8 (issue 21): `llmrun batch` runs many items in one process.

200 items, each one tool step (a call of the `t0` tool of one stdio MCP server, then the
answer), every model answer taking 100 ms at the loopback server, `--concurrency 16`:

- wall time against the ideal, 200 items x 2 answers x 0.1 s / 16 = 2.5 s (target <= 1.2x);
- against the same items as `xargs -P16 llmrun ask …` (one process, one MCP server each),
  in the same run (target: at least 5x faster);
- peak memory (ru_maxrss) against one `llmrun ask` of one item (target: under 2x its peak
  plus 1 MiB per concurrent item).

The MCP server is our small stdio fake (tests/mcp_servers/fake_server.py): it starts in tens of
milliseconds, so the figures are llmrun's own, not the SDK's start-up.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from typing import List

from common import PY, ROOT, Row, clean_env, llmrun_cmd, log, measure, median

sys.path.insert(0, os.path.join(ROOT, "tests"))

ITEMS = 200
CONCURRENCY = 16
ANSWER_S = 0.1
IDEAL = ITEMS * 2 * ANSWER_S / CONCURRENCY


def _responder() -> object:
    """Answers from the request's own messages; headers and body go in one write, as a
    provider's first packet would (two small writes would meet Nagle and delayed ACKs and
    add 40 ms to every answer, which is the test server's, not llmrun's)."""
    from drive import tool_loop
    from server import Reply

    answer = tool_loop("t0", lambda prompt: {"x": prompt})

    def respond(request: object) -> object:
        body = answer(request).body

        def send(h: object) -> None:
            time.sleep(ANSWER_S)  # the model thinking; then the whole answer in one write
            h.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"  # type: ignore
                          b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
            h.wfile.flush()  # type: ignore
        return Reply(action=send)
    return respond


def _files(folder: str) -> "tuple[str, str, str]":
    spec = os.path.join(folder, "mcp.json")
    with open(spec, "w") as fh:
        json.dump({"mcpServers": {"fake": {"command": PY, "args": [
            os.path.join(ROOT, "tests", "mcp_servers", "fake_server.py"), "bench"]}}}, fh)
    items = os.path.join(folder, "items.jsonl")
    prompts = os.path.join(folder, "prompts.txt")
    with open(items, "w") as fh, open(prompts, "w") as plain:
        for n in range(ITEMS):
            fh.write(json.dumps({"id": f"i{n}", "prompt": f"item {n}"}) + "\n")
            plain.write(f"item-{n}\n")
    return spec, items, prompts


def goal9(runs: int) -> List[Row]:
    try:
        from server import TestServer
    except ImportError as exc:  # tests/ not next to bench/
        raise RuntimeError(f"tests/server.py is needed: {exc}") from None
    folder = tempfile.mkdtemp(prefix="llmrun-bench-batch-")
    spec, items, prompts = _files(folder)
    env = clean_env(LLMRUN_API_KEY="sk-bench", LLMRUN_NO_LOG="1")
    with TestServer() as server:
        server.responder = _responder()
        common = ["--base-url", server.url, "-m", "m", "--mcp", spec]
        batch = llmrun_cmd() + ["batch", "-q", "--concurrency", str(CONCURRENCY), *common,
                                "-o", os.path.join(folder, "out.jsonl"), items]
        log(f"goal 9: {ITEMS} items at --concurrency {CONCURRENCY}, {runs} runs")
        load = os.getloadavg()[0]  # before our own runs: how busy the machine was
        got = [measure(batch, env=env, cwd=folder) for _ in range(runs)]
        _check(os.path.join(folder, "out.jsonl"))
        one = [measure(llmrun_cmd() + ["ask", "--json", "--no-stdin", *common, "item 0"],
                       env=env, cwd=folder) for _ in range(runs)]
        log(f"goal 9: the same {ITEMS} items as xargs -P{CONCURRENCY} llmrun ask (once)")
        xargs = measure(["sh", "-c", f"xargs -P{CONCURRENCY} -I@ "
                         + " ".join(f"'{w}'" for w in llmrun_cmd())
                         + f" ask --json --no-stdin {' '.join(common)} @ < {prompts} > /dev/null"],
                        env=env, cwd=folder)
    wall, cpu = median([s.wall for s in got]), median([s.cpu for s in got])
    peak, single = median([s.maxrss_mb for s in got]), median([s.maxrss_mb for s in one])
    bound = 2 * single + CONCURRENCY * 1.048576
    return [
        Row("9", f"`llmrun batch`, {ITEMS} items x one tool step (stdio MCP), 100 ms per answer, "
                 f"--concurrency {CONCURRENCY}, wall", wall, IDEAL,
            f"ideal: {ITEMS} x 2 x 0.1 s / {CONCURRENCY}", "s", "<= 1.2x", wall <= 1.2 * IDEAL),
        Row("9", f"the same items as `xargs -P{CONCURRENCY} llmrun ask …` (a process and an MCP "
                 "server each)", wall, xargs.wall, "xargs", "s", "<= 0.2x",
            wall <= 0.2 * xargs.wall),
        Row("9", f"`llmrun batch` CPU time (user+sys) for the {ITEMS} items, for scale "
                 f"(load average {load:.1f} on {os.cpu_count()} cores before the runs)", cpu,
            None, "", "s", "", None),
        Row("9", "`llmrun batch` peak memory (ru_maxrss), against one `llmrun ask` of one item",
            peak, single, "one ask", "MB", f"< 2x + {CONCURRENCY} MiB ({bound:.1f} MB)",
            peak < bound),
    ]


def _check(path: str) -> None:
    with open(path) as fh:
        lines = [json.loads(line) for line in fh]
    ok = [o for o in lines if o["exit_code"] == 0 and o["tool_calls"]]
    if len(lines) != ITEMS or len(ok) != ITEMS:
        raise RuntimeError(f"the batch answered {len(ok)} of {ITEMS} items")

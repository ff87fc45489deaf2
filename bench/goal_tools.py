"""Goal 5: tool calls. Parallel calls overlap; a tool starts with one fork/exec, no shell.

Both are measured end to end through the CLI: a generated cassette asks for the tools and
the real tool processes run. `bench/bench_tools.py` (the tools issue's own benchmark) is run
too when it exists, and its figure shown.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import tempfile
import time
from typing import Any, Dict, List, Optional

from common import HERE, PY, ROOT, Row, clean_env, llmrun_cmd, log, measure, median

PPID_TOOL = ("import os; p = os.getppid(); "
             "print(p, open(f'/proc/{p}/cmdline', 'rb').read().split(b'\\0')[0].decode())")


def _sse(*chunks: Dict[str, Any]) -> str:
    return "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"


def _delta(delta: Dict[str, Any], finish: Optional[str] = None) -> Dict[str, Any]:
    return {"id": "b", "object": "chat.completion.chunk", "model": "bench-model",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


def cassette(calls: List[str]) -> Dict[str, Any]:
    """Two interactions: the model calls each tool in `calls` at once, then answers."""
    tool_calls = [{"index": i, "id": f"call_{i}", "type": "function",
                   "function": {"name": name, "arguments": "{}"}}
                  for i, name in enumerate(calls)]
    first = _sse(_delta({"role": "assistant", "tool_calls": tool_calls}),
                 _delta({}, "tool_calls"))
    second = _sse(_delta({"content": "done"}), _delta({}, "stop"))
    return {"version": 2, "interactions": [_interaction(i, body)
                                           for i, body in enumerate((first, second))]}


def _interaction(number: int, body: str) -> Dict[str, Any]:
    request = {"model": "bench-model", "messages": [], "stream": True}
    return {"id": number,
            "request": {"method": "POST", "url": "http://127.0.0.1:9/v1/chat/completions",
                        "body": json.dumps(request), "headers": {}},
            "response": {"status": "200 OK", "code": 200, "body": body,
                         "headers": {"Content-Type": ["text/event-stream"]}}}


def _tool(folder: str, name: str, argv: List[str]) -> None:
    spec = {"name": name, "description": "bench tool",
            "parameters": {"type": "object", "properties": {}}, "command": argv}
    with open(os.path.join(folder, name + ".yaml"), "w") as fh:
        json.dump(spec, fh)  # JSON is YAML


def _replay(folder: str, calls: List[str]) -> List[str]:
    path = os.path.join(folder, "c-" + "-".join(calls) + ".yaml")
    with open(path, "w") as fh:
        json.dump(cassette(calls), fh)
    return llmrun_cmd() + ["ask", "--replay", path, "-t", os.path.join(folder, "tools"),
                           "--json", "--no-stdin", "-q", "go"]


def goal5(runs: int) -> List[Row]:
    log(f"goal 5: tools, {runs} runs")
    folder = tempfile.mkdtemp(prefix="llmrun-bench-tools-")
    tools = os.path.join(folder, "tools")
    os.mkdir(tools)
    _tool(tools, "nap", ["sleep", "1"])
    _tool(tools, "noop", ["true"])
    _tool(tools, "parent", [PY, "-c", PPID_TOOL])
    naps = [measure(_replay(folder, ["nap", "nap"])).wall for _ in range(max(2, runs // 2))]
    noops = [measure(_replay(folder, ["noop", "noop"])).wall for _ in range(runs)]
    extra = median(naps) - median(noops)
    rows = [Row("5", "two parallel 1 s tool calls: wall time they add to a run", extra, 2.0,
                "the two run one after the other", "s", "< 1.6 s", extra < 1.6)]
    rows += _bench_tools()
    rows += _start_up(folder, runs)
    return rows


def _start_up(folder: str, runs: int) -> List[Row]:
    unconfined = _replay(folder, ["parent"])  # the sandbox's supervisor is goal 7's
    proc = subprocess.Popen(unconfined[:-1] + ["--no-sandbox", "go"], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=clean_env(), cwd=ROOT)
    out, _ = proc.communicate()
    result = json.loads(out)["tool_calls"][0]["result"].split()
    direct = result[0] == str(proc.pid)
    parent = os.path.basename(result[1]) if len(result) > 1 else "?"
    rows = [Row("5", "processes between llmrun and an unconfined `command` tool (parent: "
                     f"{'llmrun itself' if direct else parent})", 0.0 if direct else 1.0,
                None, "", "", "0: one fork/exec, no shell", direct)]
    ours = []
    for _ in range(runs):
        sample = json.loads(measure(_replay(folder, ["noop"])[:-1] + ["--no-sandbox", "go"])
                            .stdout)
        ours.append(sample["tool_calls"][0]["duration_s"])
    bare = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(["true"], stdin=subprocess.DEVNULL, capture_output=True)
        bare.append(time.perf_counter() - start)
    rows.append(Row("5", "tool start-up and run of `true`, unconfined, as llmrun reports it",
                    median(ours) * 1000, median(bare) * 1000, "`subprocess.run(['true'])`",
                    "ms", "", None))
    return rows


def _bench_tools() -> List[Row]:
    path = os.path.join(HERE, "bench_tools.py")
    if not os.path.exists(path):
        return []
    done = subprocess.run([PY, path], capture_output=True, text=True, env=clean_env(),
                          cwd=ROOT, timeout=120)
    text = (done.stdout + done.stderr).strip()
    found = re.search(r"(\d+\.\d+)\s*s", text)
    if done.returncode != 0 or not found:
        return [Row("5", f"`bench/bench_tools.py` failed: {text[-120:]!r}", 0.0, None, "", "",
                    "", False)]
    wall = float(found.group(1))
    return [Row("5", "the same through `Toolbox.run_calls` (`bench/bench_tools.py`, the tools "
                     "issue's own figure)", wall, 2.0, "one after the other", "s", "< 1.6 s",
                wall < 1.6)]

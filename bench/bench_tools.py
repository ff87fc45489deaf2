"""Wall time of two 1 s tool calls made in one step (they run in parallel, so about 1 s).

    python bench/bench_tools.py          # the one figure, on one line
    python bench/bench_tools.py --more   # also per-call overheads and the 10 MB output cap

The calls go through `Toolbox.run_calls`, the code `llmrun ask` uses for a step's calls,
with real tool processes (`sleep 1`, a command tool: one fork/exec, no shell).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from types import SimpleNamespace
from typing import Callable, List

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from llmrun.tools.runner import Toolbox  # noqa: E402
from llmrun.tools.spec import load_file  # noqa: E402

TOOLS = f"""
tools:
  - {{name: nap, description: sleeps 1 s, command: [sleep, "1"]}}
  - {{name: noop, description: does nothing, command: ["true"]}}
  - {{name: shell_noop, description: does nothing in sh, shell: ":"}}
  - {{name: py_noop, description: does nothing in Python, python: "bench_tools_impl:noop"}}
  - name: flood
    description: 10 MB of output
    command: [{json.dumps(sys.executable)}, -c, "import sys; sys.stdout.write('x' * 10_000_000)"]
"""


def toolbox() -> Toolbox:
    folder = tempfile.mkdtemp(prefix="llmrun-bench-tools-")
    with open(os.path.join(folder, "tools.yaml"), "w") as fh:
        fh.write(TOOLS)
    with open(os.path.join(folder, "bench_tools_impl.py"), "w") as fh:
        fh.write("def noop():\n    return 'ok'\n")
    return Toolbox(load_file(os.path.join(folder, "tools.yaml")))


def calls(*names: str) -> List[SimpleNamespace]:
    return [SimpleNamespace(id=f"c{i}", name=n, arguments="{}") for i, n in enumerate(names)]


def timed(action: Callable[[], object], runs: int) -> float:
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def more(box: Toolbox) -> None:
    for name in ("noop", "shell_noop", "py_noop"):
        per_call = timed(lambda: box.run_calls(calls(name)), 30)
        print(f"  one `{name}` call, start to result: {per_call * 1000:.2f} ms (median of 30)")
    tracemalloc.start()
    cut = timed(lambda: box.run_calls(calls("flood")), 3)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"  a tool writing 10 MB, cut at 64 KiB: {cut * 1000:.0f} ms, "
          f"peak Python memory {peak / 1024:.0f} KiB")


def main() -> None:
    box = toolbox()
    if "--more" in sys.argv:
        more(box)
    results = box.run_calls(calls("nap", "nap"))
    assert not any(r.is_error for r in results), [r.content for r in results]
    wall = timed(lambda: box.run_calls(calls("nap", "nap")), 5)
    print(f"two 1 s tool calls in one step: {wall:.3f} s wall (median of 5; one after the "
          "other would take 2 s)")


if __name__ == "__main__":
    main()

"""What the issue-22 defences cost, and what they save.

    python bench/bench_hostile.py                      # this tree
    BENCH_LLMRUN_SRC=/path/to/old/checkout python bench/bench_hostile.py   # another tree

- merging N `reasoning_details` fragments that each open a new block (a hostile server), and
  N fragments of one block (an honest one): CPU seconds in the accumulator;
- a check of tool arguments against a schema with a `pattern`: the first one (it starts the
  checking worker) and the next ones, beside the same check in-process with jsonschema.
"""

from __future__ import annotations

import os
import statistics
import sys
import time

ROOT = os.environ.get("BENCH_LLMRUN_SRC") or os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from llmrun.loop.accumulator import StepAccumulator  # noqa: E402


def merge_seconds(n: int, new_blocks: bool) -> float:
    chunks = [{"choices": [{"index": 0, "delta": {"reasoning_details": [
        {"type": "reasoning.text", "text": "t", "index": i if new_blocks else 0}]}}]}
        for i in range(n)]
    acc = StepAccumulator()
    start = time.process_time()
    for chunk in chunks:
        acc.add(chunk)
    acc.finish()
    return time.process_time() - start


def pattern_checks() -> None:
    try:
        from llmrun.tools.checker import problems, stop_worker
    except ImportError:
        print("pattern checks: this tree checks patterns in-process (no worker)")
        return
    from jsonschema.validators import Draft202012Validator

    schema = {"type": "object", "properties": {"to": {
        "type": "string", "pattern": r"^\w+([.-]?\w+)*@\w+([.-]?\w+)*(\.\w{2,3})+$"}}}
    value = {"to": "ann.smith@example.org"}
    stop_worker()
    start = time.perf_counter()
    problems(schema, value)
    first = time.perf_counter() - start
    times = []
    for _ in range(200):
        start = time.perf_counter()
        problems(schema, value)
        times.append(time.perf_counter() - start)
    validator = Draft202012Validator(schema)
    local = []
    for _ in range(200):
        start = time.perf_counter()
        list(validator.iter_errors(value))
        local.append(time.perf_counter() - start)
    stop_worker()
    print(f"pattern check in the worker: first {first * 1000:.1f} ms (starts it), then "
          f"{statistics.median(times) * 1e6:.0f} µs; in-process jsonschema "
          f"{statistics.median(local) * 1e6:.0f} µs")


def main() -> None:
    print(f"tree: {ROOT}")
    for n in (10_000, 20_000, 40_000):
        hostile = merge_seconds(n, True)
        honest = merge_seconds(n, False)
        print(f"{n:>6} detail fragments: each a new block {hostile:.3f} s CPU, "
              f"one block {honest:.3f} s CPU")
    pattern_checks()


if __name__ == "__main__":
    main()

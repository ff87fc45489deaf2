"""Goal 8: the sandbox's cost. The replayed one-tool ask with the sandbox on costs at most
1.1x the same with --no-sandbox (wall, whole process), and a confined `command` tool call
adds at most 20 ms (the call's duration as llmrun reports it, on minus off). Measured side by
side, alternating, with the same cassette and the same `true` tool."""

from __future__ import annotations

import json
import os
import tempfile
from typing import List

from common import Row, log, measure, median
from goal_tools import _delta, _interaction, _replay, _sse, _tool


def _two_steps(folder: str) -> List[str]:
    """A replay where the model calls `noop`, then `noop` again, then answers: the second
    call is a steady-state one (the fork server started while the config was read)."""
    def call(i: int) -> str:
        return _sse(_delta({"role": "assistant", "tool_calls": [
            {"index": 0, "id": f"call_{i}", "type": "function",
             "function": {"name": "noop", "arguments": "{}"}}]}), _delta({}, "tool_calls"))

    bodies = [call(0), call(1), _sse(_delta({"content": "done"}), _delta({}, "stop"))]
    path = os.path.join(folder, "c-two-steps.yaml")
    with open(path, "w") as fh:
        json.dump({"version": 2, "interactions": [_interaction(i, b)
                                                  for i, b in enumerate(bodies)]}, fh)
    from goal_tools import llmrun_cmd

    return llmrun_cmd() + ["ask", "--replay", path, "-t", os.path.join(folder, "tools"),
                           "--json", "--no-stdin", "-q", "go"]


def goal8(runs: int) -> List[Row]:
    log(f"goal 8: the sandbox, {runs} runs")
    folder = tempfile.mkdtemp(prefix="llmrun-bench-sandbox-")
    os.mkdir(os.path.join(folder, "tools"))
    _tool(os.path.join(folder, "tools"), "noop", ["true"])
    command = _replay(folder, ["noop"])
    walls = {"on": [], "off": []}
    calls = {"on": [], "off": []}
    many = max(runs * 4, 20)  # a 10% target: ten runs of each can barely tell it from noise
    for _ in range(many):
        for mode, extra in (("on", []), ("off", ["--no-sandbox"])):
            sample = measure(command[:-1] + extra + command[-1:])
            walls[mode].append(sample.wall)
            calls[mode].append(json.loads(sample.stdout)["tool_calls"][0]["duration_s"])
    second = {"on": [], "off": []}
    two = _two_steps(folder)
    for _ in range(max(runs, 5) * 2):
        for mode, extra in (("on", []), ("off", ["--no-sandbox"])):
            sample = json.loads(measure(two[:-1] + extra + two[-1:]).stdout)
            second[mode].append(sample["tool_calls"][1]["duration_s"])
    on, off = median(walls["on"]), median(walls["off"])
    added = (median(calls["on"]) - median(calls["off"])) * 1000
    steady = (median(second["on"]) - median(second["off"])) * 1000
    return [Row("8", "replayed one-tool ask (`true` as a `command` tool), sandbox on, wall",
                on, off, "the same with `--no-sandbox`", "s", "<= 1.1x", on <= 1.1 * off),
            Row("8", "time a confined `command` tool call adds, a run's first call (its "
                     "duration, on minus off)", added, None,
                f"unconfined call: {median(calls['off']) * 1000:.2f} ms", "ms", "", None),
            Row("8", "time a confined `command` tool call adds, the run's second call (the "
                     "fork server is up: a fork, the Landlock rules, the tool)", steady, None,
                f"unconfined call: {median(second['off']) * 1000:.2f} ms", "ms", "<= 20 ms",
                steady <= 20)]

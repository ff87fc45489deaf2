"""Goals 1 and 2: start-up. Wall time of whole processes, medians, references in the same run."""

from __future__ import annotations

import glob
import json
import os
import subprocess
from typing import List

from common import PY, ROOT, Row, clean_env, interleaved, llmrun_cmd, log, median

#: The one-tool recording (its name has changed once: found by pattern).
CASSETTE = os.path.relpath((glob.glob(os.path.join(ROOT, "samples", "openrouter-gpt-5.4-nano*.yaml"))
                            or ["samples/openrouter-gpt-5.4-nano-weather.yaml"])[0], ROOT)
REPLAY = ["ask", "--replay", CASSETTE, "-t", "samples/tools",
          "What's the weather in Florence,Italy?"]
HEAVY = "import requests, click, yaml, colorama"
#: Modules that `--version`/`--help` must never import (network and YAML stacks).
FORBIDDEN = ("requests", "urllib3", "yaml", "jsonschema", "http.client", "ssl")


def goal1(runs: int) -> List[Row]:
    llmrun = llmrun_cmd()
    cmds = {"pass": [PY, "-c", "pass"], "click": [PY, "-c", "import click"],
            "version": llmrun + ["--version"], "help": llmrun + ["--help"],
            "ask-help": llmrun + ["ask", "--help"], "m-version": [PY, "-m", "llmrun", "--version"],
            "import": [PY, "-c", "import llmrun"]}
    log(f"goal 1: start-up, {runs} runs of each command")
    got = interleaved(cmds, runs)
    wall = {name: median([s.wall for s in got[name]]) for name in cmds}
    rows = []
    for name, label in (("version", "`llmrun --version`"), ("help", "`llmrun --help`"),
                        ("ask-help", "`llmrun ask --help`"),
                        ("m-version", "`python -m llmrun --version`"),
                        ("import", "`import llmrun` (the Python API)")):
        ratio = wall[name] / wall["click"]
        rows.append(Row("1", f"{label}, wall", wall[name], wall["click"], "`import click`",
                        "s", "<= 3x", ratio <= 3))
    rows.append(Row("1", "`python -c pass`, wall (the floor, for scale)", wall["pass"], None,
                    "", "s", "", None))
    leaked = forbidden_imports()
    rows.append(Row("1", "network/YAML modules imported by `--version`, `--help` "
                         f"({', '.join(leaked) or 'none'})", float(len(leaked)), None, "", "",
                    "0", not leaked))
    return rows


def forbidden_imports() -> List[str]:
    """Which of FORBIDDEN the --version and --help paths import (the test checks this too)."""
    probe = ("import sys; from llmrun.cli.main import main; sys.argv = ['llmrun', sys.argv[1]]\n"
             "try:\n    main()\nexcept SystemExit:\n    pass\n"
             f"print(' '.join(m for m in {FORBIDDEN!r} if m in sys.modules), file=sys.stderr)")
    found = set()
    for flag in ("--version", "--help"):
        done = subprocess.run([PY, "-c", probe, flag], capture_output=True, text=True,
                              env=clean_env(), cwd=ROOT)
        found.update(done.stderr.split())
    return sorted(found)


def goal2(runs: int) -> List[Row]:
    import tempfile

    llmrun = llmrun_cmd()
    folder = tempfile.mkdtemp(prefix="llmrun-bench-py-")
    _python_weather(folder)
    python_replay = [a if a != "samples/tools" else folder for a in REPLAY]
    cmds = {"heavy": [PY, "-c", HEAVY], "replay": llmrun + REPLAY,
            "python": llmrun + python_replay}
    log(f"goal 2: cassette replay with its tool (command, then Python), {runs} runs")
    got = interleaved(cmds, runs)
    for name in ("replay", "python"):
        answer = got[name][0].stdout.decode().strip()
        if "40" not in answer:
            raise RuntimeError(f"replay gave an unexpected answer: {answer!r}")
    wall = {name: median([s.wall for s in got[name]]) for name in cmds}
    ratio = wall["replay"] / wall["heavy"]
    py_ratio = wall["python"] / wall["replay"]
    return [Row("2", f"`llmrun ask --replay {os.path.basename(CASSETTE)} -t samples/tools`, wall, "
                     "tool process included", wall["replay"], wall["heavy"],
                f"`{HEAVY}`", "s", "<= 1.5x", ratio <= 1.5),
            Row("2", "the same replay with the tool as a `python:` function (its own worker "
                     "process)", wall["python"], wall["replay"], "the `command` tool replay",
                "s", "<= 1.3x", py_ratio <= 1.3)]


def _python_weather(folder: str) -> None:
    """samples/tools' weather tool, written as a Python function."""
    with open(os.path.join(folder, "weather_py.py"), "w") as fh:
        fh.write("def weather(location):\n    return '40 C'\n")
    with open(os.path.join(folder, "weather.yaml"), "w") as fh:
        fh.write("name: weather\ndescription: Get weather information for a location\n"
                 "parameters:\n  type: object\n  properties:\n"
                 "    location: {type: string, description: the city}\n"
                 "  required: [location]\npython: weather_py:weather\n")


def replay_imports() -> List[str]:
    """The heaviest imports of the replay path, for the notes (python -X importtime)."""
    llmrun = llmrun_cmd()
    script = llmrun[1:] if llmrun[0] == PY else llmrun
    done = subprocess.run([PY, "-X", "importtime"] + script + REPLAY, capture_output=True,
                          text=True, env=clean_env(), cwd=ROOT)
    rows = []
    for line in done.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[1].strip().isdigit():
            rows.append((int(parts[1]), parts[2].rstrip()))
    top = [f"{us / 1000:6.1f} ms {name}" for us, name in sorted(rows, reverse=True)[:12]]
    return top


if __name__ == "__main__":
    for row in goal1(5) + goal2(5):
        print(json.dumps(row.__dict__))
    print("\n".join(replay_imports()))

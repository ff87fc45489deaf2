"""llmrun's performance bench: `python bench/run.py` (a few minutes on 2 cores).

It starts its own loopback server, measures llmrun and a reference for each goal of the
performance issue in the same run, and prints one table (goal, llmrun's figure, the
reference, the ratio, the target). `--write` also puts the table in bench/RESULTS.md.
The openai SDK is installed for the bench only, into bench/.venv; `--no-openai` skips it.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import time
from typing import Any, List, Optional

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import HERE, PY, Row, llmrun_cmd, log, table  # noqa: E402


def start_server() -> "tuple[subprocess.Popen, int]":
    server = subprocess.Popen([PY, os.path.join(HERE, "sse_server.py")], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE)
    line = server.stdout.readline()
    if not line.strip().isdigit():
        server.kill()
        raise SystemExit("bench: the loopback server did not start")
    return server, int(line)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            names = [line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return (f"{platform.system()} {platform.release()}, {os.cpu_count()} cores ({cpu}), "
            f"Python {platform.python_version()}")


def versions() -> str:
    """What llmrun runs with: the packages of its environment (sys.executable's, the venv;
    PY is the real interpreter behind it, which sees the base installation's)."""
    done = subprocess.run([sys.executable, "-c", "import requests, urllib3, click, yaml; print("
                           "f'requests {requests.__version__}, urllib3 {urllib3.__version__}, "
                           "click {click.__version__}, PyYAML {yaml.__version__}')"],
                          capture_output=True, text=True)
    return done.stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per measurement (median)")
    parser.add_argument("--quick", action="store_true", help="fewer runs, no openai SDK")
    parser.add_argument("--no-openai", action="store_true", help="skip the openai SDK column")
    parser.add_argument("--only", default="123456789", help="goals to run, e.g. 34")
    parser.add_argument("--write", action="store_true", help="update bench/RESULTS.md")
    args = parser.parse_args()
    runs = 2 if args.quick else args.runs
    openai_python = None
    if "3" in args.only and not (args.quick or args.no_openai):
        from openai_env import openai_python as find_openai

        openai_python = find_openai()
    # every folder the bench makes, and its children's TMPDIR, in one folder removed at the
    # end: a TMPDIR that fills up run after run makes the sandbox's plans (and goal 8) grow
    import shutil
    import tempfile

    work = tempfile.mkdtemp(prefix="llmrun-bench-run-")
    os.environ["TMPDIR"] = tempfile.tempdir = work
    try:
        return _measure(args, runs, openai_python)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _measure(args: Any, runs: int, openai_python: Any) -> int:
    import goal_batch
    import goal_latency
    import goal_mcp
    import goal_runlog
    import goal_sandbox
    import goal_startup
    import goal_stream
    import goal_tools

    started = time.monotonic()
    server, port = start_server()
    rows: List[Row] = []
    goals = {"1": lambda: goal_startup.goal1(runs * 3),
             "2": lambda: goal_startup.goal2(runs * 2),
             "3": lambda: goal_stream.goal3(port, runs, openai_python, 1 if args.quick else 3),
             "4": lambda: goal_latency.goal4(port, runs),
             "5": lambda: goal_tools.goal5(runs),
             "6": lambda: goal_mcp.goal6(runs),
             "7": lambda: goal_runlog.goal7(runs),
             "8": lambda: goal_sandbox.goal8(runs),
             "9": lambda: goal_batch.goal9(runs)}
    try:
        for goal, measure_goal in goals.items():
            if goal not in args.only:
                continue
            try:
                rows += measure_goal()
            except Exception as exc:  # one broken goal still leaves the others' figures
                log(f"goal {goal} failed: {type(exc).__name__}: {exc}")
                rows.append(Row(goal, f"could not be measured: {str(exc)[:120]}", 0.0, None,
                                "", "", "", False))
    finally:
        server.stdin.close()
        server.wait(timeout=10)
    text = table(rows)
    print(text)
    took = time.monotonic() - started
    log(f"done in {took:.0f} s; llmrun ran as {' '.join(llmrun_cmd())}")
    if args.write:
        write_results(text, runs, took, openai_python)
    missed = [r for r in rows if r.ok is False]
    return 1 if missed else 0


def openai_version(python: Optional[str]) -> str:
    if not python:
        return "openai SDK not measured"
    done = subprocess.run([python, "-c", "import openai; print(openai.__version__)"],
                          capture_output=True, text=True)
    return f"openai SDK {done.stdout.strip()} (in bench/.venv)"


def write_results(text: str, runs: int, took: float, openai_python: Optional[str]) -> None:
    now = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    notes = "\n".join(f"    {line}" for line in goal_startup_imports())
    with open(os.path.join(HERE, "RESULTS.md"), "w") as fh:
        fh.write(f"# Bench results\n\nLatest run of `python bench/run.py --write`: {now}, "
                 f"{took:.0f} s in all. Medians of {runs * 3} runs (start-up), {runs * 2} "
                 f"(replay), {runs} (streams; openai SDK 3), {runs} x 30 events (latency), "
                 f"{runs} (tools) and {runs} (batch).\n\n"
                 f"Machine: {machine()}; {versions()}; {openai_version(openai_python)}."
                 f"\n\n{text}\n\n"
                 "Ratios are llmrun / reference, both measured in this run. Start-up figures "
                 "are wall times of whole processes; stream figures are the CPU time (user+sys) "
                 "and ru_maxrss of the client process alone, from wait4.\n\n"
                 "Heaviest imports of the replay path (`python -X importtime`, cumulative):\n\n"
                 f"{notes}\n")
    log("wrote bench/RESULTS.md")


def goal_startup_imports() -> List[str]:
    import goal_startup

    return goal_startup.replay_imports()


if __name__ == "__main__":
    sys.exit(main())

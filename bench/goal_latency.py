"""Goal 4: added latency. How long after the server sent an event its text is on stdout.

The server sends N events GAP ms apart, each carrying the CLOCK_MONOTONIC time it was sent
(`<i@seconds>`; the clock is system-wide, so it compares across processes). The bench reads
the client's stdout through a pipe and timestamps each read. The figure is the worst delay
of a run (every delta must make it), median over runs; the loopback and pipe hops are in it,
so it is an upper bound on what llmrun adds.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from typing import List, Tuple

from common import HERE, PY, ROOT, Row, clean_env, llmrun_cmd, log, median

EVENTS = 30
GAP_MS = 25
MARK = re.compile(rb"<(\d+)@([0-9.]+)>")
TARGET_MS = 5.0


def delays(cmd: List[str]) -> List[float]:
    """Run `cmd`, read its stdout as it comes, return each marker's delay in ms."""
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, env=clean_env(), cwd=ROOT)
    fd = proc.stdout.fileno()
    buf = b""
    seen: List[Tuple[int, float]] = []
    pos = 0
    while True:
        data = os.read(fd, 65536)
        now = time.monotonic()
        if not data:
            break
        buf += data
        for match in MARK.finditer(buf, pos):
            seen.append((int(match.group(1)), (now - float(match.group(2))) * 1000))
            pos = match.end()
    proc.wait()
    proc.stdout.close()
    return [ms for _, ms in seen] if len(seen) == EVENTS else [float("inf")]


def _worst(cmd: List[str], runs: int) -> Tuple[float, float]:
    """Median over runs of the worst delay, and the median delay of all events."""
    worst, every = [], []
    for _ in range(runs):
        got = delays(cmd)
        worst.append(max(got))
        every.extend(got)
    return median(worst), median(every)


def goal4(port: int, runs: int) -> List[Row]:
    log(f"goal 4: latency, {EVENTS} events {GAP_MS} ms apart, {runs} runs per client and mode")
    rows = []
    for mode, label in (("chunked", "chunked response"),
                        ("close", "no length, no chunking, open between events")):
        base = f"http://127.0.0.1:{port}/gaps/{mode}/{EVENTS}/{GAP_MS}/v1"
        llm_worst, llm_typical = _worst(llmrun_cmd() + [
            "ask", "--base-url", base, "-m", "bench-model", "--stream", "--no-stdin", "-q",
            "hi"], runs)
        bare_worst, _ = _worst([PY, os.path.join(HERE, "clients", "bare_loop.py"),
                                base + "/chat/completions", "--print"], runs)
        rows.append(Row("4", f"`--stream`, {label}: worst delay event → stdout "
                             f"(typical {llm_typical:.2f} ms)", llm_worst, bare_worst,
                        "naive `iter_lines` loop", "ms", f"<= {TARGET_MS:g} ms",
                        llm_worst <= TARGET_MS))
    return rows

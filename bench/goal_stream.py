"""Goal 3: CPU and peak memory to consume a 100,000-chunk stream over loopback.

Each client is a fresh process reading the same stream from the bench server; CPU is its
user+sys time and memory its ru_maxrss, both from wait4 (the server's work is not counted).
"""

from __future__ import annotations

import json
import os
from typing import Dict, List, Optional

from common import HERE, PY, Row, Sample, clean_env, llmrun_cmd, log, measure, median

CHUNKS = 100_000
EXPECTED = len("".join(f"w{i % 1000} " for i in range(CHUNKS)))


def _check(name: str, sample: Sample, length: int) -> None:
    if length != EXPECTED:
        raise RuntimeError(f"{name} read {length} characters of the answer, not {EXPECTED}")


def _llmrun(base: str, *flags: str) -> Sample:
    sample = measure(llmrun_cmd() + ["ask", "--base-url", base, "-m", "bench-model",
                                     "--no-stdin", "-q", *flags, "hi"])
    if "--json" in flags:
        _check("llmrun", sample, len(json.loads(sample.stdout)["answer"]))
    elif "--events" in flags:
        lines = sample.stdout.decode().splitlines()
        texts = [json.loads(line) for line in lines]
        _check("llmrun --events", sample,
               len("".join(e["text"] for e in texts if e["type"] == "text")))
    else:
        _check("llmrun --stream", sample, len(sample.stdout.decode()) - 1)  # final newline
    return sample


def _bare(base: str) -> Sample:
    sample = measure([PY, os.path.join(HERE, "clients", "bare_loop.py"),
                      base + "/chat/completions"])
    _check("bare loop", sample, int(sample.stdout))
    return sample


def _openai(python: str, base: str) -> Sample:
    sample = measure([python, os.path.join(HERE, "clients", "openai_stream.py"), base],
                     env=clean_env(OPENAI_API_KEY="bench"))
    _check("openai SDK", sample, int(sample.stdout))
    return sample


def goal3(port: int, runs: int, openai_python: Optional[str], openai_runs: int) -> List[Row]:
    base = f"http://127.0.0.1:{port}/big/{CHUNKS}/v1"
    log(f"goal 3: {CHUNKS:,}-chunk stream, {runs} runs each (openai SDK: "
        f"{openai_runs if openai_python else 0})")
    got: Dict[str, List[Sample]] = {"llmrun": [], "stream": [], "events": [], "bare": [],
                                    "openai": []}
    _llmrun(base, "--json")  # warm-up, not counted
    _bare(base)
    for _ in range(runs):
        got["bare"].append(_bare(base))
        got["llmrun"].append(_llmrun(base, "--json"))
        got["stream"].append(_llmrun(base, "--stream"))
        got["events"].append(_llmrun(base, "--events"))
    if openai_python:
        got["openai"] = [_openai(openai_python, base) for _ in range(openai_runs)]
    cpu = {k: median([s.cpu for s in v]) for k, v in got.items() if v}
    rss = {k: median([s.maxrss_mb for s in v]) for k, v in got.items() if v}
    rows = [Row("3", f"`llmrun ask --json`, CPU (user+sys) for {CHUNKS:,} chunks",
                cpu["llmrun"], cpu["bare"], "bare `iter_lines` + `json.loads`", "s", "<= 1.5x",
                cpu["llmrun"] <= 1.5 * cpu["bare"])]
    if "openai" in cpu:
        rows.append(Row("3", "the same, against the openai SDK", cpu["llmrun"], cpu["openai"],
                        "openai SDK", "s", "<= 0.1x", cpu["llmrun"] <= 0.1 * cpu["openai"]))
    else:
        rows.append(Row("3", "the same, against the openai SDK (skipped: --quick, --no-openai or no install)",
                        cpu["llmrun"], None, "openai SDK", "s", "<= 0.1x", None))
    rows.append(Row("3", "`llmrun ask --json`, peak memory (ru_maxrss)", rss["llmrun"],
                    rss["bare"], "bare loop", "MB", "<= 1.5x",
                    rss["llmrun"] <= 1.5 * rss["bare"]))
    if "openai" in rss:
        rows.append(Row("3", "peak memory, against the openai SDK", rss["llmrun"],
                        rss["openai"], "openai SDK", "MB", "", None))
    rows.append(Row("3", "`llmrun ask --stream` to a file, CPU (text written as it comes, one flush per read)",
                    cpu["stream"], cpu["bare"], "bare loop", "s", "", None))
    rows.append(Row("3", f"`llmrun ask --events`, CPU for {CHUNKS:,} chunks (a JSON line per "
                         "delta)", cpu["events"], cpu["bare"], "bare loop", "s", "<= 2x",
                    cpu["events"] <= 2 * cpu["bare"]))
    return rows

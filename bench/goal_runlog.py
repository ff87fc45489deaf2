"""Goal 7, the run log: logging costs a replayed one-tool ask at most 5% (side by side with
--no-log), and `llmrun log -n 20` and `llmrun log cost --since 30d --by day` answer within
0.3 s on a log of 100,000 runs.

The big log is generated, not recorded: `generate()` writes 100,000 runs spread evenly over
the last 365 days (so 30 days hold about 8,200), each with 1 to 3 steps and 0 to 2 tool
calls, prompts of 80 to 400 characters, answers of 200 to 1,200, a transcript of the
messages, and the full-text rows — through the log's own schema (llmrun.runlog.schema), in
one transaction, with a fixed random seed.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import tempfile
import time
from typing import List

from common import PY, ROOT, Row, clean_env, interleaved, llmrun_cmd, log, median

RUNS = 100_000
WORDS = ("weather report for the folder and its files with the summary of last night's "
         "build that failed on the second step because the tool returned an error").split()


def _text(rng: random.Random, low: int, high: int) -> str:
    size = rng.randint(low, high)
    out: List[str] = []
    while sum(len(w) + 1 for w in out) < size:
        out.append(rng.choice(WORDS))
    return " ".join(out)


def generate(path: str, runs: int = RUNS, seed: int = 7) -> None:
    """A log of `runs` runs over the last year (see the module's docstring)."""
    import sqlite3

    from llmrun.runlog import schema
    from llmrun.runlog.ids import new_id
    from llmrun.runlog.values import iso

    rng = random.Random(seed)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    schema.ensure(conn)
    now = time.time()
    conn.execute("BEGIN")
    models = ["openai/gpt-5.4-nano", "anthropic/claude-sonnet-4", "qwen/qwen3-235b"]
    for n in range(runs):
        ts = now - 365 * 86400 * (runs - n) / runs
        run_id = new_id(ts)
        steps, calls = rng.randint(1, 3), rng.randint(0, 2)
        prompt, answer = _text(rng, 80, 400), _text(rng, 200, 1200)
        cost = None if n % 10 == 0 else round(rng.uniform(0.00001, 0.01), 8)
        conn.execute(
            "INSERT INTO runs (id, started_at, started_ts, ended_at, duration_s, status, "
            "exit_code, kind, provider, base_url, requested_model, model, steps, "
            "tool_call_count, finish_reason, prompt_tokens, completion_tokens, total_tokens, "
            "cost, cost_pusd, cwd, host, pid, mode, argv, system, prompt, answer) VALUES "
            "(?, ?, ?, ?, ?, 'done', ?, 'ask', 'openrouter', 'https://openrouter.ai/api/v1', "
            "?, ?, ?, ?, 'stop', ?, ?, ?, ?, ?, '/home/me/jobs', 'host', 1, 'full', ?, NULL, "
            "?, ?)",
            (run_id, iso(ts), ts, iso(ts + 3), 3.0, 0 if n % 17 else 4, models[n % 3],
             models[n % 3], steps, calls, 300 * steps, 80 * steps, 380 * steps, cost,
             None if cost is None else int(round(cost * 1e12)),
             json.dumps(["llmrun", "ask", prompt[:40]]), prompt, answer))
        for s in range(1, steps + 1):
            conn.execute("INSERT INTO steps (run_id, step, model, finish_reason, prompt_tokens,"
                         " completion_tokens, text) VALUES (?, ?, ?, 'stop', 300, 80, ?)",
                         (run_id, s, models[n % 3], answer if s == steps else ""))
        for c in range(1, calls + 1):
            conn.execute("INSERT INTO tool_calls (run_id, position, step, call_id, tool, "
                         "arguments, result, is_error) VALUES (?, ?, 1, ?, ?, ?, ?, 0)",
                         (run_id, c, f"call_{c}", ("weather", "run_shell")[c % 2],
                          '{"location": "Florence"}', _text(rng, 50, 400)))
        conn.execute("INSERT INTO transcripts (run_id, messages) VALUES (?, ?)",
                     (run_id, json.dumps([{"role": "user", "content": prompt},
                                          {"role": "assistant", "content": answer}])))
        conn.execute("INSERT INTO search (text, run_id, kind) VALUES (?, ?, 'prompt')",
                     (prompt, run_id))
        conn.execute("INSERT INTO search (text, run_id, kind) VALUES (?, ?, 'answer')",
                     (answer, run_id))
    conn.execute("COMMIT")
    conn.close()


def goal7(runs: int) -> List[Row]:
    replay = _replay(runs)  # first: the 560 MB that _queries writes is flushed for seconds
    return replay + _queries(runs)


def _queries(runs: int) -> List[Row]:
    folder = tempfile.mkdtemp(prefix="llmrun-bench-log-")
    path = os.path.join(folder, "runs.db")
    log(f"goal 7: generating a log of {RUNS:,} runs")
    started = time.perf_counter()
    generate(path)
    log(f"goal 7: generated in {time.perf_counter() - started:.0f} s "
        f"({os.path.getsize(path) / 1e6:.0f} MB); timing the queries, {runs} runs")
    env = clean_env(LLMRUN_LOG_DB=path)
    llmrun = llmrun_cmd()
    cmds = {"list": llmrun + ["log", "-n", "20"],
            "cost": llmrun + ["log", "cost", "--since", "30d", "--by", "day"],
            "version": llmrun + ["--version"]}
    got = interleaved(cmds, runs, env=env)
    if len(got["list"][0].stdout.decode().splitlines()) != 21:
        raise RuntimeError("llmrun log -n 20 did not list 20 runs")
    if len(got["cost"][0].stdout.decode().splitlines()) < 30:
        raise RuntimeError("log cost --since 30d --by day gave fewer than 30 days")
    wall = {name: median([s.wall for s in got[name]]) for name in cmds}
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
    os.sync()  # the 560 MB on their way to the disk would slow the goals that come next
    ref = "`llmrun --version`"
    return [Row("7", f"`llmrun log -n 20` on a generated log of {RUNS:,} runs, wall",
                wall["list"], wall["version"], ref, "s", "< 0.3 s", wall["list"] < 0.3),
            Row("7", f"`llmrun log cost --since 30d --by day` on the same log, wall",
                wall["cost"], wall["version"], ref, "s", "< 0.3 s", wall["cost"] < 0.3)]


def _replay(runs: int) -> List[Row]:
    """The replayed one-tool ask, logging on and off, side by side (once ask logs)."""
    from goal_startup import REPLAY

    help_text = subprocess.run(llmrun_cmd() + ["ask", "--help"], capture_output=True,
                               text=True, cwd=ROOT, env=clean_env()).stdout
    if "--no-log" not in help_text:
        log("goal 7: ask has no --no-log yet (the log is not wired into ask); replay row skipped")
        return []
    state = tempfile.mkdtemp(prefix="llmrun-bench-state-")
    env = clean_env(XDG_STATE_HOME=state)
    llmrun = llmrun_cmd()
    cmds = {"on": llmrun + REPLAY, "off": llmrun + REPLAY + ["--no-log"]}
    many = max(runs * 4, 30)  # a 5% target: ten runs of each could not tell it from noise
    log(f"goal 7: replayed one-tool ask with the log on and off, {many} runs each")
    got = interleaved(cmds, many, env=env)
    if not os.path.exists(os.path.join(state, "llmrun", "runs.db")):
        raise RuntimeError("the replay with the log on wrote no log")
    wall = {name: median([s.wall for s in got[name]]) for name in cmds}
    cpu = {name: median([s.cpu for s in got[name]]) for name in cmds}
    ratio = wall["on"] / wall["off"]
    return [Row("7", "replayed one-tool ask (goal 2's) with the run log on, wall",
                wall["on"], wall["off"], "the same with `--no-log`", "s", "<= 1.05x",
                ratio <= 1.05),
            Row("7", "the same, CPU (user+sys) of the llmrun process, its log thread included",
                cpu["on"], cpu["off"], "the same with `--no-log`", "s", "", None)]


if __name__ == "__main__":
    import sys

    sys.path.insert(0, ROOT)
    from common import table

    print(table(goal7(int(sys.argv[1]) if len(sys.argv) > 1 else 5)))

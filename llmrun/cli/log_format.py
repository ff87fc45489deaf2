"""How `llmrun log`, `log show` and `log cost` look on a terminal or in a pipe (plain text;
their --json forms are the dicts of llmrun.runlog.queries as they are)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Dict, List, Optional

from llmrun.base.safetext import one_line, printable


def _s(value: Any) -> str:
    """A field of the log on one printable line: a server chose most of them."""
    return one_line(str(value)) if value not in (None, "") else "-"


def money(cost: Optional[float]) -> str:
    if cost is None:
        return "-"
    return f"${cost:.6f}" if cost < 1 else f"${cost:,.2f}"


def when(iso: Optional[str]) -> str:
    """An ISO time as local `YYYY-MM-DD HH:MM`."""
    if not iso:
        return "-"
    try:
        return dt.datetime.fromisoformat(iso).astimezone().strftime("%Y-%m-%d %H:%M")
    except ValueError:
        return iso[:16]


def seconds(value: Optional[float]) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value:.2f}s"
    return f"{value:.1f}s" if value < 60 else f"{int(value // 60)}m{int(value % 60):02d}s"


def _exit(run: Dict[str, Any]) -> str:
    if run["status"] != "done":
        return run["status"]
    return str(run["exit_code"]) if run["exit_code"] is not None else "-"


def run_lines(runs: List[Dict[str, Any]], width: int) -> List[str]:
    """One line a run, newest first, cut to the terminal's width."""
    lines = [f"{'ID':<12}  {'STARTED':<16}  {'EXIT':<7} {'MODEL':<28} {'STEPS':>5} "
             f"{'TOOLS':>5} {'COST':>10} {'TIME':>7}  PROMPT"]
    for r in runs:
        model = f"{_s(r['provider'])}/{_s(r['model'])}"
        if len(model) > 28:
            model = model[:27] + "…"
        head = (f"{_s(r['id']):<12}  {when(r['started_at']):<16}  {_exit(r):<7} {model:<28} "
                f"{r['steps']:>5} {r['tool_call_count']:>5} {money(r['cost']):>10} "
                f"{seconds(r['duration_s']):>7}  ")
        prompt = one_line(r.get("prompt") or "")
        room = max(20, width - len(head))
        lines.append(head + (prompt if len(prompt) <= room else prompt[:room - 1] + "…"))
    return lines


def _usage(u: Dict[str, Any]) -> str:
    text = f"{u.get('prompt_tokens') or 0} in, {u.get('completion_tokens') or 0} out"
    if u.get("cached_tokens"):
        text += f", {u['cached_tokens']} cached"
    return text + f", cost {money(u.get('cost'))}"


def _block(label: str, text: Optional[str], indent: str = "  ") -> List[str]:
    if not text:
        return []
    body = printable(text).splitlines() or [""]
    return [f"{indent}{label}:"] + [f"{indent}  {line}" for line in body]


def show_lines(run: Dict[str, Any]) -> List[str]:
    """The whole run, step by step, tool calls with arguments and results."""
    state = run["status"] if run["status"] != "done" else f"exit {run['exit_code']}"
    lines = [f"run {_s(run['id'])}  {state}  started {when(run['started_at'])}  "
             f"took {seconds(run.get('duration_s'))}",
             f"provider {_s(run.get('provider'))}  model {_s(run.get('model'))}"
             f" (asked {_s(run.get('requested_model'))})  {_s(run.get('base_url'))}",
             f"cwd {_s(run.get('cwd'))}  on {_s(run.get('host'))}"]
    if run.get("argv"):
        lines.append("argv " + one_line(json.dumps(run["argv"], ensure_ascii=False)))
    if run.get("batch_id") is not None:
        lines.append(f"batch {_s(run['batch_id'])}  item {_s(run.get('item_id'))}")
    lines += _block("system", run.get("system"), "") + _block("prompt", run.get("prompt"), "")
    calls = run.get("tool_calls") or []
    for step in run.get("step_log") or []:
        lines.append(f"step {step['step']}  {_s(step.get('model'))}  "
                     f"{_s(step.get('finish_reason'))}  {_usage(step['usage'])}  "
                     f"{seconds(step.get('duration_s'))}")
        lines += _block("reasoning", step.get("reasoning")) + _block("text", step.get("text"))
        for call in (c for c in calls if c.get("step") in (None, step["step"])):
            args = call.get("arguments")
            args = args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)
            mark = "  [error]" if call.get("is_error") else ""
            lines.append(f"  tool {_s(call.get('name'))} {one_line(args or '')}  "
                         f"({seconds(call.get('duration_s'))}){mark}")
            lines += _block("result", call.get("result"), "    ")
    lines += _block("answer", run.get("answer"), "")
    if run.get("error"):
        lines.append(f"error ({_s(run['error'].get('type'))}): "
                     f"{one_line(run['error'].get('message') or '')}")
    lines.append("usage: " + _usage(run.get("usage") or {}))
    for warning in run.get("warnings") or []:
        lines.append("warning: " + one_line(warning))
    for cut in run.get("cut") or []:
        lines.append(f"cut: {_s(cut['what'])} was {cut['full_bytes']} bytes; 1 MiB kept")
    return lines


def cost_lines(rows: List[Dict[str, Any]], by: Optional[str], bars: bool,
               width: int, block: str = "█") -> List[str]:
    """A table of the groups; on a terminal a bar per row beside the numbers."""
    title = (by or "").upper() or "ALL"
    keys = [str(r.get(by)) if by else "all runs" for r in rows]
    key_w = max([len(title)] + [len(k) for k in keys])
    key_w = min(key_w, 40)
    extra = "  CALLS" if by == "tool" else ""
    lines = [f"{title:<{key_w}}  {'RUNS':>6} {'PROMPT':>10} {'COMPLETION':>10} "
             f"{'COST':>12} {'NO COST':>7}{extra}"]
    top = max([r["cost"] or 0 for r in rows] + [0])
    for key, r in zip(keys, rows):
        key = key if len(key) <= key_w else "…" + key[-(key_w - 1):]
        line = (f"{one_line(key):<{key_w}}  {r['runs']:>6} {r['prompt_tokens']:>10} "
                f"{r['completion_tokens']:>10} {money(r['cost']):>12} "
                f"{r['runs_without_cost']:>7}")
        if by == "tool":
            line += f"  {r['calls']:>5}"
        if bars and top > 0:
            room = max(10, width - len(line) - 2)
            line += "  " + block * max(1 if r["cost"] else 0, round((r["cost"] or 0) / top * room))
        lines.append(line)
    return lines

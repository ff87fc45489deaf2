"""What every bench module shares: how to start llmrun and the references, and measure them."""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
#: The real interpreter, never a pyenv/asdf shim (a shim alone costs tens of milliseconds).
PY = os.path.realpath(sys.executable)
_SCRIPT = os.path.join(os.path.dirname(sys.executable), "llmrun")


def llmrun_cmd() -> List[str]:
    """The installed console script next to our interpreter, else `python -m llmrun`.

    BENCH_LLMRUN_SRC=/path/to/a/checkout measures that tree instead (before/after figures).
    """
    src = os.environ.get("BENCH_LLMRUN_SRC")
    if src:
        return [PY, "-c", f"import sys; sys.path.insert(0, {os.path.abspath(src)!r}); "
                          "from llmrun.cli.main import main; sys.argv[0] = 'llmrun'; main()"]
    if os.path.isfile(_SCRIPT) and os.access(_SCRIPT, os.X_OK):
        with open(_SCRIPT, "rb") as fh:
            if fh.read(2) == b"#!":
                return [_SCRIPT]
    return [PY, "-m", "llmrun"]


def clean_env(**extra: str) -> Dict[str, str]:
    """The caller's environment without llmrun settings or keys, and an empty config dir.

    PYTHONDONTWRITEBYTECODE and PYTHONUNBUFFERED go too: an installed llmrun has its .pyc
    files and a buffered stdout, and so do the references it is compared with."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("LLMRUN_") and not k.endswith("_API_KEY")
           and k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED")}
    env["XDG_CONFIG_HOME"] = _empty_dir()
    env["XDG_STATE_HOME"] = _empty_dir()  # the run log of bench runs stays out of ~
    env.update(extra)
    return env


_EMPTY: List[str] = []


def _empty_dir() -> str:
    if not _EMPTY:
        _EMPTY.append(tempfile.mkdtemp(prefix="llmrun-bench-"))
    return _EMPTY[0]


@dataclass
class Sample:
    wall: float  # seconds
    cpu: float  # user + sys seconds of the child alone
    maxrss_mb: float  # peak resident set of the child
    code: int
    stdout: bytes


def measure(cmd: Sequence[str], env: Optional[Dict[str, str]] = None,
            cwd: str = ROOT, check: bool = True) -> Sample:
    """Run `cmd` once; its own rusage comes from wait4, so nothing else is counted."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(list(cmd), stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.PIPE if check else subprocess.DEVNULL,
                                env=env or clean_env(), cwd=cwd)
        err = proc.stderr.read() if proc.stderr else b""
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        stdout = out.read()
    if check and proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: "
                           f"{err.decode(errors='replace')[-500:]}")
    return Sample(wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
                  proc.returncode, stdout)


def samples(cmd: Sequence[str], runs: int, **kwargs) -> List[Sample]:
    measure(cmd, **kwargs)  # warm the page cache and .pyc files; not counted
    return [measure(cmd, **kwargs) for _ in range(runs)]


def interleaved(cmds: Dict[str, Sequence[str]], runs: int, **kwargs) -> Dict[str, List[Sample]]:
    """Run each command `runs` times, alternating, so a noisy moment hits all of them."""
    results: Dict[str, List[Sample]] = {name: [] for name in cmds}
    for cmd in cmds.values():
        measure(cmd, **kwargs)
    for _ in range(runs):
        for name, cmd in cmds.items():
            results[name].append(measure(cmd, **kwargs))
    return results


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


@dataclass
class Row:
    """One line of the results table."""

    goal: str
    what: str
    llmrun: float
    reference: Optional[float]
    ref_name: str
    unit: str
    target: str  # e.g. "<= 3x", "<= 5 ms"
    ok: Optional[bool]

    @property
    def ratio(self) -> Optional[float]:
        if self.reference in (None, 0):
            return None
        return self.llmrun / self.reference


def fmt(value: Optional[float], unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "s":
        return f"{value:.3f} s"
    if unit == "ms":
        return f"{value:.2f} ms"
    if unit == "MB":
        return f"{value:.1f} MB"
    return f"{value:g} {unit}".strip()


def table(rows: List[Row]) -> str:
    """A markdown table: goal, what, llmrun, reference, ratio, target, met."""
    lines = ["| goal | measured | llmrun | reference | ratio | target | met |",
             "| --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        ref = f"{fmt(r.reference, r.unit)} ({r.ref_name})" if r.ref_name else "—"
        ratio = f"{r.ratio:.2f}x" if r.ratio is not None else "—"
        met = "—" if r.ok is None else ("yes" if r.ok else "**no**")
        lines.append(f"| {r.goal} | {r.what} | {fmt(r.llmrun, r.unit)} | {ref} | {ratio} "
                     f"| {r.target} | {met} |")
    return "\n".join(lines)


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)

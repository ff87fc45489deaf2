"""Helpers of the second red-team pass (issue 22): a strict RFC 8259 parser and llmrun as a
real subprocess with HOME, the working directory and TMPDIR in a temporary folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any, Dict, List, Optional

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _refuse(name: str) -> Any:
    raise ValueError(f"{name} is not JSON (RFC 8259)")


def strict(text: str) -> Any:
    """Parse as a strict parser would: NaN, Infinity and -Infinity are refused, and so is a
    number too large for a double (which Python's json reads as inf)."""
    def number(token: str) -> float:
        value = float(token)
        if value in (float("inf"), float("-inf")):
            raise ValueError(f"{token} does not fit in a double")
        return value

    return json.loads(text, parse_constant=_refuse, parse_float=number)


def strict_lines(text: str) -> List[Any]:
    return [strict(line) for line in text.splitlines() if line.strip()]


def cli(tmp_path: Any, *argv: str, env: Optional[Dict[str, str]] = None, timeout: float = 60,
        stdin: Any = None) -> subprocess.CompletedProcess:
    """`llmrun ARGV…` in a fresh process, the way a user's shell starts it (`stdin`: text to
    pipe in, or an open file)."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    full = {k: v for k, v in os.environ.items()
            if not k.startswith("LLMRUN_") and not k.endswith("_API_KEY")}
    full.update(PYTHONPATH=ROOT, HOME=str(home), TMPDIR=str(tmp_path),
                XDG_CONFIG_HOME=str(tmp_path / "config"), LLMRUN_API_KEY="sk-test")
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "llmrun", *argv], capture_output=True,
                          text=True, timeout=timeout, env=full, cwd=str(tmp_path),
                          input=stdin if isinstance(stdin, str) else None,
                          stdin=None if isinstance(stdin, str) else (stdin or subprocess.DEVNULL))


def ask(tmp_path: Any, server: Any, *args: str, env: Optional[Dict[str, str]] = None,
        timeout: float = 60, mode: str = "--json") -> subprocess.CompletedProcess:
    """`llmrun ask --json … go` against the loopback server."""
    return cli(tmp_path, "ask", mode, "--no-stdin", "--base-url", server.url, "-m", "m",
               *args, "go", env=env, timeout=timeout)


def one_object(proc: subprocess.CompletedProcess) -> Dict[str, Any]:
    """stdout is exactly one strict JSON object, and stderr one error line at most."""
    assert proc.returncode != 1, proc.stderr
    obj = strict(proc.stdout)
    assert isinstance(obj, dict), proc.stdout
    errors = [line for line in proc.stderr.splitlines() if line.startswith("llmrun: error:")]
    assert len(errors) <= 1 and "Traceback" not in proc.stderr, proc.stderr
    return obj

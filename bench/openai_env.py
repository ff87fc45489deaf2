"""The openai SDK, installed for the bench only, in bench/.venv (never in llmrun's own env).

`python bench/openai_env.py` creates it on its own; `bench/run.py` does the same on demand.
When it cannot be installed (no registry, no venv module) the bench skips the openai column.
"""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Optional

HERE = os.path.dirname(os.path.abspath(__file__))
VENV = os.path.join(HERE, ".venv")
PYTHON = os.path.join(VENV, "bin", "python")


def _works() -> bool:
    if not os.path.exists(PYTHON):
        return False
    return subprocess.run([PYTHON, "-c", "import openai"], capture_output=True).returncode == 0


def openai_python(install: bool = True, log=sys.stderr) -> Optional[str]:
    """The interpreter of bench/.venv with `openai` importable, or None if it cannot be had."""
    if _works():
        return PYTHON
    if not install:
        return None
    print("bench: installing the openai SDK into bench/.venv (once) …", file=log, flush=True)
    try:
        if not os.path.exists(PYTHON):
            subprocess.run([sys.executable, "-m", "venv", VENV], check=True,
                           capture_output=True, timeout=300)
        subprocess.run([PYTHON, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        "--retries", "1", "--timeout", "20", "openai"], check=True, capture_output=True, timeout=600)
    except (OSError, subprocess.SubprocessError) as exc:
        print(f"bench: cannot install openai ({type(exc).__name__}); skipping its column",
              file=log)
        return None
    return PYTHON if _works() else None


if __name__ == "__main__":
    found = openai_python()
    print(found or "openai SDK not available")
    sys.exit(0 if found else 1)

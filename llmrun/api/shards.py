"""`--shard K/N` and `--shard auto`: which items this copy of a batch runs.

A shard is a pure function of the id (its UTF-8 bytes' SHA-256 digest, read as a big-endian
integer, modulo N is K − 1), so N copies started anywhere — a Kubernetes Indexed Job, a Slurm
job array, GNU parallel over ssh — run every item exactly once between them, with nothing to
coordinate, and their outputs concatenate.
"""

from __future__ import annotations

import os
import re
from typing import Mapping, Optional, Tuple

from llmrun.base.errors import UsageError

Shard = Tuple[int, int]  # (K, N), K from 1 to N


def shard_of(item_id: str, count: int) -> int:
    """The shard (1 to `count`) that runs the item with this id."""
    import hashlib  # only with --shard: OpenSSL's start is not for every batch

    digest = hashlib.sha256(item_id.encode("utf-8")).digest()
    return int.from_bytes(digest, "big") % count + 1


def parse_shard(text: Optional[str], environ: Optional[Mapping[str, str]] = None
                ) -> Optional[Shard]:
    """`K/N`, or `auto` read from the scheduler's environment; None without --shard."""
    if text is None:
        return None
    if text == "auto":
        return _auto(os.environ if environ is None else environ)
    match = re.fullmatch(r"\s*(\d{1,9})\s*/\s*(\d{1,9})\s*", text)
    if not match:
        raise UsageError(f"--shard must be K/N (say 2/5) or auto, not {text!r}")
    return _checked(int(match.group(1)), int(match.group(2)), f"--shard {text}")


def _checked(k: int, n: int, where: str) -> Shard:
    if n < 1 or not 1 <= k <= n:
        raise UsageError(f"{where}: K must be from 1 to N (N at least 1), not {k}/{n}")
    return k, n


def _auto(env: Mapping[str, str]) -> Shard:
    """Kubernetes Indexed Jobs (JOB_COMPLETION_INDEX from 0, LLMRUN_SHARDS copies) or Slurm
    job arrays (SLURM_ARRAY_TASK_ID within MIN..MAX, SLURM_ARRAY_TASK_COUNT tasks)."""
    if "JOB_COMPLETION_INDEX" in env:
        index = _number(env, "JOB_COMPLETION_INDEX")
        if "LLMRUN_SHARDS" not in env:
            raise UsageError("--shard auto: JOB_COMPLETION_INDEX is set but LLMRUN_SHARDS is "
                             "not (set it to the Job's completions)")
        return _checked(index + 1, _number(env, "LLMRUN_SHARDS"),
                        "--shard auto (JOB_COMPLETION_INDEX, LLMRUN_SHARDS)")
    if "SLURM_ARRAY_TASK_ID" in env:
        return _slurm(env)
    raise UsageError("--shard auto needs JOB_COMPLETION_INDEX and LLMRUN_SHARDS (a Kubernetes "
                     "Indexed Job) or SLURM_ARRAY_TASK_ID (a Slurm job array); give --shard K/N "
                     "otherwise")


def _slurm(env: Mapping[str, str]) -> Shard:
    task = _number(env, "SLURM_ARRAY_TASK_ID")
    low = _number(env, "SLURM_ARRAY_TASK_MIN")
    count = _number(env, "SLURM_ARRAY_TASK_COUNT")
    step = _number(env, "SLURM_ARRAY_TASK_STEP") if "SLURM_ARRAY_TASK_STEP" in env else 1
    high = _number(env, "SLURM_ARRAY_TASK_MAX") if "SLURM_ARRAY_TASK_MAX" in env else None
    if step != 1 or (high is not None and high - low + 1 != count):
        raise UsageError("--shard auto: the Slurm array must be a plain range with step 1 "
                         f"(--array={low}-{low + count - 1}); this one has step {step} and "
                         f"{count} tasks")
    return _checked(task - low + 1, count, "--shard auto (SLURM_ARRAY_*)")


def _number(env: Mapping[str, str], name: str) -> int:
    value = env.get(name, "")
    if not re.fullmatch(r"\d{1,9}", value.strip()):
        raise UsageError(f"--shard auto: {name}={value!r} is not a whole number")
    return int(value)

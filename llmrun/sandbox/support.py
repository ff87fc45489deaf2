"""What this kernel can enforce: the Landlock ABI, seccomp filters, user namespaces.

`LLMRUN_SANDBOX_SIMULATE` (comma-separated: no-landlock, no-seccomp, no-userns,
landlock-abi=N) makes this machine look like a lesser one, so the fail-closed paths can be
tested on a kernel that has everything.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Dict, List, Tuple

SIMULATE = "LLMRUN_SANDBOX_SIMULATE"


@dataclass(frozen=True)
class Support:
    landlock: int  # ABI version, 0: none
    seccomp: bool
    userns: bool
    arch: str
    simulated: Tuple[str, ...] = ()


_cache: Dict[str, Support] = {}


def probe() -> Support:
    """This machine's support (once per process and simulation setting)."""
    key = os.environ.get(SIMULATE, "")
    if key not in _cache:
        _cache[key] = _probe(tuple(t.strip() for t in key.split(",") if t.strip()))
    return _cache[key]


def _probe(simulated: Tuple[str, ...]) -> Support:
    from llmrun.sandbox import landlock, seccomp

    abi = landlock.abi_version()
    for token in simulated:
        if token.startswith("landlock-abi="):
            abi = min(abi, int(token.split("=", 1)[1]))
    if "no-landlock" in simulated:
        abi = 0
    return Support(abi, seccomp.supported() and "no-seccomp" not in simulated,
                   _userns() and "no-userns" not in simulated, seccomp.machine(), simulated)


def _userns() -> bool:
    """Whether this process may make user (and so network and PID) namespaces."""
    def number(path: str, default: int) -> int:
        try:
            with open(path) as fh:
                return int(fh.read().strip())
        except (OSError, ValueError):
            return default

    if number("/proc/sys/user/max_user_namespaces", 0) <= 0:
        return False
    if os.geteuid() == 0:
        return True
    return number("/proc/sys/kernel/unprivileged_userns_clone", 1) != 0 and \
        number("/proc/sys/kernel/apparmor_restrict_unprivileged_userns", 0) == 0


def missing(support: Support) -> List[str]:
    """What every confined tool needs and this machine lacks."""
    out = []
    if support.landlock < 1:
        out.append("Landlock (Linux 5.13 or later, with landlock in the kernel's lsm= list)")
    if not support.seccomp:
        out.append(f"seccomp filters (for the {support.arch} architecture)")
    return out


def weaker(support: Support) -> List[str]:
    """The guarantees of the contract's later rows this machine gives only in part."""
    out = []
    if 1 <= support.landlock < 3:
        out.append("Landlock ABI < 3: truncating a readable file is not blocked")
    if 1 <= support.landlock < 6:
        out.append("Landlock ABI < 6: signals to outside processes and abstract Unix "
                   "sockets are not scoped")
    out.append("no PID namespace: other processes of the same user stay visible in /proc "
               "(llmrun itself is not dumpable and wipes its secrets from its environment)")
    return out


def summary(support: Support) -> str:
    """One line for `tools check` and -v."""
    sim = f" (simulated: {', '.join(support.simulated)})" if support.simulated else ""
    return (f"Landlock ABI {support.landlock or 'none'}, seccomp "
            f"{'yes' if support.seccomp else 'no'}, user namespaces "
            f"{'yes' if support.userns else 'no'} ({support.arch}){sim}")

"""The paths whose contents never go to a model: the sandbox's secret list (what no tool may
read: llmrun/sandbox/policy.py), the config's `sandbox_deny`, llmrun's own config file, run
log and key files, and the kernel's views of processes (/proc: environments, memory).
Attachments, @FILE reads and batch items all ask the same question, `refusal(fd, path, cfg)`,
whether or not tools run sandboxed (`sandbox: false` unconfines tools, not attachments).

The check is made on the file already opened (its real path through /proc/self/fd, and its
inode), so a symlink swapped in between the check and the read, a `..` or a hard link to a
secret file does not get past it.
"""

from __future__ import annotations

import os
import types
from typing import Any, Iterable, List, Optional, Tuple

#: Pseudo-filesystems whose files show a process's environment, memory or the kernel's.
KERNEL = ("/proc", "/sys")
#: The most entries looked through for a hard link to a secret file (only for a file with
#: more than one link), so a huge browser profile cannot make the check slow.
MAX_SCAN = 20_000


def denied(cfg: Any = None) -> List[str]:
    """Every denied path, expanded against HOME (both as written and with symlinks
    resolved): the sandbox's secrets and its deny list for this config, taken as if the
    sandbox were on, and the run log or config file named in the environment."""
    from llmrun.sandbox.policy import SECRETS, settings_for

    on = types.SimpleNamespace(**(vars(cfg) if cfg is not None else {}))
    on.sandbox = True
    named = [os.environ.get(v) for v in ("LLMRUN_LOG_DB", "LLMRUN_CONFIG")]
    named = [p for p in named if p]
    paths = list(SECRETS) + settings_for(on).deny + named
    paths += [p + s for p in named for s in ("-wal", "-shm", "-journal")]
    out: List[str] = []
    for path in paths:
        full = os.path.abspath(os.path.expanduser(path))
        for form in (full, os.path.realpath(full)):
            if form not in out:
                out.append(form)
    return out


def refusal(fd: int, shown: str, cfg: Any = None) -> Optional[str]:
    """Why the open file `fd` (named `shown` to the user) must not be read, or None."""
    real = _real_path(fd, shown)
    for root in KERNEL:
        if _within(real, root):
            return f"{shown} is under {root}, which shows processes' environments and memory"
    entries = denied(cfg)
    for entry in entries:
        if _within(real, entry):
            return f"{shown} is a secret path ({entry}) that llmrun never sends to a model"
    st = os.fstat(fd)
    if st.st_nlink > 1:  # a hard link to a secret file has a harmless-looking name
        same = _same_inode(entries, (st.st_dev, st.st_ino))
        if same is not None:
            return f"{shown} is a link to the secret file {same}, which llmrun never sends"
    return None


def _real_path(fd: int, shown: str) -> str:
    """The opened file's own path; an anonymous pipe (`<(cmd)`, /dev/stdin) is `pipe:[N]`."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:  # no /proc (not Linux): the path as resolved now
        return os.path.realpath(shown)


def _within(path: str, root: str) -> bool:
    root = root.rstrip("/") or "/"
    return path == root or path.startswith(root if root == "/" else root + "/")


def _same_inode(entries: Iterable[str], inode: Tuple[int, int]) -> Optional[str]:
    seen = 0
    for entry in entries:
        for path in _walk(entry):
            seen += 1
            if seen > MAX_SCAN:
                return None
            try:
                st = os.stat(path, follow_symlinks=False)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == inode:
                return path
    return None


def _walk(entry: str) -> Iterable[str]:
    if not os.path.isdir(entry):
        yield entry
        return
    for folder, _dirs, files in os.walk(entry):
        for name in files:
            yield os.path.join(folder, name)

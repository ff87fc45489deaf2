"""The paths whose contents never go to a model: the contract's secret list (the sandbox's
"never readable"), the config's `sandbox_deny`, llmrun's own config file and run log, and
the kernel's views of processes (/proc: environments, memory). One small place, so the
sandbox (llmrun/sandbox/) can own the list and attachments, @FILE reads and batch items all
ask the same question: `refusal(fd, path, cfg)`.

The check is made on the file already opened (its real path through /proc/self/fd, and its
inode), so a symlink swapped in between the check and the read, a `..` or a hard link to a
secret file does not get past it.
"""

from __future__ import annotations

import os
from typing import Any, Iterable, List, Optional, Tuple

#: Never read, unless the user's own configuration says otherwise (it cannot, here).
SECRETS = (
    "~/.ssh", "~/.gnupg", "~/.aws", "~/.azure", "~/.config/gcloud", "~/.kube", "~/.docker",
    "~/.netrc", "~/.git-credentials", "~/.config/gh", "~/.config/hub", "~/.password-store",
    "~/.local/share/keyrings", "~/.npmrc", "~/.pypirc", "~/.cargo/credentials",
    "~/.cargo/credentials.toml", "~/.gem/credentials", "~/.terraform.d", "~/.config/rclone",
    "~/.mozilla", "~/.config/google-chrome", "~/.config/chromium", "~/.bash_history",
    "~/.zsh_history", "~/.python_history", "~/.local/share/fish/fish_history",
    "/etc/shadow", "/etc/gshadow",
)
#: Pseudo-filesystems whose files show a process's environment, memory or the kernel's.
KERNEL = ("/proc", "/sys")
#: The most entries looked through for a hard link to a secret file (only for a file with
#: more than one link), so a huge browser profile cannot make the check slow.
MAX_SCAN = 20_000


def denied(cfg: Any = None) -> List[str]:
    """Every denied path, expanded against HOME (both as written and with symlinks
    resolved): the secrets, the config's sandbox_deny, its own file and the run log."""
    paths = list(SECRETS) + list(getattr(cfg, "sandbox_deny", None) or [])
    for name in ("path", "log_db"):
        value = getattr(cfg, name, None)
        if isinstance(value, str) and value:
            paths.append(value)
            if name == "log_db":
                paths += [value + s for s in ("-wal", "-shm", "-journal")]
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

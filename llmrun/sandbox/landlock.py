"""Landlock through ctypes: the ABI, a ruleset built from path grants, and restricting the
calling thread. Standard library only: the supervisor imports it before anything else.

Landlock only grants, so "everything but these secrets" is built by `carve`: the secret's
ancestors get no rule of their own and every sibling along the way gets the rights, which
reaches everything else below the root (a few hundred rules at most).
"""

from __future__ import annotations  # no typing import at run time: the supervisor starts fast

import ctypes
import os
import stat

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Dict, Iterable, List, Optional, Sequence, Tuple

SYS_CREATE_RULESET, SYS_ADD_RULE, SYS_RESTRICT_SELF = 444, 445, 446  # same on every arch
CREATE_RULESET_VERSION = 1
RULE_PATH_BENEATH, RULE_NET_PORT = 1, 2

EXECUTE, WRITE_FILE, READ_FILE, READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
REMOVE_DIR, REMOVE_FILE, MAKE_CHAR, MAKE_DIR = 1 << 4, 1 << 5, 1 << 6, 1 << 7
MAKE_REG, MAKE_SOCK, MAKE_FIFO, MAKE_BLOCK, MAKE_SYM = 1 << 8, 1 << 9, 1 << 10, 1 << 11, 1 << 12
REFER, TRUNCATE, IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
BIND_TCP, CONNECT_TCP = 1 << 0, 1 << 1
SCOPE_ABSTRACT_UNIX, SCOPE_SIGNAL = 1 << 0, 1 << 1

#: The filesystem rights each ABI knows (a ruleset must not name a later one).
_FS_BY_ABI = {1: (1 << 13) - 1, 2: (1 << 14) - 1, 3: (1 << 15) - 1, 5: (1 << 16) - 1}
FILE_RIGHTS = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV  # all a file can have
READ = EXECUTE | READ_FILE | READ_DIR
WRITE = READ | WRITE_FILE | TRUNCATE | REMOVE_DIR | REMOVE_FILE | MAKE_DIR | MAKE_REG | \
    MAKE_SOCK | MAKE_FIFO | MAKE_SYM | REFER
DEVICE = READ_FILE | WRITE_FILE | TRUNCATE | IOCTL_DEV

class LandlockError(OSError):
    """The kernel refused a Landlock call."""


def fs_rights(abi: int) -> int:
    """Every filesystem right ABI `abi` handles."""
    return _FS_BY_ABI[max(k for k in _FS_BY_ABI if k <= abi)]


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def abi_version() -> int:
    """The kernel's Landlock ABI, 0 when it has none (or it is disabled)."""
    try:
        libc = _libc()
    except OSError:
        return 0
    libc.syscall.restype = ctypes.c_long
    got = libc.syscall(ctypes.c_long(SYS_CREATE_RULESET), None, ctypes.c_size_t(0),
                       ctypes.c_uint32(CREATE_RULESET_VERSION))
    return max(int(got), 0)


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def carve(root: str, rights: int, denied: Iterable[str], between: int = 0,
          listed: Optional[Dict[str, int]] = None) -> List[Tuple[str, int]]:
    """`rights` on everything under `root` except the `denied` paths (absolute, resolved):
    each denied path's ancestors from `root` down get only `between` themselves (a right on
    a folder reaches all below it, the denied path too), their other children get `rights`.
    A denied path that does not exist still keeps its parent closed, so it cannot be
    created either. `listed` collects each folder listed, with its mtime (a later change
    there means the grants must be made again)."""
    inside = sorted({d.rstrip("/") or "/" for d in denied if _within(d, root)})
    if any(d == root.rstrip("/") or d == root for d in inside):
        return []
    if not inside:
        return [(root, rights)]
    grants = [(root, between)] if between else []
    try:
        names = sorted(os.listdir(root))
        if listed is not None:
            listed[root] = os.stat(root).st_mtime_ns
    except OSError:
        return grants  # unreadable or gone: nothing below it can be granted
    for name in names:
        child = os.path.join(root, name)
        if os.path.islink(child):
            continue  # a rule on a link would land on its target (say, a link to ~/.ssh)
        if any(_within(d, child) for d in inside):
            if not any(d == child for d in inside):
                grants.extend(carve(child, rights, inside, between, listed))
        else:
            grants.append((child, rights))
    return grants


def merge(grants: Iterable[Tuple[str, int]]) -> Dict[str, int]:
    """One entry per path, rights OR-ed."""
    out = {}
    for path, rights in grants:
        out[path] = out.get(path, 0) | rights
    return out


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]


class _PathBeneath(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _NetPort(ctypes.Structure):
    _fields_ = [("allowed_access", ctypes.c_uint64), ("port", ctypes.c_uint64)]


def _check(result: int, what: str) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise LandlockError(err, f"landlock {what}: {os.strerror(err)}")
    return result


def build_ruleset(abi: int, grants: Dict[str, int], net: Optional[Sequence[int]] = None,
                  scoped: bool = True) -> Tuple[int, int]:
    """A ruleset fd handling every filesystem right of `abi`, with `grants` as its rules.
    `net`: None leaves TCP alone; a list of ports handles bind/connect and allows connecting
    only to those (ABI 4). `scoped` (ABI 6) keeps signals and abstract Unix sockets inside.
    Returns (fd, rules added); paths that vanished are skipped."""
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    handled = fs_rights(abi)
    attr = _RulesetAttr(handled, 0, 0)
    size = 8
    if net is not None and abi >= 4:
        attr.handled_access_net, size = BIND_TCP | CONNECT_TCP, 16
    if scoped and abi >= 6:
        attr.scoped, size = SCOPE_ABSTRACT_UNIX | SCOPE_SIGNAL, 24
    fd = _check(libc.syscall(ctypes.c_long(SYS_CREATE_RULESET), ctypes.byref(attr),
                             ctypes.c_size_t(size), ctypes.c_uint32(0)), "create_ruleset")
    added = 0
    try:
        for path, rights in grants.items():
            added += _add_path(libc, fd, path, rights & handled)
        for port in (net or ()) if abi >= 4 else ():
            rule = _NetPort(CONNECT_TCP, int(port))
            _check(libc.syscall(ctypes.c_long(SYS_ADD_RULE), ctypes.c_int(fd),
                                ctypes.c_int(RULE_NET_PORT), ctypes.byref(rule),
                                ctypes.c_uint32(0)), "add_rule (port)")
    except BaseException:
        os.close(fd)
        raise
    return fd, added


def _add_path(libc: ctypes.CDLL, fd: int, path: str, rights: int) -> int:
    try:
        target = os.open(path, os.O_PATH | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        return 0
    try:
        if not stat.S_ISDIR(os.fstat(target).st_mode):
            rights &= FILE_RIGHTS  # directory rights on a file are an error
        if not rights:
            return 0
        rule = _PathBeneath(rights, target)
        _check(libc.syscall(ctypes.c_long(SYS_ADD_RULE), ctypes.c_int(fd),
                            ctypes.c_int(RULE_PATH_BENEATH), ctypes.byref(rule),
                            ctypes.c_uint32(0)), f"add_rule ({path})")
        return 1
    finally:
        os.close(target)


def restrict_self(fd: int) -> None:
    """Confine the calling thread (and all it starts) to the ruleset; needs no_new_privs."""
    libc = _libc()
    libc.syscall.restype = ctypes.c_long
    _check(libc.syscall(ctypes.c_long(SYS_RESTRICT_SELF), ctypes.c_int(fd),
                        ctypes.c_uint32(0)), "restrict_self")

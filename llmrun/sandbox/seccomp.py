"""A seccomp filter through ctypes: no new sockets but the ones a policy allows, no io_uring
(which would do network and file I/O behind both filters), no kernel keyrings. Standard
library only, like landlock.py.

The filter is a classic BPF program over `struct seccomp_data`: the architecture is checked
first (another ABI, such as x32 or a 32-bit binary, could use other syscall numbers), then the
syscall number, then for `socket()` its first argument, the address family.
"""

from __future__ import annotations

import ctypes
import os
import struct

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Iterable, List, Optional, Tuple

PR_SET_NO_NEW_PRIVS, PR_GET_SECCOMP, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 21, 22, 2
RET_KILL_PROCESS, RET_ERRNO, RET_ALLOW = 0x80000000, 0x00050000, 0x7FFF0000
LD_W_ABS, JEQ_K, JGE_K, RET_K, AND_K = 0x20, 0x15, 0x35, 0x06, 0x54
SOCK_STREAM, SOCK_TYPE_MASK = 1, 0xF
AF_UNIX, AF_INET, AF_INET6, AF_NETLINK, AF_PACKET = 1, 2, 10, 16, 17
EPERM = 1
X32_BIT = 0x40000000

#: arch -> (AUDIT_ARCH value, syscall numbers by name)
ARCHES = {
    "x86_64": (0xC000003E, {"socket": 41, "io_uring_setup": 425, "io_uring_enter": 426,
                            "io_uring_register": 427, "add_key": 248, "request_key": 249,
                            "keyctl": 250}),
    "aarch64": (0xC00000B7, {"socket": 198, "io_uring_setup": 425, "io_uring_enter": 426,
                             "io_uring_register": 427, "add_key": 217, "request_key": 218,
                             "keyctl": 219}),
}
ALWAYS_DENIED = ("io_uring_setup", "io_uring_enter", "io_uring_register", "add_key",
                 "request_key", "keyctl")

# an instruction is (code, jt, jf, k)


class SeccompError(OSError):
    """The kernel refused the filter."""


def machine() -> str:
    name = os.uname().machine
    return {"amd64": "x86_64", "arm64": "aarch64"}.get(name.lower(), name)


def supported() -> bool:
    """Whether this kernel has seccomp filters and llmrun knows this architecture."""
    if machine() not in ARCHES:
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    return libc.prctl(PR_GET_SECCOMP, 0, 0, 0, 0) >= 0


def program(arch: str, sockets: Optional[Iterable[int]], stream_only: bool = False
            ) -> List[Tuple[int, int, int, int]]:
    """The filter: `sockets` None leaves socket() alone (network: true); else only those
    address families may be created (EPERM for every other); with `stream_only`, IPv4 and
    IPv6 sockets only of SOCK_STREAM (TCP to the proxy; no UDP, no raw)."""
    audit, numbers = ARCHES[arch]
    prog = [(LD_W_ABS, 0, 0, 4), (JEQ_K, 1, 0, audit), (RET_K, 0, 0, RET_KILL_PROCESS),
                        (LD_W_ABS, 0, 0, 0)]
    deny = RET_ERRNO | EPERM
    if arch == "x86_64":
        prog += [(JGE_K, 0, 1, X32_BIT), (RET_K, 0, 0, deny)]
    for name in ALWAYS_DENIED:
        prog += [(JEQ_K, 0, 1, numbers[name]), (RET_K, 0, 0, deny)]
    if sockets is not None:
        allowed = sorted(set(sockets))
        block = [(LD_W_ABS, 0, 0, 16)]  # args[0], low 32 bits (little-endian)
        for family in allowed:
            if stream_only and family in (AF_INET, AF_INET6):
                block += [(JEQ_K, 0, 5, family), (LD_W_ABS, 0, 0, 24),  # args[1], the type
                          (AND_K, 0, 0, SOCK_TYPE_MASK), (JEQ_K, 0, 1, SOCK_STREAM),
                          (RET_K, 0, 0, RET_ALLOW), (RET_K, 0, 0, deny)]
            else:
                block += [(JEQ_K, 0, 1, family), (RET_K, 0, 0, RET_ALLOW)]
        block.append((RET_K, 0, 0, deny))
        prog += [(JEQ_K, 0, len(block), numbers["socket"])] + block
    prog.append((RET_K, 0, 0, RET_ALLOW))
    return prog


def pack(prog: List[Tuple[int, int, int, int]]) -> bytes:
    return b"".join(struct.pack("=HBBI", *insn) for insn in prog)


class _Fprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def no_new_privs() -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise SeccompError(err, f"no_new_privs: {os.strerror(err)}")


def install(prog: List[Tuple[int, int, int, int]]) -> None:
    """Load the filter for the calling thread and what it execs (after no_new_privs)."""
    data = ctypes.create_string_buffer(pack(prog))
    fprog = _Fprog(len(prog), ctypes.cast(data, ctypes.c_void_p))
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        err = ctypes.get_errno()
        raise SeccompError(err, f"seccomp filter: {os.strerror(err)}")

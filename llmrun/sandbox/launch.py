"""How llmrun starts a confined process: the supervisor's command line and the lifeline.

The lifeline is a pipe whose write end only llmrun holds (never inherited by any child);
every supervisor gets the read end. When llmrun dies, even by SIGKILL, the kernel closes the
write end, every supervisor reads end-of-file and kills its call's processes. Unlike
PR_SET_PDEATHSIG this does not depend on which of llmrun's threads started the supervisor.
"""

from __future__ import annotations

import marshal
import os
import shutil
import sys
import tempfile
import threading
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from llmrun.sandbox.policy import Policy, plan

SUPERVISOR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "supervisor.py")
MAX_ARG = 100_000
_lock = threading.Lock()
_lifeline: List[int] = []  # [read end, write end] once made


def lifeline() -> int:
    """The read end of this process's lifeline pipe (made on first use, kept open)."""
    with _lock:
        if not _lifeline or os.getpid() != _lifeline[2]:
            read, write = os.pipe()  # both non-inheritable
            _lifeline[:] = [read, write, os.getpid()]
        return _lifeline[0]


RELAY_PORT = 3128  # inside the tool's own network namespace


def proxy_env(url: str) -> Dict[str, str]:
    """Every spelling of the proxy variables, pointing at `url`; NO_PROXY cleared."""
    env = {}
    for name in ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY"):
        env[name] = env[name.lower()] = url
    env["NO_PROXY"] = env["no_proxy"] = ""
    return env


def _network(policy: Policy, support: Any) -> Dict[str, Any]:
    """The plan's network part for `public` or a host list: a network namespace whose only
    way out is the proxy (strong), or, with sandbox_network: port-only, Landlock's rule that
    TCP may connect only to the proxy's port on the host."""
    from llmrun.sandbox.proxy import Proxy
    from llmrun.sandbox.seccomp import AF_INET, AF_INET6, AF_NETLINK, AF_UNIX

    strong = support.userns
    with _lock:
        if policy.proxy is None:
            policy.proxy = Proxy(policy.network, unix=strong)  # type: ignore[arg-type]
    proxy = policy.proxy
    sockets = [AF_INET, AF_INET6, AF_NETLINK] + ([AF_UNIX] if policy.unix else [])
    if strong:
        return {"relay": {"port": RELAY_PORT, "path": proxy.path}, "ports": [RELAY_PORT],
                "sockets": sockets, "stream_only": True,
                "env": proxy_env(f"http://127.0.0.1:{RELAY_PORT}")}
    return {"ports": [proxy.port], "sockets": sockets, "stream_only": True,
            "env": proxy_env(f"http://127.0.0.1:{proxy.port}")}


def close_proxies(policies: Sequence[Any]) -> None:
    """Stop the proxies these policies started (each has a thread and, for a network
    namespace, a socket in its own folder of TMPDIR, which goes with it)."""
    for policy in policies:
        proxy = getattr(policy, "proxy", None)
        if proxy is not None:
            policy.proxy = None
            proxy.close()


def command(argv: List[str], policy: Policy, env: Dict[str, str],
            cwd: Optional[str] = None, extra: Optional[Dict[str, str]] = None,
            is_secret: Optional[Callable[[str], bool]] = None
            ) -> Tuple[List[str], Tuple[int, ...], int]:
    """The argv that runs `argv` under `policy`, the descriptors to pass to it, and the read
    end of its "done" pipe: end-of-file there means the call's supervisor has exited, after
    killing every process of the call. The caller closes the write end (the
    second descriptor) once the process started, and the read end when done.

    Raises FileNotFoundError when the program does not exist, as Popen would. Before the
    first confined process starts, llmrun hides its own secrets (`environ.harden`).
    """
    fd = lifeline()
    done_r, done_w = os.pipe()
    steps = _steps(argv, policy, env, cwd, extra, is_secret)
    steps.update(lifeline=fd, done=done_w)
    data = marshal.dumps(steps)
    arg = data.hex()
    if len(arg) > MAX_ARG:  # a single argument may be at most 128 KiB
        handle, path = tempfile.mkstemp(prefix="llmrun-plan-")
        with os.fdopen(handle, "wb") as fh:
            fh.write(data)
        arg = "@" + path
    return [sys.executable, "-I", "-S", SUPERVISOR, arg, *argv], (fd, done_w), done_r


def _steps(argv: List[str], policy: Policy, env: Dict[str, str], cwd: Optional[str],
           extra: Optional[Dict[str, str]],
           is_secret: Optional[Callable[[str], bool]]) -> Dict[str, Any]:
    """The supervisor's plan for one call (without its descriptors)."""
    from llmrun.sandbox.support import probe

    for text in list(argv) + [t for item in env.items() for t in item]:
        if "\0" in text:  # what Popen refuses, refused here, before any process starts
            raise ValueError("embedded null byte")
        os.fsencode(text)  # a lone surrogate: UnicodeEncodeError, as Popen would raise
    program = argv[0]
    found = shutil.which(program, path=env.get("PATH")) if "/" not in program else None
    if ("/" in program and not os.path.exists(os.path.join(cwd or "", program))) or \
            ("/" not in program and found is None):
        raise FileNotFoundError(2, "No such file or directory", program)
    if is_secret is not None:
        from llmrun.sandbox.environ import harden

        harden(is_secret)
    support = probe()
    steps = dict(plan(policy, os.path.abspath(cwd or os.getcwd()), support.landlock,
                      support.arch), tmp_base=tempfile.gettempdir(), env=dict(extra or {}))
    if policy.proxied:
        net = _network(policy, support)
        steps.update(net, env=dict(steps["env"], **net["env"]))
    if found is not None:
        steps["exe"] = found  # searched once here, not along PATH by each call's exec
    return steps


class _Zygote:
    """This process's fork server (zygote.py): started once, ahead of the first call; the
    socket queues a call sent while it is still starting."""

    def __init__(self) -> None:
        import socket
        import subprocess

        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        fd = lifeline()
        #: the calls' TMPDIRs go in here; the server removes it as it exits
        self.folder = tempfile.mkdtemp(prefix="llmrun-tools-")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-S", SUPERVISOR, f"=zygote:{theirs.fileno()}:{fd}:"
                 f"{os.fsencode(self.folder).hex()}"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL, env=env, start_new_session=True,
                pass_fds=(theirs.fileno(), fd))
        except BaseException:
            ours.close()
            os.rmdir(self.folder)
            raise
        finally:
            theirs.close()
        self.sock, self.pid, self.send_lock = ours, os.getpid(), threading.Lock()

    def send(self, data: bytes, fds: Sequence[int]) -> bool:
        """Hand a call over; False when the server is gone."""
        import socket

        message = len(data).to_bytes(4, "big") + data
        rights = b"".join(fd.to_bytes(4, sys.byteorder, signed=True) for fd in fds)
        with self.send_lock:
            try:
                sent = self.sock.sendmsg([message], [(socket.SOL_SOCKET, socket.SCM_RIGHTS,
                                                      rights)], socket.MSG_NOSIGNAL)
                if sent < len(message):
                    self.sock.sendall(message[sent:], socket.MSG_NOSIGNAL)
                return True
            except OSError:
                return False

    def close(self) -> None:
        self.sock.close()
        self.proc.poll()  # reaped if it is gone already


_zygotes: List[_Zygote] = []
_zygote_lock = threading.Lock()  # not _lock: starting one takes the lifeline's


def _zygote(fresh: bool = False) -> _Zygote:
    """This process's fork server, started if need be (or anew: `fresh`)."""
    with _zygote_lock:
        if _zygotes and (_zygotes[0].pid != os.getpid() or fresh):
            old = _zygotes.pop()
            if old.pid == os.getpid():
                old.close()
        if not _zygotes:
            _zygotes.append(_Zygote())
        return _zygotes[0]


def warm_up(policies: Sequence[Policy] = ()) -> None:
    """Start the fork server ahead of the first call, in the background, and make the plans
    of `policies` meanwhile (the first call's walk)."""
    if not policies and _zygotes and _zygotes[0].pid == os.getpid():
        return  # up already (a batch's every item asks): no thread for nothing

    def work() -> None:
        try:
            _zygote()
        except OSError:
            pass  # the call will try again, and say why
        if policies:
            _plans(list(policies))

    threading.Thread(target=work, daemon=True, name="llmrun-sandbox-warm").start()


def _plans(policies: List[Policy]) -> None:
    from llmrun.sandbox.support import probe

    support = probe()
    for policy in policies:
        plan(policy, os.getcwd(), support.landlock, support.arch)


def start(argv: List[str], policy: Policy, env: Dict[str, str],
          is_secret: Optional[Callable[[str], bool]] = None) -> Any:
    """Run `argv` under `policy` in the working directory, forked by this process's fork
    server: a `Confined` (Popen's interface) whose pipes are the tool's.

    Raises FileNotFoundError when the program does not exist, as Popen would, and OSError
    when the sandbox cannot start it.
    """
    steps = _steps(argv, policy, env, None, None, is_secret)
    data = marshal.dumps((steps, list(argv), dict(env), os.getcwd()))
    for fresh in (False, True):  # a fork server that died is replaced, once
        proc = _call(_zygote(fresh), data, argv)
        if proc is not None:
            return proc
    raise OSError("the sandbox's fork server cannot be started")


def _call(zygote: _Zygote, data: bytes, argv: List[str]) -> Any:
    """The call, handed to `zygote`; None when the server was gone before it took it."""
    from llmrun.sandbox.confined import Confined

    stdin, stdout, stderr, report, hold = os.pipe(), os.pipe(), os.pipe(), os.pipe(), os.pipe()
    theirs = (stdin[0], stdout[1], stderr[1], report[1], hold[0])
    try:
        sent = zygote.send(data, theirs)
    finally:
        for fd in theirs:
            os.close(fd)
    proc = Confined(list(argv), stdin[1], stdout[0], stderr[0], report[0], hold[1])
    if sent and proc.started(timeout=30):
        return proc
    proc.release()
    return None

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
from typing import Any, Callable, Dict, List, Optional, Tuple

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


def command(argv: List[str], policy: Policy, env: Dict[str, str],
            cwd: Optional[str] = None, extra: Optional[Dict[str, str]] = None,
            is_secret: Optional[Callable[[str], bool]] = None
            ) -> Tuple[List[str], Tuple[int, ...], int]:
    """The argv that runs `argv` under `policy`, the descriptors to pass to it, and the read
    end of its "done" pipe: end-of-file there means the call's supervisor has exited, after
    killing every process of the call (`wait_done`). The caller closes the write end (the
    second descriptor) once the process started, and the read end when done.

    Raises FileNotFoundError when the program does not exist, as Popen would. Before the
    first confined process starts, llmrun hides its own secrets (`environ.harden`).
    """
    from llmrun.sandbox.support import probe

    program = argv[0]
    if ("/" in program and not os.path.exists(os.path.join(cwd or "", program))) or \
            ("/" not in program and shutil.which(program, path=env.get("PATH")) is None):
        raise FileNotFoundError(2, "No such file or directory", program)
    if is_secret is not None:
        from llmrun.sandbox.environ import harden

        harden(is_secret)
    support = probe()
    fd = lifeline()
    done_r, done_w = os.pipe()
    steps = dict(plan(policy, os.path.abspath(cwd or os.getcwd()), support.landlock,
                      support.arch), tmp_base=tempfile.gettempdir(), lifeline=fd, done=done_w,
                 env=dict(extra or {}))
    if policy.proxied:
        net = _network(policy, support)
        steps.update(net, env=dict(steps["env"], **net["env"]))
    data = marshal.dumps(steps)
    arg = data.hex()
    if len(arg) > MAX_ARG:  # a single argument may be at most 128 KiB
        handle, path = tempfile.mkstemp(prefix="llmrun-plan-")
        with os.fdopen(handle, "wb") as fh:
            fh.write(data)
        arg = "@" + path
    return [sys.executable, "-I", "-S", SUPERVISOR, arg, *argv], (fd, done_w), done_r


def wait_done(done: int, timeout: float = 5.0) -> bool:
    """Wait until the supervisor behind `done` has exited (its pipe reads end-of-file)."""
    import select

    try:
        while select.select([done], [], [], timeout)[0]:
            if not os.read(done, 512):
                return True
    except OSError:
        return True
    return False

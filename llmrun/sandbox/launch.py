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
    if ("/" in program and not os.path.exists(os.path.join(cwd or "", program))) or \
            ("/" not in program and shutil.which(program, path=env.get("PATH")) is None):
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
    return steps


class _Warm:
    """A supervisor started ahead of its call (`warm`): the process, the write end of its
    control pipe, the read end of its done pipe."""

    def __init__(self) -> None:
        import subprocess

        control, ctl_w = os.pipe()
        done_r, done_w = os.pipe()
        fd = lifeline()
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8"}
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-I", "-S", SUPERVISOR, f"=warm:{control}:{fd}:{done_w}"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                start_new_session=True, pass_fds=(control, fd, done_w))
        finally:
            os.close(control)
            os.close(done_w)
        self.control, self.done, self.fds, self.pid = ctl_w, done_r, (fd, done_w), os.getpid()


#: How many supervisors wait ahead of their calls: two, so that a second call that comes at
#: once (the next step of a fast model, a replay, a parallel call) finds one ready too.
POOL = 2
_warm: List[_Warm] = []
_ready = threading.Condition(_lock)
_starting = [0]  # supervisors being started now


def warm_up(policies: Sequence[Policy] = ()) -> None:
    """Start supervisors ahead of time, in the background, until POOL are waiting or
    starting; and make the plans of `policies` meanwhile (the first call's walk)."""
    def start(first: bool) -> None:
        made = None
        try:
            made = _Warm()
        except OSError:
            pass
        finally:
            with _ready:
                _starting[0] -= 1
                if made is not None:
                    _warm.append(made)
                _ready.notify_all()
        if first and policies:
            _plans(list(policies))

    with _ready:
        mine = [w for w in _warm if w.pid == os.getpid()]
        want = POOL - len(mine) - _starting[0]
        _starting[0] += max(want, 0)
    for i in range(want):
        threading.Thread(target=start, args=(i == 0,), daemon=True,
                         name="llmrun-sandbox-warm").start()
    if want <= 0 and policies:  # the pool is full: the plans are still made ahead
        threading.Thread(target=_plans, args=(list(policies),), daemon=True,
                         name="llmrun-sandbox-plans").start()


def _plans(policies: List[Policy]) -> None:
    from llmrun.sandbox.support import probe

    support = probe()
    for policy in policies:
        plan(policy, os.getcwd(), support.landlock, support.arch)


def _take() -> Optional[_Warm]:
    """A waiting supervisor of this process, after one being started if need be."""
    with _ready:
        _ready.wait_for(lambda: any(w.pid == os.getpid() for w in _warm) or not _starting[0],
                        timeout=10)
        for i in range(len(_warm) - 1, -1, -1):
            if _warm[i].pid == os.getpid():
                return _warm.pop(i)
    return None


def start(argv: List[str], policy: Policy, env: Dict[str, str],
          is_secret: Optional[Callable[[str], bool]] = None) -> Any:
    """Run `argv` under `policy` in the working directory, on a warm supervisor when one is
    waiting (then another is started for the next call): a subprocess.Popen whose stdin,
    stdout and stderr are the tool's, with `llmrun_done` set (see `command`).

    Raises FileNotFoundError when the program does not exist, as Popen would.
    """
    steps = _steps(argv, policy, env, None, None, is_secret)
    warm = _take()
    warm_up()
    for attempt in (warm, None):  # a waiting supervisor that died is replaced, once
        attempt = attempt or _Warm()
        steps.update(lifeline=attempt.fds[0], done=attempt.fds[1])
        if _hand_over(attempt, marshal.dumps((steps, list(argv), dict(env), os.getcwd()))):
            break
        attempt.proc.kill()
        attempt.proc.wait()
        os.close(attempt.done)
    attempt.proc.llmrun_done = attempt.done  # type: ignore[attr-defined]
    return attempt.proc


def _hand_over(warm: "_Warm", data: bytes) -> bool:
    """Write the call to a waiting supervisor's control pipe; False when it is gone."""
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(warm.control, view):]
        return True
    except OSError:
        return False
    finally:
        os.close(warm.control)


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

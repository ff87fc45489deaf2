"""The per-call supervisor: started as `python -I -S supervisor.py PLAN ARGV…` (PLAN in marshal, hex; standard
library only, nothing imported from the working directory), it runs one tool process
confined and makes sure nothing the call started outlives it.

Three processes, each single-threaded, so setting process-wide attributes and confining a
child between fork and exec are safe (none of this touches llmrun, whose Python API may run
many runs in one process):

- the front (the process llmrun started and waits for) makes the private TMPDIR, builds the
  Landlock ruleset and forks the keeper; it exits as the keeper does. llmrun may SIGKILL its
  process group at a timeout or on Ctrl-C: the keeper is in another session, and learns of
  it through PR_SET_PDEATHSIG.
- the keeper is the subreaper (PR_SET_CHILD_SUBREAPER) of everything the tool starts, so a
  `setsid`, double-forked or daemonised descendant is still its descendant. When the tool
  exits, when the front dies, on SIGTERM, or when llmrun itself dies (even by SIGKILL: the
  lifeline pipe, whose only writer is llmrun, reads end-of-file), it kills every
  descendant, removes the TMPDIR and exits as the tool did.
- the tool: dies with the keeper (PR_SET_PDEATHSIG), drops every capability, sets
  no_new_privs, enters the Landlock domain and the seccomp filter, and execs.
"""

import _signal as signal  # not `signal`: its enums cost milliseconds at every call
import marshal
import os
import select
import sys

PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER, PR_CAPBSET_DROP, PR_CAP_AMBIENT = 1, 36, 24, 47
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _libc():
    import ctypes

    return ctypes.CDLL(None, use_errno=True)


def _prctl(option, value):
    return _libc().prctl(option, value, 0, 0, 0)


def main():
    plan, argv = _load(sys.argv[1]), sys.argv[2:]
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))
    lifeline, done = plan.get("lifeline"), plan.get("done")
    for fd in (lifeline, done):  # the keeper holds them; the tool never gets them
        if fd is not None:
            os.set_inheritable(fd, False)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])  # a blocked SIGTERM would hide the end
    tmp = os.path.join(plan["tmp_base"], "llmrun-tool-" + os.urandom(6).hex())
    os.mkdir(tmp, 0o700)
    env = dict(os.environ)
    env.update(plan.get("env", {}))  # the sandbox's own variables win over a server's env
    env.update(TMPDIR=tmp, TMP=tmp, TEMP=tmp)
    try:
        from llmrun.sandbox import landlock, seccomp  # noqa: F401 (imported once, before forks)

        rules = dict(plan["grants"])
        rules[tmp] = landlock.WRITE
        ruleset, _ = landlock.build_ruleset(plan["abi"], rules, plan["ports"])
    except OSError as exc:
        _rmtree(tmp)
        _fail(f"cannot build the sandbox: {exc}", 125)
    front = os.getpid()
    keeper = os.fork()
    if keeper == 0:
        _keeper(front, plan, argv, env, ruleset, tmp, lifeline)
    os.close(ruleset)
    for fd in (lifeline, done):  # the keeper's now: it closes `done` by exiting, last of all
        if fd is not None:
            os.close(fd)
    while True:
        try:
            _, status = os.waitpid(keeper, 0)
            break
        except InterruptedError:
            continue
    _exit_like(status)


def _load(arg):
    """The plan: marshal in hex, or `@FILE` holding it (then removed) when it is large."""
    if not arg.startswith("@"):
        return marshal.loads(bytes.fromhex(arg))
    with open(arg[1:], "rb") as fh:
        data = fh.read()
    os.unlink(arg[1:])
    return marshal.loads(data)


def _keeper(front, plan, argv, env, ruleset, tmp, lifeline):
    _prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != front:  # the front died before the line above
        _rmtree(tmp)
        os._exit(143)
    os.setsid()
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    stopped = []
    for sig in STOP_SIGNALS:
        signal.signal(sig, lambda s, _f: stopped.append(s))
    signal.signal(signal.SIGCHLD, lambda s, _f: None)
    signal.set_wakeup_fd(wake_w)
    try:
        relay = _Relay(plan["relay"]) if plan.get("relay") else None  # in its own netns
    except OSError as exc:
        _rmtree(tmp)
        _fail(f"cannot make the tool's network namespace: {exc}", 125)
    keeper = os.getpid()
    tool = os.fork()
    if tool == 0:
        os.close(wake_r)
        os.close(wake_w)
        _tool(keeper, plan, argv, env, ruleset)
    os.close(ruleset)
    watch = [wake_r] + ([lifeline] if lifeline is not None else [])
    status = None
    while status is None and not stopped:
        ready, _, _ = select.select(watch + (relay.fds() if relay else []), [], [])
        if lifeline in ready and not os.read(lifeline, 1):
            break  # llmrun is gone
        if wake_r in ready:
            os.read(wake_r, 512)
        if relay:
            relay.serve(ready)
        status = _reap(tool)
    _kill_descendants()
    _rmtree(tmp)
    if status is None:
        os._exit(128 + (stopped[0] if stopped else signal.SIGKILL))
    _exit_like(status)


class _Relay:
    """The tool's only way out: its own network namespace holds nothing but loopback, where
    this listens on the proxy port and carries each connection to llmrun's proxy, a Unix
    socket outside (a path is reachable from any network namespace)."""

    def __init__(self, spec):
        import _socket

        self._socket = _socket
        self.path = spec["path"]
        _enter_netns()
        self.listener = _socket.socket(_socket.AF_INET, _socket.SOCK_STREAM)
        self.listener.bind(("127.0.0.1", spec["port"]))
        self.listener.listen(64)
        self.peers = {}

    def fds(self):
        return [self.listener.fileno()] + list(self.peers)

    def serve(self, ready):
        sock = self._socket
        for fd in ready:
            if fd == self.listener.fileno():
                try:
                    inner = sock.socket(fileno=self.listener._accept()[0])
                    outer = sock.socket(sock.AF_UNIX, sock.SOCK_STREAM)
                    outer.connect(self.path)
                except OSError:
                    continue
                self.peers[inner.fileno()] = (inner, outer)
                self.peers[outer.fileno()] = (outer, inner)
            elif fd in self.peers:
                src, dst = self.peers[fd]
                try:
                    data = src.recv(65536)
                    if data:
                        dst.sendall(data)
                        continue
                except OSError:
                    pass
                for s in (src, dst):
                    self.peers.pop(s.fileno(), None)
                    s.close()


def _enter_netns():
    """A network namespace of its own (with a user namespace unless root), loopback up."""
    import fcntl
    import struct

    uid, gid = os.geteuid(), os.getegid()
    flags = 0x40000000 | (0x10000000 if uid != 0 else 0)  # CLONE_NEWNET, CLONE_NEWUSER
    if _libc().unshare(flags) != 0:
        import ctypes

        raise OSError(ctypes.get_errno(), "unshare (network namespace)")
    if uid != 0:
        for name, text in (("uid_map", f"{uid} {uid} 1"), ("setgroups", "deny"),
                           ("gid_map", f"{gid} {gid} 1")):
            with open(f"/proc/self/{name}", "w") as fh:
                fh.write(text)
    import _socket

    probe = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        ifr = fcntl.ioctl(probe.fileno(), 0x8913, struct.pack("16sH14s", b"lo", 0, b""))
        up = struct.unpack("16sH14s", ifr)[1] | 1  # IFF_UP
        fcntl.ioctl(probe.fileno(), 0x8914, struct.pack("16sH14s", b"lo", up, b""))
    finally:
        probe.close()


def _reap(tool):
    """Collect exited children; the tool's wait status once it has exited."""
    found = None
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return found
        if pid == 0:
            return found
        if pid == tool:
            found = status


def _tool(keeper, plan, argv, env, ruleset):
    try:
        _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != keeper:
            os._exit(137)
        signal.set_wakeup_fd(-1)
        for sig in STOP_SIGNALS + (signal.SIGCHLD, signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(sig, signal.SIG_DFL)
        _drop_capabilities()
        from llmrun.sandbox import landlock, seccomp

        seccomp.no_new_privs()
        landlock.restrict_self(ruleset)
        os.close(ruleset)
        seccomp.install(seccomp.program(plan["arch"], plan["sockets"],
                                        plan.get("stream_only", False)))
    except BaseException as exc:
        _fail(f"cannot confine the tool: {exc}", 125)
    try:
        os.execvpe(argv[0], argv, env)
    except OSError as exc:
        code = 127 if exc.errno == 2 else 126  # ENOENT
        _fail(f"cannot run {argv[0]!r} in the sandbox: {exc.strerror}", code)


def _drop_capabilities():
    """No capability survives into the tool, not even root's: the bounding set is emptied
    (so exec cannot give them back) and the current sets cleared."""
    import ctypes

    libc = _libc()
    try:
        with open("/proc/sys/kernel/cap_last_cap") as fh:
            last = int(fh.read())
    except (OSError, ValueError):
        last = 63
    for cap in range(last + 1):
        libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # EPERM without CAP_SETPCAP: nothing to drop
    libc.prctl(PR_CAP_AMBIENT, 4, 0, 0, 0)  # PR_CAP_AMBIENT_CLEAR_ALL

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    data = (ctypes.c_uint32 * 6)()
    if libc.capset(ctypes.byref(Header(0x20080522, 0)), data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


def _descendants():
    """Every process below this one, from /proc (parents before their children)."""
    children = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(name))
    out, todo = [], [os.getpid()]
    while todo:
        for child in children.get(todo.pop(), ()):
            out.append(child)
            todo.append(child)
    return out


def _kill_descendants():
    """SIGKILL everything below the keeper until nothing is left; as the subreaper, every
    orphan comes back to it, so "no child left" means no descendant left."""
    for _ in range(10000):
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid:
            continue
        for pid in _descendants():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            return


def _rmtree(path):
    for root, dirs, files in os.walk(path, topdown=False):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(root, d))]:
            try:
                os.unlink(os.path.join(root, name))
            except OSError:
                pass
        for name in dirs:
            try:
                os.rmdir(os.path.join(root, name))
            except OSError:
                pass
    try:
        os.rmdir(path)
    except OSError:
        pass


def _exit_like(status):
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)


def _fail(message, code):
    try:
        os.write(2, f"llmrun: sandbox: {message}\n".encode("utf-8", "replace"))
    finally:
        os._exit(code)


if __name__ == "__main__":
    main()

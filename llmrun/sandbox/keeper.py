"""The keeper of one confined call, standard library only (it runs in the supervisor, started
as `python -I -S`): it is the subreaper of everything the tool starts, forks the tool, which
confines itself and execs, and makes sure nothing the call started outlives it.

A keeper comes from one of two places (supervisor.py): the front process that llmrun started
for one MCP server (`run`: the keeper exits as the tool did), or the sandbox's fork server
(zygote.py) for a tool call (`call`: the keeper reports to llmrun on a pipe and holds the
tool's exit until llmrun lets go). Both stop the call when the tool exits, on SIGTERM, or when
llmrun dies (even by SIGKILL: the lifeline pipe, whose only writer is llmrun, reads
end-of-file): they kill every descendant, remove the call's TMPDIR and exit.
"""

import _signal as signal  # not `signal`: its enums cost milliseconds at every call
import marshal
import os
import select

PR_SET_PDEATHSIG, PR_SET_CHILD_SUBREAPER, PR_CAPBSET_DROP, PR_CAP_AMBIENT = 1, 36, 24, 47
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
#: Where a zygote keeper reports (`P<pid>` when the tool started, `S<exit code>` when the call
#: is over); -1 for a front's keeper, which reports by its own exit.
_report = [-1]
_libc_handle = []


def libc():
    if not _libc_handle:
        import ctypes

        _libc_handle.append(ctypes.CDLL(None, use_errno=True))
    return _libc_handle[0]


def prctl(option, value):
    return libc().prctl(option, value, 0, 0, 0)


def prepare(plan, env):
    """The call's private TMPDIR, the tool's environment and the Landlock ruleset."""
    for fd in (plan["lifeline"], plan.get("done", -1)):  # the keeper holds them; never the tool
        if fd >= 0:
            os.set_inheritable(fd, False)
    tmp = os.path.join(plan.get("tmp_parent") or plan["tmp_base"],
                       "llmrun-tool-" + os.urandom(6).hex())
    os.mkdir(tmp, 0o700)
    env.update(plan.get("env", {}))  # the sandbox's own variables win over a server's env
    env.update(TMPDIR=tmp, TMP=tmp, TEMP=tmp)
    try:
        from llmrun.sandbox import landlock, seccomp  # noqa: F401 (seccomp: before the fork)

        rules = dict(plan["grants"])
        rules[tmp] = landlock.WRITE
        ruleset, _ = landlock.build_ruleset(plan["abi"], rules, plan["ports"])
    except OSError as exc:
        rmtree(tmp)
        fail(f"cannot build the sandbox: {exc}", 125)
    return tmp, env, ruleset


def call(fds, data, lifeline, parents=None):
    """A tool call from the fork server: `fds` are the tool's stdin, stdout and stderr, the
    report pipe's write end and the hold pipe's read end; `data` is marshal (plan, argv, env,
    cwd); `parents` the server's folder in each TMPDIR. Never returns."""
    stdin, stdout, stderr, report, hold = fds
    _report[0] = report
    for fd in (report, hold):  # the tool never holds them (its stdio are dup'ed below)
        os.set_inheritable(fd, False)
    for target, fd in ((0, stdin), (1, stdout), (2, stderr)):
        os.dup2(fd, target)  # from here on, a failure is said on the tool's stderr
    for fd in (stdin, stdout, stderr):
        os.close(fd)
    os.setsid()  # out of the fork server's group: llmrun's kills aim at the tool's own group
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    plan, argv, env, cwd = marshal.loads(data)
    plan["lifeline"] = lifeline
    plan["tmp_parent"] = (parents or {}).get(plan.get("tmp_base"), "")
    try:
        os.chdir(cwd)
    except OSError as exc:
        fail(f"cannot enter the working directory {cwd}: {exc.strerror}", 125)
    tmp, env, ruleset = prepare(plan, env)
    keep(plan, argv, tmp, env, ruleset, hold)


def become_keeper(front):
    """A front's keeper: die with the front (as SIGTERM, to clean up), in a session of its
    own (out of reach of llmrun's kill of the front's group), the subreaper of the call."""
    prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != front:  # the front died before the line above
        os._exit(143)
    os.setsid()
    prctl(PR_SET_CHILD_SUBREAPER, 1)


def keep(plan, argv, tmp, env, ruleset, hold=-1):
    """Fork the tool and watch it; with a `hold` pipe (a zygote's call) the tool runs in a
    process group of its own, which llmrun may kill, and stays an unreaped zombie -- so its
    group id cannot be reused -- until llmrun closes the hold pipe."""
    lifeline = plan["lifeline"]
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    stopped = []
    for sig in STOP_SIGNALS:
        signal.signal(sig, lambda s, _f: stopped.append(s))
    signal.signal(signal.SIGCHLD, lambda s, _f: None)
    signal.set_wakeup_fd(wake_w)
    try:
        relay = None
        if plan.get("relay"):  # the tool's own network namespace, and its one way out
            from llmrun.sandbox.relay import Relay

            relay = Relay(plan["relay"])
    except OSError as exc:
        rmtree(tmp)
        fail(f"cannot make the tool's network namespace: {exc}", 125)
    keeper = os.getpid()
    tool = os.fork()
    if tool == 0:
        for fd in (wake_r, wake_w, hold, _report[0]):
            if fd >= 0:
                os.close(fd)
        confine_and_exec(keeper, plan, argv, env, ruleset, own_group=hold >= 0)
    if hold >= 0:
        try:
            os.setpgid(tool, tool)  # also here: llmrun may signal the group at once
        except OSError:
            pass
        _let_go_of_stdio()  # the tool's output ends when the tool (and its children) end
        say(f"P{tool}")
    os.close(ruleset)
    watch = [wake_r, lifeline] + ([hold] if hold >= 0 else [])
    status = None
    while status is None and not stopped:
        ready, _, _ = select.select(watch + (relay.fds() if relay else []), [], [])
        if lifeline in ready and not os.read(lifeline, 1):
            break  # llmrun is gone
        if hold in ready:
            break  # llmrun asks for the call to stop (or let go of it early)
        if wake_r in ready:
            os.read(wake_r, 512)
        if relay:
            relay.serve(ready)
        status = exited(tool) if hold >= 0 else reap(tool)
    if hold < 0:
        kill_descendants()
        rmtree(tmp)
        if status is None:
            os._exit(128 + (stopped[0] if stopped else signal.SIGKILL))
        exit_like(status)
    _finish_held(tool, tmp, hold, lifeline, wake_r, stopped)


def _finish_held(tool, tmp, hold, lifeline, wake_r, stopped):
    """A zygote's call is over: everything but the tool's zombie killed, the TMPDIR gone, the
    exit code reported; then wait until llmrun lets go (or is gone) and reap the tool."""
    if exited(tool) is None:  # stopped early: the tool goes first, its orphans come to us
        try:
            os.kill(tool, signal.SIGKILL)
        except OSError:
            pass
    code = exited(tool, block=True)
    kill_descendants(spare=tool)
    rmtree(tmp)
    say(f"S{code}")
    while not stopped:
        ready, _, _ = select.select([hold, lifeline, wake_r], [], [])
        if (hold in ready and not os.read(hold, 512)) or \
                (lifeline in ready and not os.read(lifeline, 1)):
            break
        if wake_r in ready:
            os.read(wake_r, 512)
    try:
        os.waitpid(tool, 0)
    except ChildProcessError:
        pass
    os._exit(0)


def _let_go_of_stdio():
    null = os.open(os.devnull, os.O_RDWR)
    for target in (0, 1, 2):
        os.dup2(null, target)
    os.close(null)


def say(line):
    if _report[0] >= 0:
        try:
            os.write(_report[0], line.encode() + b"\n")
        except OSError:
            pass


def exited(tool, block=False):
    """The tool's exit code (negative: the signal) once it has exited, without reaping it."""
    flags = os.WEXITED | os.WNOWAIT | (0 if block else os.WNOHANG)
    try:
        info = os.waitid(os.P_PID, tool, flags)
    except ChildProcessError:
        return -signal.SIGKILL
    if info is None:
        return None
    return info.si_status if info.si_code == os.CLD_EXITED else -info.si_status


def reap(tool):
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


def confine_and_exec(keeper, plan, argv, env, ruleset, own_group=False):
    try:
        if own_group:
            os.setpgid(0, 0)
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != keeper:
            os._exit(137)
        signal.set_wakeup_fd(-1)
        for sig in STOP_SIGNALS + (signal.SIGCHLD, signal.SIGPIPE, signal.SIGXFSZ):
            signal.signal(sig, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        drop_capabilities()
        from llmrun.sandbox import landlock, seccomp

        seccomp.no_new_privs()
        landlock.restrict_self(ruleset)
        os.close(ruleset)
        seccomp.install(seccomp.program(plan["arch"], plan["sockets"],
                                        plan.get("stream_only", False)))
    except BaseException as exc:
        fail(f"cannot confine the tool: {exc}", 125, quiet=True)
    try:
        if plan.get("exe"):
            os.execve(plan["exe"], argv, env)
        os.execvpe(argv[0], argv, env)
    except OSError as exc:
        code = 127 if exc.errno == 2 else 126  # ENOENT
        fail(f"cannot run {argv[0]!r} in the sandbox: {exc.strerror}", code, quiet=True)


def drop_capabilities():
    """No capability survives into the tool, not even root's: the bounding set is emptied
    (so exec cannot give them back) and the current sets cleared."""
    import ctypes

    lib = libc()
    try:
        with open("/proc/sys/kernel/cap_last_cap") as fh:
            last = int(fh.read())
    except (OSError, ValueError):
        last = 63
    for cap in range(last + 1):
        lib.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)  # EPERM without CAP_SETPCAP: nothing to drop
    lib.prctl(PR_CAP_AMBIENT, 4, 0, 0, 0)  # PR_CAP_AMBIENT_CLEAR_ALL
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # version 3, this process
    data = (ctypes.c_uint32 * 6)()
    if lib.capset(header, data) != 0:
        raise OSError(ctypes.get_errno(), "capset failed")


def _children():
    """This process's children, or None where /proc cannot tell."""
    me = os.getpid()
    try:
        with open(f"/proc/{me}/task/{me}/children", "rb") as fh:
            return [int(n) for n in fh.read().split()]
    except (OSError, ValueError):
        return None


def descendants():
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


def kill_descendants(spare=None):
    """SIGKILL everything below the keeper until nothing is left; as the subreaper, every
    orphan comes back to it, so "no child left" means no descendant left. `spare`, a child
    that has exited, is killed too if need be but never reaped (see `keep`)."""
    for _ in range(10000):
        if spare is None:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid:
                continue
        else:
            kids = _children()
            if kids is not None and not [k for k in kids if k != spare]:
                return  # the tool's descendants were handed to us when it exited: none
        found = descendants()
        for pid in found:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if spare is None:
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                return
            continue
        others = [p for p in found if p != spare]
        if not others:
            return
        for pid in others:
            try:
                os.waitpid(pid, 0)  # a grandchild: not ours (yet), ChildProcessError
            except ChildProcessError:
                pass
        select.select([], [], [], 0.001)


def rmtree(path):
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


def exit_like(status):
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)


def fail(message, code, quiet=False):
    """Say it on stderr and exit `code`; a zygote's keeper reports the code too (the tool
    itself, `quiet`, leaves that to its keeper)."""
    try:
        os.write(2, f"llmrun: sandbox: {message}\n".encode("utf-8", "replace"))
        if not quiet:
            say(f"S{code}")
    finally:
        os._exit(code)

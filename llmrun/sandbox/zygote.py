"""The sandbox's fork server, standard library only: one per llmrun process, started once
(`python -I -S supervisor.py =zygote:SOCKET:LIFELINE:FOLDER`), so that a tool call costs a fork,
not a Python start-up. Single-threaded, so forking here is safe whatever llmrun's threads do.

llmrun sends each call on the Unix socket: a 4-byte length, then marshal (plan, argv, env,
cwd), with five descriptors attached (SCM_RIGHTS): the tool's stdin, stdout and stderr, the
write end of the call's report pipe and the read end of its hold pipe. The server forks a
keeper for it (keeper.call) and goes back to waiting; it reaps the keepers as they exit. It
exits when llmrun closes the socket or dies (after its keepers, removing its TMPDIR folder) (the lifeline reads end-of-file); each keeper
watches the lifeline too, so a SIGKILLed llmrun leaves nothing running.
"""

import _signal as signal
import _socket
import os
import select
import sys

FDS = 5


def serve(sock_fd, lifeline, folder):
    from llmrun.sandbox import keeper, landlock, relay, seccomp  # noqa: F401 (once, before forks)

    keeper.libc()
    sock = _socket.socket(fileno=sock_fd)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda s, _f: None)
    signal.set_wakeup_fd(wake_w)
    # TMPDIR -> this server's folder in it (made by llmrun), which holds each call's own, so
    # TMPDIR itself changes once, not at every call (a folder that a plan lists -- /tmp, when
    # a denied path lies under it -- would make every call's plan anew)
    parents = {os.path.dirname(folder): folder}
    while True:
        ready, _, _ = select.select([sock_fd, lifeline, wake_r], [], [])
        if wake_r in ready:
            os.read(wake_r, 512)
            _reap()
        if lifeline in ready and not os.read(lifeline, 1):
            _leave(keeper, parents)  # llmrun is gone; its calls' keepers see it too
        if sock_fd in ready:
            got = receive(sock)
            if got is None:
                _leave(keeper, parents)  # llmrun closed the socket: no more calls
            fds, data = got
            if len(fds) == FDS:
                _fork(keeper, fds, data, lifeline, (sock_fd, wake_r, wake_w), parents)
            for fd in fds:
                os.close(fd)


def _leave(keeper, parents):
    """Wait for the keepers (they stop their calls when llmrun is gone), then remove the
    folders they left empty."""
    while True:
        try:
            os.waitpid(-1, 0)
        except ChildProcessError:
            break
        except InterruptedError:
            continue
    for path in parents.values():
        if path:
            keeper.rmtree(path)
    os._exit(0)


def receive(sock):
    """One call: (descriptors, data), or None at end-of-file or on a broken message."""
    try:
        head, ancillary, _, _ = sock.recvmsg(4, _socket.CMSG_SPACE(FDS * 4))
    except OSError:
        return None
    fds = []
    for level, kind, payload in ancillary:
        if level == _socket.SOL_SOCKET and kind == _socket.SCM_RIGHTS:
            fds += [int.from_bytes(payload[i:i + 4], sys.byteorder, signed=True)
                    for i in range(0, len(payload) - len(payload) % 4, 4)]
    data = _read(sock, head, 4)
    if data is not None:
        data = _read(sock, b"", int.from_bytes(data, "big"))
    if data is None:
        for fd in fds:
            os.close(fd)
        return None
    return fds, data


def _read(sock, have, size):
    """`have` and the rest of `size` bytes; None at end-of-file before them."""
    chunks, got = [have], len(have)
    while got < size:
        try:
            chunk = sock.recv(min(1 << 20, size - got))
        except OSError:
            return None
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _fork(keeper, fds, data, lifeline, own, parents):
    try:
        pid = os.fork()
    except OSError as exc:
        for fd, text in ((fds[2], f"llmrun: sandbox: cannot start the tool: {exc.strerror}\n"),
                         (fds[3], "S125\n")):
            try:
                os.write(fd, text.encode())
            except OSError:
                pass
        return
    if pid == 0:
        try:
            for fd in own:
                os.close(fd)
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            keeper.call(fds, data, lifeline, parents)
        finally:
            os._exit(125)


def _reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return

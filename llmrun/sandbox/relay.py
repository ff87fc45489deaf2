"""The way out of a tool's own network namespace, standard library only (it runs in the
keeper): a listener on the namespace's loopback at the proxy port, each connection carried to
llmrun's proxy through a Unix socket outside."""

import os


class Relay:
    """The tool's only way out: its own network namespace holds nothing but loopback, where
    this listens on the proxy port and carries each connection to llmrun's proxy, a Unix
    socket outside (a path is reachable from any network namespace)."""

    def __init__(self, spec):
        import _socket

        self._socket = _socket
        self.path = spec["path"]
        enter_netns()
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


def enter_netns():
    """A network namespace of its own (with a user namespace unless root), loopback up."""
    import fcntl
    import struct

    uid, gid = os.geteuid(), os.getegid()
    flags = 0x40000000 | (0x10000000 if uid != 0 else 0)  # CLONE_NEWNET, CLONE_NEWUSER
    import ctypes

    if ctypes.CDLL(None, use_errno=True).unshare(flags) != 0:
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

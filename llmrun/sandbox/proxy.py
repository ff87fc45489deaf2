"""The filtering proxy for `network: public` and host lists: HTTP CONNECT and plain-HTTP
forwarding, run by llmrun (threads) for a tool's calls.

It resolves each name itself and connects to the very address it checked (so a name that
changes its answer in between, DNS rebinding, gains nothing). Only global addresses pass
(`is_global` after unwrapping IPv4-mapped, 6to4 and NAT64 forms; never 0.0.0.0/8,
100.64.0.0/10, the Azure and AWS metadata addresses, nor this host's own addresses), unless
the policy names that address literally. A refusal is a 403 whose body names the host; the
proxy also remembers it, so the call's error result can name it.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import tempfile
import threading
from typing import List, Optional, Sequence, Tuple, Union

Address = Union[ipaddress.IPv4Address, ipaddress.IPv6Address]
NEVER = [ipaddress.ip_network(n) for n in ("0.0.0.0/8", "100.64.0.0/10", "168.63.129.16/32",
                                           "169.254.0.0/16", "fd00:ec2::254/128")]
NAT64 = ipaddress.ip_network("64:ff9b::/96")
MAX_HEAD = 64 * 1024


def unwrap(ip: Address) -> Address:
    """The IPv4 address inside an IPv4-mapped, 6to4 or NAT64 IPv6 address."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip.sixtofour is not None:
            return ip.sixtofour
        if ip in NAT64:
            return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def own_addresses() -> List[Address]:
    """This host's addresses (IPv4 from /proc/net/fib_trie, IPv6 from /proc/net/if_inet6)."""
    found: List[Address] = []
    try:
        with open("/proc/net/fib_trie") as fh:
            lines = fh.read().splitlines()
        for i, line in enumerate(lines):
            if "/32 host LOCAL" in line and i:
                found.append(ipaddress.ip_address(lines[i - 1].split()[-1]))
    except (OSError, ValueError):
        pass
    try:
        with open("/proc/net/if_inet6") as fh:
            for line in fh:
                raw = line.split()[0]
                found.append(ipaddress.ip_address(":".join(raw[i:i + 4] for i in range(0, 32, 4))))
    except (OSError, ValueError, IndexError):
        pass
    return found


def is_public(ip: Address, own: Sequence[Address] = ()) -> bool:
    inner = unwrap(ip)
    if any(inner in net for net in NEVER if net.version == inner.version):
        return False
    return inner.is_global and inner not in own and ip not in own


class Rules:
    """Which host:port a policy allows: `public`, or a list of entries."""

    def __init__(self, network: Union[str, List[str]]) -> None:
        self.public = network == "public"
        self.entries: List[Tuple[str, Optional[int]]] = []
        for entry in ([] if self.public else network):
            host, port = split_host(entry)
            self.entries.append((host.lower(), port))

    def named(self, host: str, port: int) -> bool:
        """Whether an entry names this host (and port)."""
        host = host.lower().strip("[]")
        for pattern, allowed in self.entries:
            ports = (80, 443) if allowed is None else (allowed,)
            if port not in ports:
                continue
            if pattern.startswith("*.") and host.endswith(pattern[1:]) and host != pattern[2:]:
                return True
            if pattern.strip("[]") == host:
                return True
        return False

    def literal(self, host: str) -> bool:
        """An entry that is this address itself lets a non-public address through."""
        try:
            ip = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            return False
        return any(p.strip("[]") == str(ip) or _same_ip(p, ip) for p, _ in self.entries)


def _same_ip(pattern: str, ip: Address) -> bool:
    try:
        return ipaddress.ip_address(pattern.strip("[]")) == ip
    except ValueError:
        return False


def split_host(entry: str) -> Tuple[str, Optional[int]]:
    """`host`, `host:port`, `[v6]:port` -> (host, port or None)."""
    if entry.startswith("["):
        host, _, rest = entry[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else None
    if entry.count(":") == 1:
        host, port = entry.split(":")
        return host, int(port)
    return entry, None


class Refused(Exception):
    """The proxy will not connect there; the message says why."""


class Proxy:
    """One proxy for one policy: a listening socket (a Unix socket path, or 127.0.0.1:port)
    and a thread per connection."""

    def __init__(self, network: Union[str, List[str]], unix: bool = True) -> None:
        self.rules = Rules(network)
        self.refused: List[str] = []
        self.own = own_addresses()
        self.upstream = _upstream()
        self._lock = threading.Lock()
        if unix:
            self.folder = tempfile.mkdtemp(prefix="llmrun-proxy-")
            self.path: Optional[str] = os.path.join(self.folder, "proxy.sock")
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(self.path)
            self.port = 0
        else:
            self.folder, self.path = "", None
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.bind(("127.0.0.1", 0))
            self.port = self.sock.getsockname()[1]
        self.sock.listen(64)
        threading.Thread(target=self._serve, daemon=True, name="llmrun-proxy").start()

    def close(self) -> None:
        try:
            self.sock.close()
        finally:
            if self.path:
                for remove in (lambda: os.unlink(self.path), lambda: os.rmdir(self.folder)):
                    try:
                        remove()
                    except OSError:
                        pass

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def check(self, host: str, port: int) -> Tuple[str, int]:
        """The address to connect to for host:port, or Refused."""
        named = self.rules.public or self.rules.named(host, port)
        if not named:
            raise Refused(f"{host}:{port} is not in the tool's sandbox.network list")
        if self.rules.literal(host):
            return host.strip("[]"), port
        try:
            infos = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise Refused(f"{host}:{port} does not resolve ({exc})")
        for info in infos:
            ip = ipaddress.ip_address(info[4][0].split("%")[0])
            if is_public(ip, self.own):
                return str(ip), port
        shown = ", ".join(sorted({i[4][0] for i in infos}))
        raise Refused(f"{host}:{port} resolves to {shown}, which is not a public address")

    def _handle(self, conn: socket.socket) -> None:
        upstream = None
        try:
            method, target, headers, extra = _request_line(_read_head(conn))
            host, port, forward = _target(method, target, headers)
            try:
                ip, port = self.check(host, port)
            except Refused as exc:
                with self._lock:
                    self.refused.append(f"{host}:{port}")
                body = f"llmrun sandbox proxy refused {exc}\n".encode()
                conn.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\n"
                             b"Connection: close\r\nContent-Length: %d\r\n\r\n%s"
                             % (len(body), body))
                return
            upstream = self._connect(ip, port)
            if forward is None:
                conn.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            else:
                upstream.sendall(forward)
            if extra:
                upstream.sendall(extra)
            _relay(conn, upstream)
        except (OSError, ValueError):
            pass
        finally:
            for s in (conn, upstream):
                if s is not None:
                    s.close()

    def _connect(self, ip: str, port: int) -> socket.socket:
        if self.upstream is None:
            return socket.create_connection((ip, port), timeout=30)
        sock = socket.create_connection(self.upstream, timeout=30)  # chain through it
        where = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
        sock.sendall(f"CONNECT {where} HTTP/1.1\r\nHost: {where}\r\n\r\n".encode())
        if b" 200" not in _read_head(sock).split(b"\r\n", 1)[0]:
            raise OSError("the upstream proxy refused the connection")
        return sock


def _upstream() -> Optional[Tuple[str, int]]:
    """llmrun's own HTTPS_PROXY, when it has one: our proxy chains through it."""
    value = os.environ.get("HTTPS_PROXY") or os.environ.get("https_proxy")
    if not value:
        return None
    from urllib.parse import urlsplit

    parts = urlsplit(value if "://" in value else "http://" + value)
    return (parts.hostname, parts.port or 80) if parts.hostname else None


def _read_head(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        more = conn.recv(4096)
        if not more or len(data) > MAX_HEAD:
            raise ValueError("incomplete request head")
        data += more
    return data


def _request_line(data: bytes) -> Tuple[str, str, List[bytes], bytes]:
    """(method, target, header lines, bytes read past the head)."""
    head, _, extra = data.partition(b"\r\n\r\n")
    line, *headers = head.split(b"\r\n")
    method, target, _version = line.decode("latin-1").split(" ", 2)
    return method, target, headers, extra


def _target(method: str, target: str, headers: List[bytes]
            ) -> Tuple[str, int, Optional[bytes]]:
    """(host, port, bytes to forward) -- None for CONNECT, which tunnels."""
    if method == "CONNECT":
        host, port = split_host(target)
        return host, port or 443, None
    from urllib.parse import urlsplit

    parts = urlsplit(target)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError("only CONNECT and http:// requests go through the proxy")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    kept = [h for h in headers if h and not h.lower().startswith(
        (b"proxy-", b"connection:", b"keep-alive:"))]
    line = f"{method} {path} HTTP/1.1\r\n".encode("latin-1")
    return parts.hostname, parts.port or 80, line + b"\r\n".join(kept + [b"Connection: close"]) + \
        b"\r\n\r\n"


def _relay(a: socket.socket, b: socket.socket) -> None:
    """Copy both ways until either side closes."""
    def pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (dst, src):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    a.settimeout(None)
    b.settimeout(None)
    other = threading.Thread(target=pump, args=(b, a), daemon=True)
    other.start()
    pump(a, b)
    other.join()

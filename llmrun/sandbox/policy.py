"""A tool's sandbox policy: what the tool file (or MCP server entry) declares in `sandbox:`,
merged with the config (`sandbox`, `sandbox_tools`, `sandbox_deny`, `sandbox_network`) and
the command line (`--no-sandbox`), expanded against HOME into the plan the supervisor
enforces, and described in one line for error results, `-v` and `tools check`.
"""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

from llmrun.base.errors import ConfigError

#: Never readable (nor writable) unless `sandbox.read` names the path or one under it.
SECRETS = (
    "~/.ssh", "~/.gnupg", "~/.aws", "~/.azure", "~/.config/gcloud", "~/.kube", "~/.docker",
    "~/.netrc", "~/.git-credentials", "~/.config/gh", "~/.config/hub", "~/.password-store",
    "~/.local/share/keyrings", "~/.npmrc", "~/.pypirc", "~/.cargo/credentials",
    "~/.cargo/credentials.toml", "~/.gem/credentials", "~/.terraform.d", "~/.config/rclone",
    "~/.mozilla", "~/.config/google-chrome", "~/.config/chromium", "~/.bash_history",
    "~/.zsh_history", "~/.python_history", "~/.local/share/fish/fish_history",
    "/etc/shadow", "/etc/gshadow",
)
#: Never writable, even inside a writable path: what runs at the next login or commit.
STARTUP = ("~/.bashrc", "~/.profile", "~/.bash_profile", "~/.zshrc", "~/.config/autostart",
           "~/.ssh/authorized_keys", "~/.gitconfig")
DEVICES = ("/dev/null", "/dev/zero", "/dev/random", "/dev/urandom")
KEYS = ("read", "write", "network", "unix")
_HOST = re.compile(r"^(\*\.)?[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*"
                   r"[A-Za-z0-9])?)*(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$")

Network = Union[bool, str, List[str]]  # False | True | "public" | hosts


@dataclass
class Declared:
    """What one `sandbox:` mapping says; keys it leaves out are None."""

    read: Optional[List[str]] = None
    write: Optional[List[str]] = None
    network: Optional[Network] = None
    unix: Optional[List[str]] = None
    off: bool = False  # `sandbox: false`
    where: str = ""  # file:line, for messages


def parse(raw: Any, fail: Callable[..., ConfigError], where: str = "") -> Declared:
    """Check a `sandbox:` value (false, true, or a mapping of read/write/network/unix).
    `fail(problem, *keys)` makes the error with the line of `keys` under the sandbox key."""
    if raw is False:
        return Declared(off=True, where=where)
    if raw is True or raw is None:
        return Declared(where=where)
    if not isinstance(raw, dict):
        raise fail("sandbox must be false or a mapping with read, write, network, unix")
    for key in raw:
        if key not in KEYS:
            raise fail(f"unknown sandbox key '{key}' (known: {', '.join(KEYS)})", key)
    out = Declared(where=where)
    for key in ("read", "write", "unix"):
        if key in raw:
            value = raw[key]
            if isinstance(value, str):
                value = [value]
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise fail(f"sandbox.{key} must be a list of paths", key)
            setattr(out, key, list(value))
    if "network" in raw:
        out.network = _network(raw["network"], lambda p: fail(p, "network"))
    return out


def _network(value: Any, fail: Callable[[str], ConfigError]) -> Network:
    if isinstance(value, bool) or value == "public":
        return value
    shape = ("sandbox.network must be false, true, public, or a list of hosts "
             "(wttr.in, \"*.github.com\", api.example.com:8443)")
    if not isinstance(value, list) or not value:
        raise fail(shape + (f"; a host goes in a list: [{value}]" if isinstance(value, str)
                            else ""))
    for host in value:
        if not isinstance(host, str) or not _HOST.match(host) or _bad_port(host):
            raise fail(f"{shape}; not {host!r}")
    return list(value)


def _bad_port(host: str) -> bool:
    port = host.rsplit(":", 1)[1] if re.search(r":\d+$", host) else None
    return port is not None and not 0 < int(port) < 65536


@dataclass
class Policy:
    """The effective policy of one tool or server."""

    name: str
    enabled: bool = True
    read: List[str] = field(default_factory=list)
    write: List[str] = field(default_factory=list)
    network: Network = False
    unix: List[str] = field(default_factory=list)
    deny: List[str] = field(default_factory=list)  # as written (~/.ssh …)
    off_reason: str = ""  # why it runs unconfined
    port_only: bool = False  # sandbox_network: port-only was accepted
    plans: Dict[Any, Dict[str, Any]] = field(default_factory=dict, repr=False, compare=False)
    planning: Any = field(default_factory=threading.Lock, repr=False, compare=False)
    proxy: Any = field(default=None, repr=False, compare=False)  # its running proxy, if any

    @property
    def proxied(self) -> bool:
        return self.network == "public" or isinstance(self.network, list)

    def describe(self) -> str:
        """One line: what the tool may read, write and reach."""
        if not self.enabled:
            return f"unconfined ({self.off_reason})"
        reads = "all but secrets" + (f" (+ {', '.join(self.read)})" if self.read else "")
        writes = "its TMPDIR" + (f" + {', '.join(self.write)}" if self.write else "")
        net = {False: "none", True: "any (direct)", "public": "public hosts via llmrun's proxy"}
        network = net.get(self.network, None) if not isinstance(self.network, list) else \
            f"only {', '.join(self.network)} via llmrun's proxy"
        unix = f"; unix sockets: {', '.join(self.unix)}" if self.unix else ""
        weak = ""
        if self.proxied:
            from llmrun.sandbox.support import probe

            weak = "" if probe().userns else " (port-only: Landlock's port rule, no network " \
                "namespace)"
        return f"reads {reads}; writes {writes}; network: {network}{weak}{unix}"

    def failure_note(self) -> str:
        """The line an error result of a confined call ends with (naming the hosts its
        proxy refused)."""
        refused = list(dict.fromkeys(self.proxy.refused))[-5:] if self.proxy else []
        named = f"; the proxy refused {', '.join(refused)}" if refused else ""
        return (f"[llmrun: this call ran in the sandbox ({self.describe()}){named}; if it "
                f"needs more, the tool's `sandbox:` key or the config's sandbox_tools can "
                f"allow it]")


def expand(path: str, cwd: str) -> str:
    """~ from HOME, relative to `cwd`, symlinks resolved (Landlock sees real paths)."""
    return os.path.realpath(os.path.join(cwd, os.path.expanduser(path)))


def plan(policy: Policy, cwd: str, abi: int, arch: str) -> Dict[str, Any]:
    """What the supervisor enforces for `policy` in `cwd`: the Landlock rules (path, rights),
    the TCP ports (None: TCP not handled) and the socket families (None: any).

    Made again only when a folder it listed has changed since (a new file beside a secret
    must become readable; the walk costs milliseconds, a few stat calls do not).
    """
    key = (cwd, abi, arch)
    with policy.planning:  # a call waits for the plan being made ahead, never makes it twice
        made = policy.plans.get(key)
        if made is None or not _unchanged(made["listed"]):
            made = policy.plans[key] = _shared_plan(policy, cwd, abi, arch)
    return {k: v for k, v in made.items() if k != "listed"}


_MADE: Dict[Any, Dict[str, Any]] = {}  # what a policy says, where -> its plan
_MADE_LOCK = threading.Lock()


def _shared_plan(policy: Policy, cwd: str, abi: int, arch: str) -> Dict[str, Any]:
    """The plan of any policy that says the same, in the same place: a batch's items, or a
    session's runs, each with their own Policy of the same tool, make it once. A pure
    function of its key and of the folders it listed, so sharing it is safe."""
    key = (tuple(policy.read), tuple(policy.write), repr(policy.network), tuple(policy.unix),
           tuple(policy.deny), cwd, abi, arch)
    with _MADE_LOCK:
        made = _MADE.get(key)
        if made is None or not _unchanged(made["listed"]):
            made = _plan(policy, cwd, abi, arch)
            if len(_MADE) > 256:
                _MADE.clear()
            _MADE[key] = made
    return made


def _unchanged(listed: Dict[str, int]) -> bool:
    try:
        return all(os.stat(path).st_mtime_ns == mtime for path, mtime in listed.items())
    except OSError:
        return False


def _plan(policy: Policy, cwd: str, abi: int, arch: str) -> Dict[str, Any]:
    from llmrun.sandbox import landlock as ll
    from llmrun.sandbox.seccomp import AF_NETLINK, AF_UNIX

    secrets = _unique(expand(p, cwd) for p in list(SECRETS) + policy.deny)
    reads = [expand(p, cwd) for p in policy.read]
    deny = [d for d in secrets if not any(_within(d, r) for r in reads)]
    writes = _unique(expand(p, cwd) for p in policy.write)
    protect = _unique(secrets + [expand(p, cwd) for p in STARTUP] + _hooks(writes + [cwd]))
    # folders above a secret may be listed (a tool in ~ must see its own files): so a
    # secret folder's names can be listed too, never opened
    listed: Dict[str, int] = {}
    rules = ll.carve("/", ll.READ, deny + ["/dev"], ll.READ_DIR, listed)
    rules += [(p, ll.READ) for p in reads]
    rules += [(p, ll.DEVICE) for p in DEVICES]
    for root in writes:
        rules += ll.carve(root, ll.WRITE, protect, 0, listed)
    ports: Optional[List[int]] = None
    sockets: Optional[List[int]] = None
    if policy.network is False:
        ports, sockets = [], [AF_NETLINK] + ([AF_UNIX] if policy.unix else [])
    return {"abi": abi, "arch": arch, "grants": list(ll.merge(rules).items()),
            "ports": ports, "sockets": sockets, "listed": listed}


def _hooks(roots: Sequence[str]) -> List[str]:
    """`.git/hooks` under each root whose `.git` exists (elsewhere there is nothing to hook)."""
    return [os.path.join(r, ".git", "hooks") for r in roots if os.path.isdir(os.path.join(r, ".git"))]


def _within(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip("/") + "/")


def _unique(paths: Any) -> List[str]:
    return list(dict.fromkeys(paths))


@dataclass
class Settings:
    """The run's sandbox settings: on or off, the config's extra deny paths and per-tool
    overrides, and whether a host list may fall back to Landlock's port-only rule."""

    enabled: bool = True
    off_reason: str = ""
    deny: List[str] = field(default_factory=list)
    tools: Dict[str, Declared] = field(default_factory=dict)
    port_only: bool = False

    def policy(self, name: str, declared: Optional[Declared]) -> Policy:
        """The effective policy of tool or server `name`: its own declaration, then the
        config's sandbox_tools entry for it (keys it gives replace the tool's)."""
        mine = declared or Declared()
        override = self.tools.get(name)
        if not self.enabled:
            return Policy(name, False, off_reason=self.off_reason)
        if override is not None and override.off:
            return Policy(name, False, off_reason=f"sandbox_tools in {override.where}")
        if override is None and mine.off:
            return Policy(name, False, off_reason=f"sandbox: false in {mine.where}")
        pick = lambda key: getattr(override, key) if override is not None and \
            getattr(override, key) is not None else getattr(mine, key)  # noqa: E731
        return Policy(name, True, pick("read") or [], pick("write") or [],
                      pick("network") if pick("network") is not None else False,
                      pick("unix") or [], list(self.deny), port_only=self.port_only)


def settings_for(cfg: Any, no_sandbox: bool = False, extra_deny: Sequence[str] = ()) -> Settings:
    """The run's Settings from the config (attributes it may lack count as unset) and the
    command line; llmrun's own config file and run log are always denied."""
    if no_sandbox:
        return Settings(False, "--no-sandbox")
    if getattr(cfg, "sandbox", True) is False:
        return Settings(False, f"sandbox: false in {getattr(cfg, 'sandbox_where', '') or 'the config'}")
    from llmrun.runlog.settings import from_config

    log = from_config(cfg).path  # LLMRUN_LOG_DB, log_db or the default place: where it is
    keys = [getattr(p, "api_key_file", None) for p in (getattr(cfg, "providers", None) or {})
            .values()]
    own = [p for p in [getattr(cfg, "path", None), log] + keys if p] + _own_dirs()
    own += [log + suffix for suffix in ("-wal", "-shm", "-journal")] if log else []
    deny = list(getattr(cfg, "sandbox_deny", None) or []) + own + [p for p in extra_deny if p]
    return Settings(True, "", deny, dict(getattr(cfg, "sandbox_tools", None) or {}),
                    getattr(cfg, "sandbox_network", None) == "port-only")


def _own_dirs() -> List[str]:
    """llmrun's default config folder and state folder (the run log), wherever XDG puts them."""
    home = os.path.expanduser("~")
    configs = {os.environ.get("XDG_CONFIG_HOME") or "", os.path.join(home, ".config")}
    states = {os.environ.get("XDG_STATE_HOME") or "", os.path.join(home, ".local", "state")}
    return sorted(os.path.join(d, "llmrun") for d in configs | states if d)  # XDG's and ~'s

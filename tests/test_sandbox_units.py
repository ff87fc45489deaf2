"""Unit tests of the sandbox's parts: the policy keys and their merging, the "everything
but" Landlock grants, the seccomp program (run through a small BPF interpreter, then for real
in a child), the proxy's address rules, and the environment-block wipe."""

import ipaddress
import os
import shutil
import subprocess
import sys

import pytest

from llmrun.base.errors import ConfigError
from llmrun.sandbox import landlock as ll
from llmrun.sandbox import seccomp
from llmrun.sandbox.policy import Declared, Policy, Settings, parse, plan
from llmrun.sandbox.proxy import Proxy, Refused, Rules, is_public, unwrap


def fail(problem, *keys):
    return ConfigError(f"{'.'.join(keys)}: {problem}")


@pytest.mark.parametrize("raw, words", [
    ("yes", "must be false or a mapping"), ({"writes": ["."]}, "unknown sandbox key 'writes'"),
    ({"read": [1]}, "sandbox.read must be a list of paths"),
    ({"network": "everything"}, "a host goes in a list: [everything]"),
    ({"network": ["a b"]}, "not 'a b'"), ({"network": ["x.com:99999"]}, "not 'x.com:99999'"),
    ({"network": []}, "sandbox.network must be")])
def test_bad_sandbox_values_are_refused(raw, words):
    with pytest.raises(ConfigError) as info:
        parse(raw, fail)
    assert words in info.value.message


def test_good_sandbox_values():
    got = parse({"read": "~/notes", "write": [".", "~/out"], "network": ["wttr.in",
                 "*.github.com", "api.example.com:8443", "[::1]:80", "127.0.0.1:8090"],
                 "unix": ["/run/x.sock"]}, fail)
    assert got.read == ["~/notes"] and got.write == [".", "~/out"] and len(got.network) == 5
    assert parse(False, fail).off and not parse(None, fail).off
    assert parse({"network": "public"}, fail).network == "public"


def test_settings_merge_the_config_over_the_tool():
    tool = Declared(write=["."], network="public")
    site = Settings(tools={"t": Declared(network=["h.example"])}, deny=["~/private"])
    got = site.policy("t", tool)
    assert got.enabled and got.write == ["."] and got.network == ["h.example"]
    assert got.deny == ["~/private"]
    assert not Settings(tools={"t": Declared(off=True, where="c:3")}).policy("t", tool).enabled
    assert Settings(tools={"t": Declared()}).policy("t", Declared(off=True)).enabled
    assert "sandbox: false in f:2" in Settings().policy("t", Declared(off=True, where="f:2")) \
        .describe()
    assert Settings(False, "--no-sandbox").policy("t", tool).describe() == \
        "unconfined (--no-sandbox)"


def test_carve_grants_everything_but_the_denied_path(tmp_path):
    for d in ("a/b/secret", "a/b/open", "a/c", "d"):
        (tmp_path / d).mkdir(parents=True)
    (tmp_path / "a" / "file").write_text("x")
    (tmp_path / "a" / "link").symlink_to(tmp_path / "a" / "b" / "secret")
    got = dict(ll.carve(str(tmp_path), ll.READ, [str(tmp_path / "a/b/secret")], ll.READ_DIR))
    assert got == {str(tmp_path): ll.READ_DIR, str(tmp_path / "a"): ll.READ_DIR,
                   str(tmp_path / "a/b"): ll.READ_DIR, str(tmp_path / "a/b/open"): ll.READ,
                   str(tmp_path / "a/c"): ll.READ, str(tmp_path / "a/file"): ll.READ,
                   str(tmp_path / "d"): ll.READ}  # the link gets no rule of its own
    assert ll.carve(str(tmp_path), ll.READ, [str(tmp_path)]) == []
    assert ll.carve(str(tmp_path / "d"), ll.READ, [str(tmp_path / "a")]) == \
        [(str(tmp_path / "d"), ll.READ)]
    # a denied name that does not exist keeps its parent closed (it cannot be created)
    assert str(tmp_path / "d") not in dict(ll.carve(str(tmp_path), ll.WRITE,
                                                    [str(tmp_path / "d/.bashrc")]))


def test_fs_rights_follow_the_abi():
    assert ll.fs_rights(1) == (1 << 13) - 1 and ll.fs_rights(3) & ll.TRUNCATE
    assert not ll.fs_rights(2) & ll.TRUNCATE and ll.fs_rights(7) & ll.IOCTL_DEV


def test_the_plan_protects_secrets_and_start_up_files_inside_a_writable_home(tmp_path,
                                                                            monkeypatch):
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / "work").mkdir()
    (home / ".bashrc").write_text("")
    monkeypatch.setenv("HOME", str(home))
    got = dict(plan(Policy("t", write=["."]), str(home), 7, "x86_64")["grants"])
    assert got[str(home / "work")] & ll.WRITE_FILE
    assert not got.get(str(home / ".bashrc"), 0) & ll.WRITE_FILE  # readable, not writable
    assert str(home / ".ssh") not in got
    assert not got.get(str(home), 0) & (ll.MAKE_REG | ll.WRITE_FILE)


def run_bpf(prog, nr, arch, args=(0, 0)):
    """A classic-BPF interpreter for the instructions the filter uses."""
    data = {0: nr, 4: arch, 16: args[0], 24: args[1]}
    acc, pc = 0, 0
    while True:
        code, jt, jf, k = prog[pc]
        if code == seccomp.LD_W_ABS:
            acc = data.get(k, 0)
        elif code == seccomp.AND_K:
            acc &= k
        elif code == seccomp.RET_K:
            return k
        elif code in (seccomp.JEQ_K, seccomp.JGE_K):
            hit = acc == k if code == seccomp.JEQ_K else acc >= k
            pc += jt if hit else jf
        pc += 1


def test_the_seccomp_program_decides_as_intended():
    audit, nrs = seccomp.ARCHES["x86_64"]
    deny = seccomp.RET_ERRNO | seccomp.EPERM
    closed = seccomp.program("x86_64", [seccomp.AF_NETLINK])
    assert run_bpf(closed, nrs["socket"], audit, (seccomp.AF_INET, 1)) == deny
    assert run_bpf(closed, nrs["socket"], audit, (seccomp.AF_UNIX, 1)) == deny
    assert run_bpf(closed, nrs["socket"], audit, (seccomp.AF_NETLINK, 3)) == seccomp.RET_ALLOW
    assert run_bpf(closed, nrs["io_uring_setup"], audit) == deny
    assert run_bpf(closed, 0, audit) == seccomp.RET_ALLOW  # read(2)
    assert run_bpf(closed, 0x40000000 + 41, audit) == deny  # x32
    assert run_bpf(closed, 41, 0x40000003) == seccomp.RET_KILL_PROCESS  # another ABI
    proxied = seccomp.program("x86_64", [seccomp.AF_INET], stream_only=True)
    assert run_bpf(proxied, 41, audit, (seccomp.AF_INET, 1 | 0o2000000)) == seccomp.RET_ALLOW
    assert run_bpf(proxied, 41, audit, (seccomp.AF_INET, 2)) == deny  # SOCK_DGRAM
    assert run_bpf(seccomp.program("x86_64", None), 41, audit, (2, 2)) == seccomp.RET_ALLOW


def test_the_seccomp_filter_works_for_real_in_a_child():
    code = ("import socket, sys; sys.path.insert(0, sys.argv[1]); "
            "from llmrun.sandbox import seccomp as s; s.no_new_privs(); "
            "s.install(s.program(s.machine(), [s.AF_NETLINK]))\n"
            "try:\n    socket.socket(); print('open')\nexcept PermissionError:\n    print('closed')")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code, root], capture_output=True, text=True)
    assert out.stdout.strip() == "closed", out.stderr


@pytest.mark.parametrize("address, public", [
    ("8.8.8.8", True), ("127.0.0.1", False), ("10.1.2.3", False), ("169.254.169.254", False),
    ("100.64.0.1", False), ("0.1.2.3", False), ("168.63.129.16", False),
    ("::ffff:127.0.0.1", False), ("2002:7f00:1::", False), ("64:ff9b::a00:1", False),
    ("64:ff9b::808:808", True), ("fd00:ec2::254", False), ("::1", False),
    ("2606:4700::1111", True)])
def test_only_public_addresses_pass(address, public):
    assert is_public(ipaddress.ip_address(address)) is public


def test_unwrap_and_the_host_rules():
    assert str(unwrap(ipaddress.ip_address("::ffff:10.0.0.1"))) == "10.0.0.1"
    rules = Rules(["wttr.in", "*.github.com", "api.example.com:8443", "127.0.0.1:9"])
    assert rules.named("wttr.in", 443) and rules.named("wttr.in", 80)
    assert not rules.named("wttr.in", 22) and not rules.named("evil.wttr.in", 443)
    assert rules.named("api.github.com", 443) and not rules.named("github.com", 443)
    assert rules.named("api.example.com", 8443) and not rules.named("api.example.com", 443)
    assert rules.literal("127.0.0.1") and not rules.literal("localhost")


def test_the_proxy_refuses_a_name_that_resolves_to_loopback():
    proxy = Proxy(["localhost:80"], unix=True)
    try:
        with pytest.raises(Refused) as info:
            proxy.check("localhost", 80)
        assert "not a public address" in str(info.value)
        with pytest.raises(Refused):
            proxy.check("other.example", 80)
    finally:
        proxy.close()
    assert not os.path.exists(proxy.path)


def test_the_environment_block_keeps_names_but_loses_secret_values():
    code = ("import os, sys; sys.path.insert(0, sys.argv[1]); "
            "from llmrun.sandbox.environ import harden; "
            "from llmrun.tools.childenv import is_secret; harden(is_secret); "
            "block = open('/proc/self/environ', 'rb').read(); "
            "print(b'tok-123' in block, b'MY_TOKEN=' in block, b'plain-value' in block, "
            "os.environ['MY_TOKEN'])")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    out = subprocess.run([sys.executable, "-c", code, root], capture_output=True, text=True,
                         env=dict(os.environ, MY_TOKEN="tok-123", OTHER="plain-value"))
    assert out.stdout.split() == ["False", "True", "True", "tok-123"], out.stderr


def test_a_fork_server_that_died_is_replaced(tmp_path):
    from llmrun.sandbox import launch
    from llmrun.tools.process import run_process

    server = launch._zygote()
    server.proc.kill()  # it dies while it waits (and cannot remove its folder)
    server.proc.wait()
    shutil.rmtree(server.folder)
    out = run_process(["sh", "-c", "echo $TMPDIR"], dict(os.environ), 30, 1000,
                      policy=Policy("t"))
    import tempfile

    folder, own = os.path.split(out.stdout.strip().decode())
    assert out.returncode == 0 and own.startswith("llmrun-tool-"), out
    assert os.path.dirname(folder) == tempfile.gettempdir()  # the fork server's folder
    assert os.path.basename(folder).startswith("llmrun-tools-")
    assert launch._zygote() is not server


def test_a_confined_call_reports_its_exit_and_holds_its_group_until_released(tmp_path):
    """The tool is not llmrun's child: its keeper says its pid and exit code, and keeps it
    unreaped (its group id ours) until llmrun lets go; a kill stops what left the group."""
    from llmrun.sandbox import launch

    marker = tmp_path / "escaped"
    script = f"setsid sh -c 'sleep 30; touch {marker}' & echo $$; exit 7"
    proc = launch.start(["sh", "-c", script], Policy("t", write=[str(tmp_path)]),
                        dict(os.environ))
    try:
        proc.stdin.close()
        assert int(proc.stdout.readline()) == proc.pid
        assert proc.wait(timeout=30) == 7
        with open(f"/proc/{proc.pid}/stat") as fh:  # a zombie, still ours
            assert fh.read().rsplit(")", 1)[1].split()[0] == "Z"
        assert not proc.kill_group()  # over: nothing is signalled any more
    finally:
        proc.release()
    deadline = __import__("time").monotonic() + 10
    while os.path.exists(f"/proc/{proc.pid}") and __import__("time").monotonic() < deadline:
        __import__("time").sleep(0.01)
    assert not os.path.exists(f"/proc/{proc.pid}")  # reaped once released


def test_killing_a_confined_call_stops_what_left_its_group(tmp_path):
    from llmrun.sandbox import launch

    script = "setsid sleep 300 & echo started; sleep 300"
    proc = launch.start(["sh", "-c", script], Policy("t"), dict(os.environ))
    try:
        proc.stdin.close()
        assert proc.stdout.readline() == b"started\n"
        assert proc.kill_group()
        assert proc.wait(timeout=30) == -9
        left = [line for line in os.popen("ps -eo pid,args").read().splitlines()
                if "sleep 300" in line and "sh -c" not in line]
        assert not left, left
    finally:
        proc.release()


def test_the_fork_server_is_warmed_for_yaml_tools_only(monkeypatch):
    """MCP servers start under supervisors of their own: a run with only MCP tools starts no
    fork server (a Python start-up for nothing, on a batch's critical first second)."""
    import llmrun.sandbox.launch as launch
    from llmrun.api.options import RunOptions
    from llmrun.api.run import _warm_sandbox
    from llmrun.settings.config import Config

    calls = []
    monkeypatch.setattr(launch, "warm_up", lambda *a: calls.append(a))
    for name in ("LLMRUN_TOOLS", "LLMRUN_MCP"):
        monkeypatch.delenv(name, raising=False)
    cfg = Config()
    _warm_sandbox(RunOptions(mcp=["servers.json"]), cfg)
    assert calls == []
    _warm_sandbox(RunOptions(tools=["tools/"], mcp=["servers.json"]), cfg)
    assert calls == [()]
    _warm_sandbox(RunOptions(tools=["tools/"], no_sandbox=True), cfg)
    assert calls == [()]

"""Issue 19: every finding, reproduced the way a hostile model would try it, through the CLI
as a real subprocess (HOME, the working directory and TMPDIR in a temporary folder), for
command, shell and python tools and a stdio MCP server -- and shown blocked. We run as root,
so all of it holds for root too (Landlock confines root; the tool has no capabilities)."""

import os
import signal
import subprocess
import sys
import time

import pytest
from sandbox_helpers import AWS, KEY, Listener, World, hanging_tool, shell_args

KINDS = ["cmd", "sh", "py", "mcp"]
DISK = ("for d in /dev/vda /dev/sda /dev/nvme0n1 /dev/loop0 /dev/kmsg; do "
        "[ -e $d ] && exec head -c 1 $d; done")  # the first device this machine has


@pytest.fixture
def world(tmp_path):
    return World(tmp_path)


def shell(world, kind, command, *more, cwd=None, env=None):
    return world.run_tool(kind, shell_args(kind, command), *more, cwd=cwd, env=env)


@pytest.mark.parametrize("kind", KINDS)
def test_secrets_cannot_be_read_by_any_kind_of_tool_even_from_home(world, kind):
    home = world.home
    paths = ["~/.ssh/id_rsa", ".ssh/id_rsa", "~/.aws/credentials", "~/link-to-ssh/id_rsa",
             f"/proc/self/root{home}/.ssh/id_rsa", f"/proc/$$/cwd/.ssh/id_rsa", "/etc/shadow"]
    for path in paths:
        done = shell(world, kind, f"cat {path}", cwd=home)
        assert KEY not in done.stdout and AWS not in done.stdout, (path, done.stdout)
        assert done.returncode == 7 and "Permission denied" in done.stdout, (path, done.stdout)
    listing = shell(world, kind, "ls -a; ls ~/.ssh/", cwd=home)  # names, never contents
    assert "notes.txt" in listing.stdout and KEY not in listing.stdout
    ordinary = shell(world, kind, "cat ~/notes.txt; hello-tool", cwd=home)  # the rest reads
    assert ordinary.returncode == 0, ordinary.stdout + ordinary.stderr
    assert "my notes" in ordinary.stdout and "hello from local bin" in ordinary.stdout


@pytest.mark.parametrize("kind", KINDS)
def test_no_login_hook_can_be_planted_even_with_write_dot_at_home(world, kind):
    sandbox = {"write": ["."]}
    world.write_tools("".join(f"""
  - name: {name}
    description: writes
    parameters: {{type: object, properties: {{a: {{type: string}}}}}}
    shell: 'eval "$LLMRUN_ARG_A"'
    sandbox: {{write: [.]}}
""" for name in ("w",)))
    name = "w" if kind != "mcp" else "mcp"
    if kind == "mcp":
        world.mcp_file(sandbox=sandbox)
    attacks = ["echo evil >> ~/.bashrc", "echo evil > ~/.profile", "echo evil > ~/.zshrc",
               "mkdir -p ~/.config/autostart && echo evil > ~/.config/autostart/x.desktop",
               "echo evil >> ~/.ssh/authorized_keys", "echo evil > ~/.gitconfig",
               "mv ~/.bashrc ~/old-rc", "rm ~/.bashrc", "echo evil > ~/.ssh/id_rsa"]
    for attack in attacks:
        done = world.run_tool(name, shell_args(kind, attack), cwd=world.home)
        assert done.returncode == 7 and "denied" in done.stdout, (attack, done.stdout)
    assert (world.home / ".bashrc").read_text() == "# my bashrc\n"
    assert (world.home / ".ssh" / "id_rsa").read_text() == KEY
    for made in (".profile", ".zshrc", ".config/autostart", ".ssh/authorized_keys", ".gitconfig"):
        assert not (world.home / made).exists(), made
    (world.home / "work").mkdir()
    ok = world.run_tool(name, shell_args(kind, "echo report > ~/work/out.txt"), cwd=world.home)
    assert ok.returncode == 0, ok.stdout  # a declared write works
    assert (world.home / "work" / "out.txt").read_text() == "report\n"


@pytest.mark.parametrize("kind", KINDS)
def test_writes_go_only_to_the_calls_own_tmpdir(world, kind):
    (world.base / "project").mkdir()
    done = shell(world, kind, 'echo x > "$TMPDIR/ok" && cat "$TMPDIR/ok" && echo $TMPDIR',
                 cwd=world.base / "project")
    assert done.returncode == 0, done.stdout + done.stderr
    private = done.stdout.split()[-1]
    assert private.startswith(str(world.tmp)) and private != str(world.tmp)
    assert not os.path.exists(private), "the call's TMPDIR outlived the call"
    for attack in ("echo x > here.txt", f"echo x > {world.tmp}/shared.txt",
                   f"echo x > {world.home}/new.txt", "echo x > /dev/tty", DISK):
        failed = shell(world, kind, attack, cwd=world.base / "project")
        assert failed.returncode == 7 and "denied" in failed.stdout, (attack, failed.stdout)
    assert os.listdir(world.base / "project") == [] and os.listdir(world.tmp) == []


@pytest.mark.parametrize("kind", KINDS)
def test_no_tcp_no_udp_no_unix_socket_to_the_hosts_services(world, kind):
    listener = Listener()
    try:
        tcp = shell(world, kind, f"python3 -c 'import socket; socket.create_connection("
                                 f"(\"127.0.0.1\", {listener.port}), timeout=5)'")
        udp = shell(world, kind, f"python3 -c 'import socket; socket.socket(socket.AF_INET, "
                                 f"socket.SOCK_DGRAM).sendto(b\"x\", (\"127.0.0.1\", "
                                 f"{listener.udp_port}))'")
        unix = shell(world, kind, "python3 -c 'import socket; socket.socket(socket.AF_UNIX)'")
        v6 = shell(world, kind, "python3 -c 'import socket; socket.socket(socket.AF_INET6)'")
        raw = shell(world, kind, "python3 -c 'import socket; socket.socket(socket.AF_PACKET, "
                                 "socket.SOCK_RAW)'")
        for done in (tcp, udp, unix, v6, raw):
            assert done.returncode == 7 and "Operation not permitted" in done.stdout, done.stdout
        assert listener.received() == []
    finally:
        listener.close()


@pytest.mark.parametrize("kind", KINDS)
def test_llmrun_s_own_environment_stays_hidden(world, kind):
    """The tool walks up through every ancestor's /proc/PID/environ, as root."""
    walk = ('p=$$; while [ "$p" -gt 1 ]; do cat /proc/$p/environ 2>/dev/null; '
            'p=$(awk "{print \\$4}" /proc/$p/stat); done; grep Cap /proc/self/status')
    done = shell(world, kind, walk, env={"MY_SERVICE_TOKEN": "tok-planted-55",
                                         "OPENAI_API_KEY": "sk-planted-66"})
    assert "tok-planted-55" not in done.stdout and "sk-planted-66" not in done.stdout
    assert "CapEff:\t0000000000000000" in done.stdout  # root's capabilities are gone


@pytest.mark.parametrize("kind", ["cmd", "sh", "py"])
def test_setsid_and_double_forked_children_are_gone_after_the_call(world, kind):
    (world.base / "out").mkdir()
    pids = world.base / "out" / "pids"
    quiet = "> /dev/null 2>&1"  # a Python tool waits for its pipes, as a careful tool would
    command = (f"setsid sleep 300 {quiet} & echo $! >> {pids}; "
               f"(setsid sh -c 'sleep 301 {quiet} & echo $! >> {pids}' {quiet} &); "
               f"nohup sleep 302 {quiet} & echo $! >> {pids}; sleep 0.2")
    body = "python: hostile:shell" if kind == "py" else "shell: 'eval \"$LLMRUN_ARG_A\"'"
    world.write_tools(f"""
  - name: spawn
    description: daemonizes
    parameters: {{type: object, properties: {{a: {{type: string}}}}}}
    {body}
    sandbox: {{write: [{world.base / "out"}]}}
""")
    done = world.run_tool("spawn", {"a": command})
    assert done.returncode == 0, done.stdout + done.stderr
    started = [int(p) for p in pids.read_text().split()]
    assert len(started) == 3
    assert [p for p in started if os.path.exists(f"/proc/{p}")] == []


def test_an_mcp_server_that_daemonizes_leaves_nothing_behind(world):
    (world.base / "out").mkdir()
    pidfile = world.base / "out" / "daemon.pid"
    world.mcp_file(daemon=pidfile, sandbox={"write": [str(world.base / "out")]})
    done = world.run_tool("mcp", shell_args("mcp", "echo hi"))
    assert done.returncode == 0, done.stderr
    pid = int(pidfile.read_text())
    assert not os.path.exists(f"/proc/{pid}"), "the server's daemon outlived llmrun"


def test_a_sigkilled_llmrun_leaves_no_tool_process_behind(world):
    pids = hanging_tool(world)
    proc = subprocess.Popen([sys.executable, "-m", "llmrun", "tools", "run", "hang", "{}",
                             "-t", str(world.tools)], env=world.env(), cwd=str(world.home),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while not (pids.exists() and pids.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    pid = int(pids.read_text())
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=10)
    deadline = time.monotonic() + 10
    while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
        time.sleep(0.05)  # the supervisor sees its lifeline close and kills the call
    assert not os.path.exists(f"/proc/{pid}"), "a daemon of the tool outlived llmrun"

"""Shared by the sandbox tests: a fake HOME with planted secrets, hostile tools of every
kind, llmrun as a real subprocess with HOME, the working directory and TMPDIR in a temporary
folder, and loopback listeners the tests open (the only addresses a tool ever aims at)."""

import json
import os
import socket
import subprocess
import sys
import textwrap
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY = "-----BEGIN OPENSSH PRIVATE KEY----- planted-ssh-key-9f3a"
AWS = "aws_secret_access_key = planted-aws-secret-77"
SHELL_SERVER = os.path.join(ROOT, "tests", "mcp_servers", "shell_server.py")

HOSTILE_PY = '''
import os, socket, subprocess

def read(path):
    with open(os.path.expanduser(path)) as fh:
        return fh.read()

def write(path, text="owned"):
    with open(os.path.expanduser(path), "a") as fh:
        fh.write(text)
    return "wrote " + path

def connect(port):
    s = socket.create_connection(("127.0.0.1", int(port)), timeout=5)
    s.sendall(b"leak")
    s.close()
    return "connected"

def udp(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"leak", ("127.0.0.1", int(port)))
    return "sent"

def shell(a):
    done = subprocess.run(["sh", "-c", a], capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(done.stdout + done.stderr)
    return done.stdout + done.stderr
'''


def tools_yaml(extra=""):
    """One tool of each kind, all of them doing what the model asks."""
    return textwrap.dedent(f"""
    tools:
      - name: cmd
        description: runs a program
        parameters: {{type: object, properties: {{a: {{type: string}}, b: {{type: string}}}}}}
        command: [sh, -c, 'eval "$LLMRUN_ARG_A"', x]
      - name: sh
        description: runs a shell command
        parameters: {{type: object, properties: {{a: {{type: string}}}}}}
        shell: 'eval "$LLMRUN_ARG_A"'
      - name: py
        description: runs a shell command from Python
        parameters: {{type: object, properties: {{a: {{type: string}}}}}}
        python: "hostile:shell"
    """) + extra


class World:
    """tmp_path/home with secrets; tools in tmp_path/tools; TMPDIR tmp_path/tmp."""

    def __init__(self, tmp_path):
        self.base = tmp_path
        self.home = tmp_path / "home"
        self.tools = tmp_path / "tools"
        self.tmp = tmp_path / "tmp"
        for d in (self.home / ".ssh", self.home / ".aws", self.home / ".config",
                  self.home / ".local" / "bin", self.tools, self.tmp, tmp_path / "config"):
            d.mkdir(parents=True, exist_ok=True)
        (self.home / ".ssh" / "id_rsa").write_text(KEY)
        (self.home / ".ssh" / "known_hosts").write_text("github.com ssh-ed25519 AAAA\n")
        (self.home / ".aws" / "credentials").write_text(AWS)
        (self.home / "link-to-ssh").symlink_to(self.home / ".ssh")
        (self.home / ".bashrc").write_text("# my bashrc\n")
        (self.home / "notes.txt").write_text("my notes\n")
        hello = self.home / ".local" / "bin" / "hello-tool"
        hello.write_text("#!/bin/sh\necho hello from local bin\n")
        hello.chmod(0o755)
        (self.tools / "hostile.py").write_text(HOSTILE_PY)
        self.write_tools()

    def write_tools(self, extra=""):
        (self.tools / "tools.yaml").write_text(tools_yaml(extra))

    def config(self, text):
        folder = self.base / "config" / "llmrun"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.yaml").write_text(textwrap.dedent(text))

    def env(self, **extra):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("LLMRUN_") and not k.endswith("_API_KEY")}
        env.update(PYTHONPATH=ROOT, HOME=str(self.home), TMPDIR=str(self.tmp),
                   XDG_CONFIG_HOME=str(self.base / "config"),
                   PATH=f"{self.home}/.local/bin:{os.environ.get('PATH', '/usr/bin:/bin')}")
        env.update(extra)
        return env

    def llmrun(self, *args, cwd=None, env=None, timeout=60):
        return subprocess.run([sys.executable, "-m", "llmrun", *args], capture_output=True,
                              text=True, timeout=timeout, env=self.env(**(env or {})),
                              cwd=str(cwd or self.home))

    def run_tool(self, name, args, *more, cwd=None, env=None):
        """`llmrun tools run NAME ARGS -t TOOLS` (exit 0 or 7), or an MCP server's tool."""
        mcp = self.base / "mcp.json"
        where = ["-t", str(self.tools)] if name != "mcp" else \
            ["--mcp", str(mcp if mcp.exists() else self.mcp_file())]
        tool = "sh" if name == "mcp" else name
        return self.llmrun("tools", "run", tool, json.dumps(args), *where, *more, cwd=cwd,
                           env=env)

    def mcp_file(self, sandbox=None, daemon=None):
        server = {"command": sys.executable, "args": [SHELL_SERVER] + (
            ["--daemon", str(daemon)] if daemon else [])}
        if sandbox is not None:
            server["sandbox"] = sandbox
        path = self.base / "mcp.json"
        path.write_text(json.dumps({"mcpServers": {"shell": server}}))
        return path


def shell_args(kind, command):
    """The arguments that make tool `kind` run `command` in a shell."""
    return {"command": command} if kind == "mcp" else {"a": command}


class Listener:
    """A TCP and a UDP socket on 127.0.0.1 that record whatever reaches them."""

    def __init__(self):
        self.tcp = socket.socket()
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(16)
        self.port = self.tcp.getsockname()[1]
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.udp_port = self.udp.getsockname()[1]
        self.got = []
        self._stop = False
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self):
        self.tcp.settimeout(0.1)
        while not self._stop:
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                continue
            with conn:
                conn.settimeout(2)
                try:
                    data = conn.recv(65536)
                except OSError:
                    data = b""
                self.got.append(data)
                try:
                    conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
                except OSError:
                    pass

    def received(self):
        """Everything that arrived, TCP and UDP, once pending connections are served."""
        self.udp.setblocking(False)
        datagrams = []
        while True:
            try:
                datagrams.append(self.udp.recv(65536))
            except OSError:
                break
        self._stop = True
        self._thread.join(5)
        self.tcp.setblocking(False)
        while True:  # connections the kernel accepted that the thread did not serve yet
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                break
            with conn:
                self.got.append(b"(connected)")
        return self.got + datagrams

    def close(self):
        self._stop = True
        self.tcp.close()
        self.udp.close()


def hanging_tool(world):
    """Tool `hang`, which daemonizes a `sleep 300` (its pid appended to the file returned)
    and then hangs itself: what a stop must leave nothing of."""
    (world.base / "out").mkdir()
    pids = world.base / "out" / "pids"
    world.write_tools(f"""
  - name: hang
    description: daemonizes, then hangs
    shell: "setsid sleep 300 & echo $! >> {pids}; sleep 300"
    sandbox: {{write: [{pids.parent}]}}
""")
    return pids

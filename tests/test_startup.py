"""Start-up stays instant: `--version` and every `--help` import no network or YAML stack.

Checked in real subprocesses with `python -X importtime`, which lists every module the
process imported (timing figures are ignored: benchmarks live in bench/)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import List, Set

import click
import pytest

from llmrun import __version__
from llmrun.cli.main import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: What the console script does (setuptools' wrapper imports `main` and calls it).
CONSOLE_SCRIPT = "import sys; from llmrun.cli.main import main; sys.argv[0] = 'llmrun'; sys.exit(main())"
FORBIDDEN = {"requests", "urllib3", "yaml", "jsonschema", "http.client", "ssl",
             "charset_normalizer", "idna", "colorama"}


def imported(args: List[str]) -> "tuple[Set[str], str]":
    """Run llmrun with `args`; return the modules it imported and its stdout."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMRUN_")}
    done = subprocess.run([sys.executable, "-X", "importtime"] + args, capture_output=True,
                          text=True, env=env, cwd=ROOT, stdin=subprocess.DEVNULL, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    modules = {line.split("|")[-1].strip() for line in done.stderr.splitlines()
               if line.startswith("import time:")}
    assert "llmrun.cli.main" in modules  # the probe really saw llmrun's imports
    return modules, done.stdout


def _subcommands() -> List[str]:
    return cli.list_commands(click.Context(cli))


@pytest.mark.parametrize("entry", [["-c", CONSOLE_SCRIPT], ["-m", "llmrun"]],
                         ids=["console-script", "python-m"])
def test_version_imports_no_network_or_yaml(entry):
    modules, out = imported(entry + ["--version"])
    assert out.strip() == f"llmrun {__version__}"
    assert not modules & FORBIDDEN, sorted(modules & FORBIDDEN)


def test_help_imports_no_network_or_yaml():
    modules, out = imported(["-c", CONSOLE_SCRIPT, "--help"])
    assert "Usage: llmrun" in out and "ask" in out
    assert not modules & FORBIDDEN, sorted(modules & FORBIDDEN)


@pytest.mark.parametrize("name", _subcommands())
def test_subcommand_help_imports_no_network_or_yaml(name):
    modules, out = imported(["-c", CONSOLE_SCRIPT, name, "--help"])
    assert f"Usage: llmrun {name}" in out
    assert not modules & FORBIDDEN, sorted(modules & FORBIDDEN)


def test_probe_sees_a_heavy_path():
    """The same probe does see requests when a command really needs it (it can fail)."""
    modules, _ = imported(["-c", "import requests, llmrun.cli.main"])
    assert "requests" in modules and "urllib3" in modules


def test_a_run_without_servers_or_schema_imports_neither_mcp_nor_jsonschema():
    """`ask` with simple tools, no MCP server and no --schema: the MCP client and jsonschema
    stay unloaded (they are imported only by the runs that use them)."""
    cassette = os.path.join(ROOT, "samples", "openrouter-gpt-5.4-nano-weather.yaml")
    modules, out = imported(["-m", "llmrun", "ask", "--replay", cassette, "-t",
                             os.path.join(ROOT, "samples", "tools"), "Weather in Florence?"])
    assert "40" in out
    assert not {m for m in modules if m.startswith(("llmrun.tools.mcp", "mcp", "jsonschema"))}


def test_the_sandbox_supervisor_imports_no_typing():
    """The supervisor (`python -I -S`) starts every MCP server and the fork server: importing
    llmrun's package there must not pull in typing (and with it re, enum, collections)."""
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "from llmrun.sandbox import keeper, landlock, seccomp, zygote, relay; "
            "print(sorted(m for m in ('typing', 're', 'enum') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-I", "-S", "-c", code, ROOT], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"


#: Runs `llmrun ARGS…` in-process and says which modules were imported only after its MCP
#: servers answered and its prefetch thread was done.
LATE_PROBE = """
import sys, threading
import llmrun.tools.mcp.source as source
real, seen = source.start_all, {}
def start_all(*args, **kw):
    servers = real(*args, **kw)
    for thread in threading.enumerate():
        if thread.name == "llmrun-import":
            thread.join()
    seen["up"] = set(sys.modules)
    return servers
source.start_all = start_all
from llmrun.cli.main import _main
try:
    _main(sys.argv[1:])
except SystemExit as exc:
    code = exc.code
late = set(sys.modules) - seen["up"]
print(" ".join(sorted(m for m in late if m.split(".")[0] in ("llmrun", "requests", "urllib3",
                                                              "idna") or m == "encodings.idna")))
sys.stdout.flush()
sys.exit(code)
"""


def test_a_batch_imports_its_run_path_while_its_servers_start(tmp_path):
    """The loop, the tool runner and the HTTP stack are imported while the MCP servers
    start (llmrun/api/prefetch.py): a batch's first items would otherwise import them one
    after the other, each waiting for the other's import lock, before their first request."""
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from drive import env_for, tool_loop
    from server import TestServer

    mcp = tmp_path / "mcp.json"
    mcp.write_text('{"mcpServers": {"fake": {"command": "%s", "args": ["%s", "x"]}}}' % (
        sys.executable, os.path.join(ROOT, "tests", "mcp_servers", "fake_server.py")))
    (tmp_path / "in.jsonl").write_text('{"id": "a", "prompt": "pa"}\n{"id": "b", "prompt": "pb"}\n')
    with TestServer() as server:
        server.responder = tool_loop("t0", lambda prompt: {"x": prompt})
        done = subprocess.run(
            [sys.executable, "-c", LATE_PROBE, "batch", "-q", "--base-url", server.url, "-m", "m",
             "--mcp", str(mcp), "-o", str(tmp_path / "out.jsonl"), str(tmp_path / "in.jsonl")],
            capture_output=True, text=True, env=env_for(tmp_path), cwd=tmp_path, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert len((tmp_path / "out.jsonl").read_text().splitlines()) == 2  # both items ran
    assert done.stdout.split() == [], done.stdout


def test_the_batch_scheduler_imports_no_run_before_its_servers_start():
    """`llmrun batch` imports llmrun.api for its scheduler before it spawns its MCP servers:
    the package leaves the run's modules (the loop, the result, the accumulator) to the
    prefetch that runs while the servers start."""
    code = ("import sys; import llmrun.api.batch, llmrun.api.batchprep, llmrun.api.session; "
            "print(sorted(m for m in ('llmrun.api.run', 'llmrun.loop.result', "
            "'llmrun.loop.accumulator') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "[]"

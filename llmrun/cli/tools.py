"""`llmrun tools list | check | run`: help for tool authors.

Only click is imported at the top: `llmrun --help` lists this group without loading YAML,
jsonschema or subprocess machinery.
"""

from __future__ import annotations

import functools
import sys
from typing import Any, Callable, List, Sequence, Tuple

import click

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

_paths_option = click.option(
    "-t", "--tools", "paths", metavar="PATH", multiple=True,
    help="Tool YAML file or folder; repeatable [default: LLMRUN_TOOLS, then the config "
         "file's tools].")
_mcp_option = click.option(
    "--mcp", "mcp", metavar="SPEC", multiple=True,
    help="MCP servers: an mcpServers JSON/YAML file, or a server NAME from the config; "
         "repeatable [env LLMRUN_MCP].")


def _reports_errors(func: Callable[..., None]) -> Callable[..., None]:
    """An LlmrunError becomes one `llmrun: error:` line and its exit code."""
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        from llmrun.base.errors import LlmrunError, report

        try:
            func(*args, **kwargs)
        except LlmrunError as exc:
            sys.exit(report(exc))
    return wrapper


def default_paths(given: Sequence[str], mcp: Sequence[str] = ()) -> List[str]:
    """-t paths, else LLMRUN_TOOLS (os.pathsep-separated), else the config file's `tools`."""
    import os

    from llmrun.base.errors import UsageError
    from llmrun.settings.config import env, load_config

    from llmrun.settings.config import config_path

    paths = list(given)
    if not paths:
        from_env = env("LLMRUN_TOOLS")
        paths = [p for p in from_env.split(os.pathsep) if p] if from_env else \
            list(load_config().tools)
    if not paths and not mcp:
        raise UsageError("no tool files: give -t FILE|DIR or --mcp SPEC, set LLMRUN_TOOLS, or "
                         f"add 'tools: [PATH, …]' to the config file ({config_path()})")
    return paths


_no_sandbox_option = click.option("--no-sandbox", is_flag=True,
                                  help="Run the tools unconfined (no sandbox).")


def _open(paths: Sequence[str], mcp: Sequence[str], no_sandbox: bool = False,
          enforce: bool = True) -> Any:
    """The tools of the YAML paths and MCP servers, while the servers run."""
    from llmrun.sandbox.policy import settings_for
    from llmrun.settings.config import load_config
    from llmrun.tools.sources import mcp_names, open_tools

    cfg = load_config()
    servers = mcp_names(mcp, cfg)
    return open_tools(default_paths(paths, servers), (), servers, cfg,
                      sandbox=settings_for(cfg, no_sandbox), enforce=enforce or bool(servers))


@click.group(context_settings=CONTEXT)
def tools() -> None:
    """List, check and try out tool definitions."""


@tools.command("list", context_settings=CONTEXT)
@click.argument("files", nargs=-1, metavar="[PATH]...")
@_paths_option
@_mcp_option
@click.option("--json", "json_", is_flag=True, help="One JSON array of the tool schemas.")
@_reports_errors
def list_tools(files: Tuple[str, ...], paths: Tuple[str, ...], mcp: Tuple[str, ...],
               json_: bool) -> None:
    """List the tools the model would be offered."""
    with _open(files + paths, mcp, enforce=False) as loaded:
        _list(loaded, json_)


def _list(loaded: List[Any], json_: bool) -> None:
    from llmrun.base.safetext import printable

    if json_:
        import json

        click.echo(json.dumps([t.schema() for t in loaded], indent=2, ensure_ascii=False))
        return
    width = max((len(t.name) for t in loaded), default=4)
    for t in loaded:
        summary = printable(" ".join(t.description.split()))  # an MCP server wrote it
        summary = summary if len(summary) <= 72 else summary[:71].rstrip() + "…"
        flags = " (confirm)" if t.confirm else ""
        click.echo(f"{printable(t.name):<{width}}  {t.kind:<7}  {summary}{flags}  "
                   f"[{printable(t.where)}]")


@tools.command(context_settings=CONTEXT)
@click.argument("files", nargs=-1, metavar="[PATH]...")
@_paths_option
@_mcp_option
@_no_sandbox_option
@_reports_errors
def check(files: Tuple[str, ...], paths: Tuple[str, ...], mcp: Tuple[str, ...],
          no_sandbox: bool) -> None:
    """Check tool files: YAML, keys, schemas, names, Python imports; and MCP servers.
    Also: what this machine's sandbox supports, and each tool's effective policy.

    Every problem is printed with its file and line; any problem exits 3.
    """
    from llmrun.base.errors import CONFIG
    from llmrun.tools.checks import check_paths, sandbox_report

    report = check_paths(default_paths(files + paths, mcp))
    if mcp:
        from llmrun.base.errors import ConfigError

        try:
            with _open((), mcp, no_sandbox) as served:
                report.tools.extend(served)
        except ConfigError as exc:
            report.problems.append(exc.message)
    sandbox = sandbox_report(report, _settings(no_sandbox, report))
    for warning in report.warnings:
        click.echo(f"llmrun: warning: {warning}", err=True)
    for problem in report.problems:
        click.echo(f"llmrun: error: {problem}", err=True)
    if report.problems:
        sys.exit(CONFIG)
    tools, files = len(report.tools), report.files
    click.echo(f"ok: {tools} tool{'s' if tools != 1 else ''} in {files} "
               f"file{'s' if files != 1 else ''}"
               + (f" ({', '.join(t.name for t in report.tools)})" if tools else ""))
    for line in sandbox:  # what this machine enforces, and each tool's policy
        click.echo(line)


def _settings(no_sandbox: bool, report: Any) -> Any:
    """The config's sandbox settings; a broken config file is one more problem."""
    from llmrun.base.errors import ConfigError
    from llmrun.sandbox.policy import Settings, settings_for
    from llmrun.settings.config import load_config

    try:
        return settings_for(load_config(), no_sandbox)
    except ConfigError as exc:
        report.problems.append(exc.message)
        return Settings()


@tools.command(context_settings=CONTEXT)
@click.argument("name")
@click.argument("arguments", default="{}", metavar="[JSON]")
@_paths_option
@_mcp_option
@click.option("--yes", is_flag=True, help="Run a confirm: true tool without asking.")
@_no_sandbox_option
@_reports_errors
def run(name: str, arguments: str, paths: Tuple[str, ...], mcp: Tuple[str, ...],
        yes: bool, no_sandbox: bool) -> None:
    """Run tool NAME with JSON arguments, exactly as for a model; print its result.

    Exits 7 when the result is an error result (the text the model would see is still
    printed on stdout).
    """
    from llmrun.base.context import RunContext
    from llmrun.base.errors import TOOL_ERROR, ConfigError
    from llmrun.base.signals import handling
    from llmrun.tools.confirm import ask_terminal
    from llmrun.tools.runner import Toolbox

    ctx = RunContext()
    with ctx.running(), handling(ctx), _open(paths, mcp, no_sandbox) as tools:
        loaded = {t.name: t for t in tools}
        if name not in loaded:
            raise ConfigError(f"no tool named '{name}' (loaded: {', '.join(loaded) or 'none'})")
        result = Toolbox([loaded[name]], yes=yes, ask=ask_terminal).run_call(name, arguments)
    stdout = sys.stdout
    click.echo(result.content, file=stdout)
    if result.is_error:
        click.echo(f"llmrun: error: tool '{name}' returned an error result "
                   f"({result.duration:.2f} s)", err=True)
        sys.exit(TOOL_ERROR)  # the result is an error result (1 means a bug)

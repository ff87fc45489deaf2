import json
import os
import sys

import pytest
from click.testing import CliRunner
from hypothesis import settings

#: CI replays the same examples every time (a red CI must be reproducible); elsewhere the
#: fuzz tests explore new ones each run.
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)

from server import TestServer  # noqa: E402

SAMPLE_TOOLS = os.path.join(ROOT, "samples", "tools")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch, tmp_path):
    """No user config, no keys and no LLMRUN_* settings leak into a test."""
    for name in list(os.environ):
        if name.startswith("LLMRUN_") or name.endswith("_API_KEY") or name == "NO_COLOR":
            monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # the run log stays here


@pytest.fixture
def server():
    with TestServer() as srv:
        yield srv


class Run:
    def __init__(self, result):
        self.result = result
        self.code = result.exit_code
        self.stdout = result.stdout
        self.stderr = result.stderr

    def json(self):
        return json.loads(self.stdout)

    def __repr__(self):
        return f"<Run {self.code} stdout={self.stdout!r} stderr={self.stderr!r}>"


def invoke(args, env=None, input=None):
    """Run the CLI in-process, the way a user would type it."""
    from llmrun.cli.main import cli

    full_env = {"LLMRUN_API_KEY": "sk-test-key"}
    full_env.update(env or {})
    result = CliRunner().invoke(cli, args, env=full_env, input=input, catch_exceptions=False)
    return Run(result)


@pytest.fixture
def run_cli():
    return invoke

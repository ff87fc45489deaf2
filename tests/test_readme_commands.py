"""The README's first two commands, exactly as written, on a clean copy of the repository in
a virtual environment the test makes: what a newcomer types first must work."""

import os
import re
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT

NESTED = "LLMRUN_README_TEST_NESTED"


def readme_commands():
    """The two commands of the README's first sh block (the test breaks if they drift)."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as fh:
        block = re.search(r"```sh\n(.*?)```", fh.read(), re.S).group(1)
    lines = [line for line in block.splitlines() if line.strip() and not line.startswith("#")]
    assert len(lines) == 2, lines
    return lines


def clean_copy(target):
    """The files git tracks (what a fresh clone has), else the tree without local state."""
    if shutil.which("git") and os.path.isdir(os.path.join(ROOT, ".git")):
        files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                               check=True).stdout.decode().split("\0")
        for name in filter(None, files):
            source = os.path.join(ROOT, name)
            if os.path.isfile(source):
                os.makedirs(os.path.dirname(os.path.join(target, name)), exist_ok=True)
                shutil.copy2(source, os.path.join(target, name))
    else:
        shutil.copytree(ROOT, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns(
            ".venv", ".git", "__pycache__", "*.egg-info", ".pytest_cache", ".hypothesis"))


@pytest.mark.skipif(os.environ.get(NESTED) == "1", reason="already inside the README's run")
@pytest.mark.skipif(sys.platform == "win32", reason="the README's commands are POSIX shell")
def test_the_readme_first_two_commands_work_on_a_clean_copy(tmp_path):
    run, test = readme_commands()
    repo = tmp_path / "llmrun"
    repo.mkdir()
    clean_copy(str(repo))
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("LLMRUN_", "PYTHONPATH", "VIRTUAL_ENV")) and
           not k.endswith("_API_KEY")}
    env.update(HOME=str(tmp_path), XDG_CONFIG_HOME=str(tmp_path / "config"))
    first = subprocess.run(["bash", "-c", run], cwd=repo, env=env, capture_output=True,
                           text=True, timeout=900, stdin=subprocess.DEVNULL)
    assert first.returncode == 0, first.stderr[-3000:]
    assert "Florence" in first.stdout and "40" in first.stdout
    assert "llmrun:" in first.stderr.splitlines()[-1]  # the usage line
    # the nested suite: a small part of it, so CI's time is not doubled, and not this test
    env.update({NESTED: "1", "PYTEST_ADDOPTS": "-q -p no:cacheprovider tests/test_sse.py "
                                                "tests/test_cassettes.py"})
    second = subprocess.run(["bash", "-c", test], cwd=repo, env=env, capture_output=True,
                            text=True, timeout=1800, stdin=subprocess.DEVNULL)
    assert second.returncode == 0, second.stdout[-3000:] + second.stderr[-3000:]
    assert re.search(r"\d+ passed", second.stdout), second.stdout[-2000:]

"""The samples for scripts: the daily cron job, the commit-message pipe and the sample
config, each run for real against the loopback TestServer."""

import json
import os
import shutil
import subprocess
import sys

import pytest
from conftest import ROOT
from server import Reply, TestServer, sse
from streams import answer_step, weather_call_step

SAMPLES = os.path.join(ROOT, "samples")
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX shell scripts")


def script_env(server_url, **extra):
    env = dict(os.environ, PYTHONPATH=ROOT, LLMRUN_BIN=f"{sys.executable} -m llmrun",
               LLMRUN_BASE_URL=server_url, LLMRUN_MODEL="m", LLMRUN_API_KEY="sk-test")
    env.update(extra)
    return env


def test_cron_daily_keeps_each_run_in_the_log(tmp_path):
    db = tmp_path / "state" / "runs.db"
    tools = os.path.join(SAMPLES, "tools")
    with TestServer() as server:
        server.add(Reply(sse(*weather_call_step())), Reply(sse(*answer_step("Sunny, 40 C."))),
                   Reply(b'{"error": {"message": "quota exceeded"}}', 400,
                         {"Content-Type": "application/json"}, mode="length"))
        env = script_env(server.url, LLMRUN_LOG_DB=str(db), LLMRUN_DAILY_TOOLS=tools)
        runs = [subprocess.run(["sh", os.path.join(SAMPLES, "cron-daily.sh")], env=env,
                               capture_output=True, text=True, timeout=60,
                               stdin=subprocess.DEVNULL)
                for _ in range(2)]
    assert [r.returncode for r in runs] == [0, 4]
    assert runs[0].stdout == runs[0].stderr == "" and runs[1].stdout == ""
    assert runs[1].stderr.startswith("llmrun: error: ") and "quota exceeded" in runs[1].stderr
    log = subprocess.run([sys.executable, "-m", "llmrun", "log", "--json"], env=env,
                         capture_output=True, text=True, timeout=60)
    second, first = (json.loads(line) for line in log.stdout.splitlines())
    assert (first["exit_code"], second["exit_code"]) == (0, 4)
    assert first["prompt"].startswith("What is today's date")
    show = subprocess.run([sys.executable, "-m", "llmrun", "log", "show", "--json",
                           first["id"]], env=env, capture_output=True, text=True, timeout=60)
    shown = json.loads(show.stdout)
    assert shown["answer"] == "Sunny, 40 C."
    assert [c["result"] for c in shown["tool_calls"]] == ["40 C"]
    failed = subprocess.run([sys.executable, "-m", "llmrun", "log", "--failed", "--json"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert [json.loads(x)["error_type"] for x in failed.stdout.splitlines()] == ["api"]


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_pipe_commit_message_sends_the_diff_and_prints_only_the_message(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-c", "user.email=t@example.org", "-c", "user.name=t"]
    subprocess.run(git + ["init", "-q"], cwd=repo, check=True)
    (repo / "hello.txt").write_text("hello\n")
    subprocess.run(git + ["add", "hello.txt"], cwd=repo, check=True)
    message = "Add a greeting\n\nThe project had nothing to say."
    with TestServer() as server:
        server.add(Reply(sse(*answer_step(message))))
        out = subprocess.run(["sh", os.path.join(SAMPLES, "pipe-commit-message.sh"),
                              "keep it short"], cwd=repo, env=script_env(server.url),
                             capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out
    assert out.stdout == message + "\n"
    assert out.stderr == ""  # -q: nothing but errors
    sent = server.bodies()[0]["messages"]
    assert sent[0]["role"] == "system" and "commit messages" in sent[0]["content"]
    question = sent[1]["content"]
    assert question.startswith("Write a commit message for this diff. keep it short\n\n")
    assert "+++ b/hello.txt" in question and "+hello" in question


def test_pipe_commit_message_with_nothing_to_describe(tmp_path):
    if shutil.which("git") is None:
        pytest.skip("needs git")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    out = subprocess.run(["sh", os.path.join(SAMPLES, "pipe-commit-message.sh")],
                         cwd=tmp_path, env=script_env("http://127.0.0.1:9/v1"),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and "no changes to describe" in out.stderr


def test_sample_config_is_valid(run_cli):
    run = run_cli(["providers", "--json"],
                  env={"LLMRUN_CONFIG": os.path.join(SAMPLES, "config.yaml"),
                       "LLMRUN_API_KEY": None})
    assert run.code == 0, run
    rows = {r["name"]: r for r in run.json()}
    assert rows["openrouter"]["default"] and rows["openrouter"]["source"] == "config"
    assert rows["openrouter"]["base_url"] == "https://openrouter.ai/api/v1"
    assert rows["local"]["key"] == "not needed"
    assert rows["work"]["api_key_env"] == "WORK_LLM_KEY" and rows["work"]["key"] == "not set"

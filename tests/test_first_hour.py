"""A new user's first hour (issue 12), one test per finding, driven as a user would: real
subprocesses, real pipes through `bash -c 'set -o pipefail; …'`, a pty, `env -i` for cron."""

import json
import os
import pty
import shutil
import subprocess
import sys

import drive
import pytest
from conftest import ROOT, SAMPLE_TOOLS
from server import Reply, sse
from streams import answer_step, chunk, text, usage, weather_call_step
from terminal_helpers import read_until_closed

SAMPLES = os.path.join(ROOT, "samples")
CASSETTE = os.path.join(SAMPLES, "openrouter-gpt-5.4-nano-weather.yaml")


def env_for(tmp_path, **extra):
    """A newcomer's environment: no key at all unless a test sets one."""
    return drive.env_for(tmp_path, **{"LLMRUN_API_KEY": None, **extra})


def llmrun(tmp_path, *args, env=None, **kw):
    return drive.llmrun(tmp_path, *args, env={"LLMRUN_API_KEY": None, **(env or {})}, **kw)


def piped(tmp_path, command, env=None):
    """`bash -c 'set -o pipefail; llmrun … | head …'`: the pipeline's status is llmrun's."""
    line = f"set -o pipefail; {sys.executable} -m llmrun {command}"
    return subprocess.run(["bash", "-c", line], capture_output=True, text=True, timeout=60,
                          env=env_for(tmp_path, **(env or {})), cwd=str(tmp_path))


# 2 -- finding the configuration, and the first run ----------------------------------------
def test_config_path_and_show_say_where_settings_come_from(tmp_path):
    proc = llmrun(tmp_path, "config", "path")
    assert proc.returncode == 0
    assert proc.stdout.strip() == str(tmp_path / "config" / "llmrun" / "config.yaml")
    assert "no config file" in proc.stderr
    config = tmp_path / "my.yaml"
    config.write_text("model: my-model\nprovider: openai\n")
    proc = llmrun(tmp_path, "--config", str(config), "config", "show",
                  env={"OPENAI_API_KEY": "sk-abcdefghijklmnop"})
    assert proc.returncode == 0, proc.stderr
    rows = {line.split()[0]: line for line in proc.stdout.splitlines()}
    assert f"'model:' in {config}" in rows["model"] and "my-model" in rows["model"]
    assert f"'provider:' in {config}" in rows["provider"]
    assert "[OPENAI_API_KEY]" in rows["api"] and "sk-abcdefghijklmnop" not in proc.stdout
    proc = llmrun(tmp_path, "config", "show", env={"LLMRUN_CONFIG": str(config),
                                                    "LLMRUN_MODEL": "env-model"})
    assert "env-model  [LLMRUN_MODEL]" in proc.stdout


def test_the_first_run_uses_the_one_provider_whose_key_is_set(tmp_path, server):
    server.add(Reply(sse(*answer_step("hi"))))
    proc = llmrun(tmp_path, "ask", "-v", "--json", "--no-stdin", "--base-url", server.url, "hi",
                  env={"OPENROUTER_API_KEY": "sk-or-test"})
    # --base-url alone means a generic server; without it the preset is used:
    assert proc.returncode == 2 and "no model" in proc.stderr
    proc = llmrun(tmp_path, "config", "show", env={"OPENROUTER_API_KEY": "sk-or-test"})
    assert "openrouter  [first run: OPENROUTER_API_KEY is the only preset key set]" in proc.stdout
    assert "openai/gpt-5.4-nano  [the openrouter preset's default]" in proc.stdout
    proc = llmrun(tmp_path, "ask", "hi", env={"OPENROUTER_API_KEY": "k1", "OPENAI_API_KEY": "k2"})
    assert proc.returncode == 2 and "several presets have a key set" in proc.stderr
    proc = llmrun(tmp_path, "ask", "hi")
    assert proc.returncode == 3 and "OPENROUTER_API_KEY" in proc.stderr  # says what to set


def test_the_first_run_says_so_with_v(tmp_path, server):
    config = tmp_path / "c.yaml"
    config.write_text(f"providers:\n  - name: openrouter\n    base_url: {server.url}\n")
    server.add(Reply(sse(*answer_step("hi"))))
    proc = llmrun(tmp_path, "--config", str(config), "ask", "-v", "--no-stdin", "hi",
                  env={"OPENROUTER_API_KEY": "sk-or-test"})
    assert proc.returncode == 0, proc.stderr
    assert "using openrouter with model openai/gpt-5.4-nano" in proc.stderr
    assert server.bodies()[0]["model"] == "openai/gpt-5.4-nano"


# 3 -- every setting's error names its source -------------------------------------------------
def test_the_sample_config_works_when_copied(tmp_path):
    target = tmp_path / "config" / "llmrun"
    target.mkdir(parents=True)
    shutil.copy(os.path.join(SAMPLES, "config.yaml"), target / "config.yaml")
    proc = llmrun(tmp_path, "providers")
    assert proc.returncode == 0, proc.stderr
    proc = llmrun(tmp_path, "ask", "--replay", CASSETTE, "-t", SAMPLE_TOOLS, "Weather?")
    assert proc.returncode == 0, proc.stderr


def test_a_bad_tool_path_names_where_it_came_from(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("model: m\ntools:\n  - ~/llm-tools\n")
    proc = llmrun(tmp_path, "--config", str(config), "ask", "--base-url", "http://127.0.0.1:9",
                  "hi")
    assert proc.returncode == 3 and f"'tools:' in {config}:2" in proc.stderr
    proc = llmrun(tmp_path, "ask", "--base-url", "http://127.0.0.1:9", "-m", "m", "hi",
                  env={"LLMRUN_TOOLS": "/nope"})
    assert proc.returncode == 3 and "/nope (from LLMRUN_TOOLS)" in proc.stderr


# 4 -- an odd HOME ------------------------------------------------------------------------------
@pytest.mark.parametrize("home", ["/dev/null", None])
def test_no_usable_home_is_no_error(tmp_path, home):
    proc = llmrun(tmp_path, "ask", "--replay", CASSETTE, "-t", SAMPLE_TOOLS, "Weather?",
                  env={"HOME": home, "XDG_CONFIG_HOME": None})
    assert proc.returncode == 0, proc.stderr and "40" in proc.stdout


# 5 -- output errors ------------------------------------------------------------------------
@pytest.mark.parametrize("command", ["providers | head -1",
                                     f"tools list {SAMPLE_TOOLS} | head -0",
                                     f"ask --stream --replay {CASSETTE} -t {SAMPLE_TOOLS} q | "
                                     "head -c1"])
def test_a_closed_pipe_is_never_exit_1(tmp_path, command):
    proc = piped(tmp_path, command)
    assert proc.returncode in (0, 141), (proc.returncode, proc.stderr)
    assert "error" not in proc.stderr


def test_a_full_disk_and_a_closed_stdout_are_one_line_and_exit_3(tmp_path):
    with open("/dev/full", "w") as full:
        proc = subprocess.run([sys.executable, "-m", "llmrun", "ask", "--replay", CASSETTE, "-t",
                               SAMPLE_TOOLS, "q"], stdout=full, stderr=subprocess.PIPE,
                              text=True, env=env_for(tmp_path), timeout=60)
    assert proc.returncode == 3
    assert proc.stderr.strip().splitlines()[-1].startswith("llmrun: error: cannot write")
    proc = subprocess.run(["bash", "-c", f"{sys.executable} -m llmrun providers >&-"],
                          capture_output=True, text=True, env=env_for(tmp_path), timeout=60)
    assert proc.returncode == 3 and "llmrun: error:" in proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr


def test_the_answer_is_utf8_whatever_the_locale_says(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "llmrun", "ask", "--replay", CASSETTE, "-t",
                           SAMPLE_TOOLS, "q"], capture_output=True, timeout=60,
                          env=env_for(tmp_path, PYTHONIOENCODING="ascii", LANG="C", LC_ALL="C"))
    assert proc.returncode == 0, proc.stderr
    assert "°C".encode() in proc.stdout or b"40" in proc.stdout
    proc.stdout.decode("utf-8")


# 6 -- -v at a terminal ---------------------------------------------------------------------
def test_v_never_glues_the_step_line_to_the_answer(tmp_path, server):
    server.add(Reply(sse(text("The answer"), chunk(finish="stop"), chunk(usage=usage(),
                                                                         choices=False))))
    master, slave = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "llmrun", "ask", "-v", "--no-stdin",
                             "--base-url", server.url, "-m", "m", "hi"], stdin=subprocess.DEVNULL,
                            stdout=slave, stderr=slave, env=env_for(tmp_path, TERM="dumb",
                                                                    LLMRUN_API_KEY="k"))
    os.close(slave)
    shown = read_until_closed(master)
    proc.wait(timeout=30)
    os.close(master)
    lines = shown.decode().replace("\r", "").splitlines()
    assert "The answer" in lines, lines
    assert any(line.startswith("step 1:") for line in lines), lines


# 7 -- tools check and empty folders ----------------------------------------------------------
def test_an_empty_tool_folder_is_said_so(tmp_path, server):
    empty = tmp_path / "empty"
    (empty / "sub").mkdir(parents=True)
    (empty / "sub" / "t.yaml").write_text("name: t\ncommand: [echo]\n")
    proc = llmrun(tmp_path, "tools", "check", str(empty))
    assert "no tool files" in proc.stderr and "subfolders are not searched" in proc.stderr
    assert "ok: 0 tools in 0 files" in proc.stdout
    server.add(Reply(sse(*answer_step("hi"))))
    proc = llmrun(tmp_path, "ask", "--no-stdin", "--base-url", server.url, "-m", "m", "-t",
                  str(empty), "hi", env={"LLMRUN_API_KEY": "k"})
    assert proc.returncode == 0 and "warning: no tool files" in proc.stderr
    proc = llmrun(tmp_path, "tools", "check", SAMPLE_TOOLS)
    assert "ok: 1 tool in 1 file (weather)" in proc.stdout


# 8 -- a cassette recorded with --base-url replays alone --------------------------------------
def test_a_base_url_recording_replays_with_nothing_but_replay(tmp_path, server):
    cassette = tmp_path / "rec.yaml"
    server.add(Reply(sse(*weather_call_step())), Reply(sse(*answer_step("It is 40 C."))))
    proc = llmrun(tmp_path, "ask", "--no-stdin", "--base-url", server.url, "-m", "local-model",
                  "-t", SAMPLE_TOOLS, "--record", str(cassette), "Weather?",
                  env={"LLMRUN_API_KEY": "k"})
    assert proc.returncode == 0, proc.stderr
    server.stop()
    proc = llmrun(tmp_path, "ask", "--replay", str(cassette), "-t", SAMPLE_TOOLS, "Weather?")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "It is 40 C.\n"


# 9 -- cron ------------------------------------------------------------------------------------
def test_the_cron_recipe_works_under_crons_environment(tmp_path, server):
    """What cron gives a job: HOME, a short PATH, nothing else (env -i); the run lands in the
    run log under HOME."""
    server.add(Reply(sse(*weather_call_step())), Reply(sse(*answer_step("Sunny."))))
    line = (f"env -i HOME={tmp_path} PATH=/usr/bin:/bin PYTHONPATH={ROOT} "
            f"LLMRUN_BIN='{sys.executable} -m llmrun' "
            f"LLMRUN_BASE_URL={server.url} LLMRUN_MODEL=m LLMRUN_API_KEY=k "
            f"LLMRUN_DAILY_TOOLS={SAMPLE_TOOLS} /bin/sh {SAMPLES}/cron-daily.sh")
    proc = subprocess.run(["/bin/sh", "-c", line], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout == proc.stderr == "", proc.stderr
    db = tmp_path / ".local" / "state" / "llmrun" / "runs.db"
    import sqlite3

    assert sqlite3.connect(str(db)).execute("SELECT answer FROM runs").fetchone()[0] == "Sunny."


def test_the_cron_script_fails_when_it_cannot_write_its_log(tmp_path):
    line = (f"env -i HOME={tmp_path} PATH=/usr/bin:/bin PYTHONPATH={ROOT} "
            f"LLMRUN_BIN='{sys.executable} -m llmrun' LLMRUN_LOG_DB=/proc/nope/log "
            f"/bin/sh {SAMPLES}/cron-daily.sh")
    proc = subprocess.run(["/bin/sh", "-c", line], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3 and "cannot write the run log /proc/nope/log" in proc.stderr


# 10 -- the small ones ---------------------------------------------------------------------
def test_plurals_hints_and_help(tmp_path):
    proc = llmrun(tmp_path, "ask", "what", "does", "ls", "-la", "do")
    assert proc.returncode == 2 and "quoted, or put after --" in proc.stderr
    proc = llmrun(tmp_path, "ask", "hi", "--tools")
    assert proc.returncode == 2 and "see 'llmrun ask --help'" in proc.stderr
    assert "Sampling temperature" in llmrun(tmp_path, "ask", "--help").stdout
    proc = llmrun(tmp_path, "tools", "list", SAMPLE_TOOLS)
    assert proc.returncode == 0 and proc.stdout.startswith("weather")


def test_max_steps_of_one_says_step(tmp_path, server):
    server.add(Reply(sse(*weather_call_step())))
    proc = llmrun(tmp_path, "ask", "--no-stdin", "--base-url", server.url, "-m", "m", "-t",
                  SAMPLE_TOOLS, "--max-steps", "1", "hi", env={"LLMRUN_API_KEY": "k"})
    assert proc.returncode == 6 and "after 1 step;" in proc.stderr

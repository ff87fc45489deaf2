"""`llmrun providers`, `llmrun models`, the presets, and click's shell completion."""

import json
import os
import stat
import subprocess
import sys
import textwrap

import pytest
from conftest import ROOT
from server import Reply, TestServer

KEY = "sk-DISTINCTIVE-9f3Kq7Zt2LmWx"
KEY_PARTS = [KEY, KEY[3:], KEY[-8:]]  # no piece of it either

PRESETS = {  # name: (base URL, key variable)
    "openai": ("https://api.openai.com/v1", "OPENAI_API_KEY"),
    "openrouter": ("https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
    "vercel": ("https://ai-gateway.vercel.sh/v1", "AI_GATEWAY_API_KEY"),
    "groq": ("https://api.groq.com/openai/v1", "GROQ_API_KEY"),
    "xai": ("https://api.x.ai/v1", "XAI_API_KEY"),
    "deepseek": ("https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"),
    "together": ("https://api.together.xyz/v1", "TOGETHER_API_KEY"),
    "ollama": ("http://localhost:11434/v1", None),
    "llamacpp": ("http://localhost:8080/v1", None),
}


def config(tmp_path, text):
    folder = tmp_path / "config" / "llmrun"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.yaml").write_text(textwrap.dedent(text))
    return str(folder / "config.yaml")


def rows(run_cli, env=None):
    run = run_cli(["providers", "--json"], env=env)
    assert run.code == 0, run
    return {r["name"]: r for r in run.json()}


def test_every_preset_has_its_url_and_key_variable(run_cli):
    got = rows(run_cli, {"LLMRUN_API_KEY": None})
    assert {n: (r["base_url"], r["api_key_env"]) for n, r in got.items()} == PRESETS
    assert got["ollama"]["key"] == got["llamacpp"]["key"] == "not needed"
    assert got["openai"]["key"] == "not set"


def test_providers_never_prints_a_key(run_cli, tmp_path):
    config(tmp_path, """\
        provider: mine
        providers:
          - {name: mine, base_url: "https://user:pw-hidden@llm.example/v1", api_key_env: MINE_KEY}
    """)
    env = {"LLMRUN_API_KEY": KEY, "OPENAI_API_KEY": KEY, "MINE_KEY": KEY, "XAI_API_KEY": ""}
    for args in (["providers"], ["providers", "--json"]):
        run = run_cli(args, env=env)
        assert run.code == 0, run
        for part in KEY_PARTS + ["pw-hidden"]:
            assert part not in run.stdout + run.stderr
    table = run_cli(["providers"], env=env).stdout.splitlines()
    assert table[0].split() == ["NAME", "BASE", "URL", "KEY", "VARIABLE", "KEY", "DIALECT",
                                "FROM"]
    by_name = {line.split()[0] if line[0] != "*" else line.split()[1]: line
               for line in table[1:]}
    assert by_name["mine"].startswith("* mine")  # the default
    assert by_name["mine"].split()[-4:] == ["MINE_KEY", "set", "generic", "config"]
    assert "https://user:***@llm.example/v1" in by_name["mine"]
    assert by_name["openai"].split()[2:4] == ["OPENAI_API_KEY", "set"]
    assert "not set" not in by_name["xai"]  # empty counts as unset, LLMRUN_API_KEY covers it
    assert "via LLMRUN_API_KEY" in by_name["xai"]
    assert "not needed" in by_name["ollama"]


def test_config_providers_are_listed_and_can_replace_a_preset(run_cli, tmp_path):
    config(tmp_path, """\
        providers:
          - {name: openai, base_url: "http://proxy.local/v1"}
          - {name: zeta, base_url: "http://zeta.local/v1", dialect: openrouter}
    """)
    got = rows(run_cli)
    assert got["openai"]["base_url"] == "http://proxy.local/v1"
    assert got["openai"]["source"] == "config"
    assert got["openai"]["api_key_env"] == "OPENAI_API_KEY"  # inherited from the preset
    assert got["zeta"]["dialect"] == "openrouter" and got["zeta"]["source"] == "config"
    assert list(got)[-1] == "zeta"


# -- llmrun models -----------------------------------------------------------------------------
def models_reply(obj, status=200):
    return Reply(json.dumps(obj).encode(), status, {"Content-Type": "application/json"},
                 mode="length", split="none")


def test_models_lists_ids_one_per_line(server, run_cli, tmp_path):
    config(tmp_path, f"""\
        provider: mine
        providers:
          - {{name: mine, base_url: "{server.url}", api_key_env: MINE_KEY,
              headers: {{X-Title: llmrun}}}}
    """)
    server.add(models_reply({"object": "list", "data": [
        {"id": "zeta-1", "object": "model", "owned_by": "z"},
        {"id": "alpha-2", "object": "model", "context_length": 8192}]}))
    run = run_cli(["models"], env={"MINE_KEY": KEY, "LLMRUN_API_KEY": None})
    assert run.code == 0, run
    assert run.stdout == "alpha-2\nzeta-1\n"
    got = server.requests[0]
    assert (got.method, got.path) == ("GET", "/v1/models")
    assert got.headers["Authorization"] == f"Bearer {KEY}"
    assert got.headers["X-Title"] == "llmrun"


def test_models_json_keeps_the_servers_objects(server, run_cli):
    server.add(models_reply({"data": [{"id": "b", "context_length": 10}, {"id": "a"}]}))
    run = run_cli(["models", "--base-url", server.url, "--json"])
    assert run.code == 0, run
    assert run.json() == [{"id": "a"}, {"id": "b", "context_length": 10}]


def test_models_with_a_preset_and_its_key(server, run_cli):
    server.add(models_reply({"data": [{"id": "llama3"}]}))
    run = run_cli(["models", "-p", "groq", "--base-url", server.url],
                  env={"LLMRUN_API_KEY": "", "GROQ_API_KEY": "gsk-x"})
    assert run.code == 0 and run.stdout == "llama3\n"
    assert server.requests[0].headers["Authorization"] == "Bearer gsk-x"


def test_models_http_error_exits_4_with_the_providers_message(server, run_cli):
    server.add(models_reply({"error": {"message": "Incorrect API key provided"}}, 401))
    run = run_cli(["models", "-p", "openai", "--base-url", server.url],
                  env={"LLMRUN_API_KEY": None, "OPENAI_API_KEY": "sk-wrong-key"})
    assert run.code == 4 and run.stdout == ""
    line = run.stderr.strip()
    assert line.startswith("llmrun: error: openai answered HTTP 401")
    assert "Incorrect API key provided" in line and "check the key in OPENAI_API_KEY" in line


def test_models_without_a_key_names_the_variable_before_any_request(server, run_cli):
    run = run_cli(["models", "-p", "openai", "--base-url", server.url],
                  env={"LLMRUN_API_KEY": None})
    assert run.code == 3 and "set OPENAI_API_KEY" in run.stderr and server.requests == []


def test_models_cannot_connect_exits_5(run_cli):
    with TestServer() as srv:
        url = srv.url
    run = run_cli(["models", "--base-url", url, "--retries", "0"])
    assert run.code == 5
    assert run.stderr.startswith(f"llmrun: error: cannot connect to {url}/models")


def test_models_not_json_exits_5(server, run_cli):
    server.add(Reply(b"<html>hi</html>", 200, {"Content-Type": "text/html"}, mode="length"))
    run = run_cli(["models", "--base-url", server.url])
    assert run.code == 5 and "did not answer JSON" in run.stderr


def test_models_unknown_provider_exits_3(run_cli):
    run = run_cli(["models", "-p", "nope"])
    assert run.code == 3 and "unknown provider 'nope'" in run.stderr


# -- shell completion (click's, through a real bash) -------------------------------------------
@pytest.fixture
def llmrun_on_path(tmp_path):
    """An `llmrun` command on PATH that runs this checkout."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "llmrun"
    script.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m llmrun "$@"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    env = dict(os.environ, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
               PYTHONPATH=ROOT)
    return env


def bash_complete(env, words):
    script = ('eval "$(_LLMRUN_COMPLETE=bash_source llmrun)"; '
              f'COMP_WORDS=({words}); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )); '
              '_llmrun_completion llmrun; printf "%s\\n" "${COMPREPLY[@]}"')
    out = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.split()


def test_bash_completion_of_commands_and_providers(llmrun_on_path, tmp_path):
    config(tmp_path, "providers: [{name: openmine, base_url: 'http://x'}]\n")
    assert set(bash_complete(llmrun_on_path, "llmrun ''")) >= {"ask", "providers", "models"}
    assert bash_complete(llmrun_on_path, "llmrun ask -p open") == \
        ["openai", "openrouter", "openmine"]
    assert "--show-reasoning" in bash_complete(llmrun_on_path, "llmrun ask --sh")


@pytest.mark.parametrize("shell, marker", [("zsh", "#compdef llmrun"),
                                           ("fish", "complete --no-files --command llmrun")])
def test_zsh_and_fish_scripts_are_generated(shell, marker, llmrun_on_path):
    out = subprocess.run(["llmrun"], env=dict(llmrun_on_path,
                                              _LLMRUN_COMPLETE=f"{shell}_source"),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and marker in out.stdout

"""The config file and the precedence rules, end to end through `llmrun ask` against the
loopback TestServer: command line > environment > config file > preset, "" = unset."""

import os
import textwrap

import pytest
from conftest import SAMPLE_TOOLS
from server import Reply, TestServer, sse
from streams import answer_step, weather_call_step

DEAD = "http://127.0.0.1:9/v1"  # nothing listens there: a request sent to it fails (exit 5)


def write_config(tmp_path, text, name="config.yaml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def default_config(tmp_path, text):
    """The file llmrun finds by itself: $XDG_CONFIG_HOME/llmrun/config.yaml."""
    folder = tmp_path / "config" / "llmrun"
    folder.mkdir(parents=True, exist_ok=True)
    assert os.environ["XDG_CONFIG_HOME"] == str(tmp_path / "config")
    return write_config(folder, text)


def ask(run_cli, server, args, env=None):
    server.add(Reply(sse(*answer_step("ok"))))
    return run_cli(["ask", "--json", *args, "hello"], env=env)


def tool_file(tmp_path, name):
    path = tmp_path / f"{name}.yaml"
    path.write_text(f"name: {name}\ndescription: {name}\n"
                    "parameters: {type: object, properties: {}}\ncommand: [echo, hi]\n")
    return str(path)


# -- model: -m > LLMRUN_MODEL > config ---------------------------------------------------------
@pytest.mark.parametrize("cli, env_model, want", [
    (["-m", "from-cli"], "from-env", "from-cli"),
    ([], "from-env", "from-env"),
    ([], "", "from-config"),  # empty counts as unset
    ([], None, "from-config"),
])
def test_model_precedence(cli, env_model, want, server, run_cli, tmp_path):
    default_config(tmp_path, "model: from-config\n")
    run = ask(run_cli, server, ["--base-url", server.url, *cli], {"LLMRUN_MODEL": env_model})
    assert run.code == 0, run
    assert server.bodies()[0]["model"] == want


# -- provider: -p > LLMRUN_PROVIDER > config ---------------------------------------------------
THREE = """\
    provider: c
    providers:
      - {{name: a, base_url: "{url}", headers: {{X-Which: a}}}}
      - {{name: b, base_url: "{url}", headers: {{X-Which: b}}}}
      - {{name: c, base_url: "{url}", headers: {{X-Which: c}}}}
"""


@pytest.mark.parametrize("cli, env_provider, want", [
    (["-p", "a"], "b", "a"),
    ([], "b", "b"),
    ([], "", "c"),
])
def test_provider_precedence(cli, env_provider, want, server, run_cli, tmp_path):
    default_config(tmp_path, THREE.format(url=server.url))
    run = ask(run_cli, server, ["-m", "m", *cli], {"LLMRUN_PROVIDER": env_provider})
    assert run.code == 0, run
    assert server.requests[0].headers["X-Which"] == want
    assert run.json()["provider"] == want


# -- base URL: --base-url > LLMRUN_BASE_URL > config > preset ----------------------------------
def test_base_url_cli_beats_environment(server, run_cli):
    run = ask(run_cli, server, ["-p", "openai", "-m", "m", "--base-url", server.url],
              {"LLMRUN_BASE_URL": DEAD})
    assert run.code == 0, run
    assert server.requests[0].path == "/v1/chat/completions"


def test_base_url_environment_beats_config_and_keeps_the_dialect(server, run_cli, tmp_path):
    default_config(tmp_path, f"""\
        providers:
          - {{name: mine, base_url: "{DEAD}", dialect: openrouter, headers: {{X-Title: t}}}}
    """)
    run = ask(run_cli, server, ["-p", "mine", "-m", "m"], {"LLMRUN_BASE_URL": server.url})
    assert run.code == 0, run
    assert server.requests[0].headers["X-Title"] == "t"
    assert server.bodies()[0]["usage"] == {"include": True}  # openrouter dialect kept


def test_config_entry_beats_the_preset_and_inherits_the_rest(server, run_cli, tmp_path):
    default_config(tmp_path, f"""\
        providers:
          - name: openai
            base_url: {server.url}
            headers: {{X-Title: via-config}}
    """)
    run = ask(run_cli, server, ["-p", "openai", "-m", "gpt-5-mini", "--max-tokens", "9"],
              {"LLMRUN_API_KEY": None, "OPENAI_API_KEY": "sk-openai-var"})
    assert run.code == 0, run
    got = server.requests[0]
    assert got.headers["X-Title"] == "via-config"
    assert got.headers["Authorization"] == "Bearer sk-openai-var"  # the preset's variable
    assert got.json()["max_completion_tokens"] == 9  # the preset's openai dialect


def test_base_url_alone_means_generic_even_with_a_config_default(server, run_cli, tmp_path):
    default_config(tmp_path, f"""\
        provider: mine
        providers: [{{name: mine, base_url: "{DEAD}", api_key_env: MINE_KEY}}]
    """)
    run = ask(run_cli, server, ["--base-url", server.url, "-m", "m"], {"LLMRUN_API_KEY": None})
    assert run.code == 0, run
    assert run.json()["provider"] == "generic"
    assert "Authorization" not in server.requests[0].headers


# -- tools and system prompt -------------------------------------------------------------------
@pytest.mark.parametrize("cli, env_tools, want", [
    (True, True, "t_cli"), (False, True, "t_env"), (False, False, "t_cfg"),
])
def test_tool_path_precedence(cli, env_tools, want, server, run_cli, tmp_path):
    default_config(tmp_path, f"tools: [{tool_file(tmp_path, 't_cfg')}]\n")
    args = ["--base-url", server.url, "-m", "m"]
    if cli:
        args += ["-t", tool_file(tmp_path, "t_cli")]
    env = {"LLMRUN_TOOLS": tool_file(tmp_path, "t_env") if env_tools else ""}
    assert ask(run_cli, server, args, env).code == 0
    assert [t["function"]["name"] for t in server.bodies()[0]["tools"]] == [want]


def test_relative_tool_paths_in_config_are_relative_to_the_file(server, run_cli, tmp_path):
    path = default_config(tmp_path, "tools: [my-tools]\n")
    folder = os.path.join(os.path.dirname(path), "my-tools")
    os.makedirs(folder)
    tool_file(type(tmp_path)(folder), "rel_tool")
    assert ask(run_cli, server, ["--base-url", server.url, "-m", "m"]).code == 0
    assert [t["function"]["name"] for t in server.bodies()[0]["tools"]] == ["rel_tool"]


def test_system_prompt_cli_beats_config(server, run_cli, tmp_path):
    default_config(tmp_path, "system: from config\n")
    ask(run_cli, server, ["--base-url", server.url, "-m", "m"])
    ask(run_cli, server, ["--base-url", server.url, "-m", "m", "-s", "from cli"])
    firsts = [b["messages"][0] for b in server.bodies()]
    assert firsts == [{"role": "system", "content": "from config"},
                      {"role": "system", "content": "from cli"}]


# -- keys: LLMRUN_API_KEY > the provider's variable --------------------------------------------
@pytest.mark.parametrize("shared, own, want", [
    ("sk-shared", "sk-own", "Bearer sk-shared"),
    ("", "sk-own", "Bearer sk-own"),
])
def test_key_precedence(shared, own, want, server, run_cli):
    run = ask(run_cli, server, ["-p", "groq", "--base-url", server.url, "-m", "m"],
              {"LLMRUN_API_KEY": shared, "GROQ_API_KEY": own})
    assert run.code == 0, run
    assert server.requests[0].headers["Authorization"] == want


def test_missing_key_names_the_providers_variable(run_cli):
    run = run_cli(["ask", "-p", "xai", "-m", "grok", "hi"], env={"LLMRUN_API_KEY": ""})
    assert run.code == 3
    assert run.stderr == "llmrun: error: missing API key for xai: set XAI_API_KEY " \
                         "(or LLMRUN_API_KEY)\n"


# -- a user-defined provider, end to end -------------------------------------------------------
def test_user_provider_end_to_end(run_cli, tmp_path):
    with TestServer() as server:
        config = write_config(tmp_path, f"""\
            provider: mine
            model: my-model
            providers:
              - name: mine
                base_url: {server.url}/
                api_key_env: MINE_KEY
                dialect: openrouter
                token_field: max_completion_tokens
                headers: {{X-Title: llmrun, HTTP-Referer: "https://example.org/llmrun"}}
        """, "elsewhere.yaml")
        server.add(Reply(sse(*weather_call_step())), Reply(sse(*answer_step("It is 40 C."))))
        run = run_cli(["ask", "--json", "-t", SAMPLE_TOOLS, "--max-tokens", "77",
                       "--reasoning-effort", "low", "weather?"],
                      env={"LLMRUN_CONFIG": config, "LLMRUN_API_KEY": None,
                           "MINE_KEY": "sk-mine-1234"})
    assert run.code == 0, run
    out = run.json()
    assert (out["provider"], out["answer"], out["steps"]) == ("mine", "It is 40 C.", 2)
    assert len(server.requests) == 2
    for got in server.requests:
        assert got.path == "/v1/chat/completions"
        assert got.headers["Authorization"] == "Bearer sk-mine-1234"
        assert got.headers["X-Title"] == "llmrun"
        assert got.headers["HTTP-Referer"] == "https://example.org/llmrun"
        body = got.json()
        assert body["model"] == "my-model"
        assert body["max_completion_tokens"] == 77 and "max_tokens" not in body
        assert body["reasoning"] == {"effort": "low"} and "reasoning_effort" not in body
        assert body["usage"] == {"include": True}
    assert server.bodies()[1]["messages"][-1]["content"] == "40 C"


def test_user_provider_generic_dialect_and_no_key(server, run_cli, tmp_path):
    config = write_config(tmp_path, f"""\
        providers: [{{name: local, base_url: "{server.url}"}}]
    """)
    run = ask(run_cli, server, ["-p", "local", "-m", "m", "--max-tokens", "5",
                                "--reasoning-effort", "high"],
              {"LLMRUN_CONFIG": config, "LLMRUN_API_KEY": None})
    assert run.code == 0, run
    got = server.requests[0]
    assert "Authorization" not in got.headers
    body = got.json()
    assert body["max_tokens"] == 5 and body["reasoning_effort"] == "high"
    assert "usage" not in body


def test_user_provider_missing_key_names_its_variable(run_cli, tmp_path):
    config = write_config(tmp_path, """\
        providers: [{name: mine, base_url: "http://127.0.0.1:9/v1", api_key_env: MINE_KEY}]
    """)
    run = run_cli(["ask", "-p", "mine", "-m", "m", "hi"],
                  env={"LLMRUN_CONFIG": config, "LLMRUN_API_KEY": None})
    assert run.code == 3
    assert "set MINE_KEY" in run.stderr


# -- broken config files: file:line: problem, exit 3 -------------------------------------------
BROKEN = [
    ("model: [unclosed\n", 2, "invalid YAML"),
    ("model: m\nmodle: typo\n", 2, "unknown setting 'modle'"),
    ("- just\n- a list\n", 1, "must be a mapping"),
    ("model: 42\n", 1, "'model' must be a string"),
    ("tools: {a: 1}\n", 1, "'tools' must be a path or a list"),
    ("providers:\n  - name: x\n    base_url: ftp://x\n", 3, "starting with http"),
    ("providers:\n  - name: x\n    base_url: http://x\n    dialect: anthropic\n", 4,
     "dialect must be one of generic, openai, openrouter"),
    ("providers:\n  - name: x\n    base_url: http://x\n    api_key_env: sk-abc123\n", 4,
     "must be the NAME of an environment variable"),
    ("providers:\n  - {name: x, base_url: 'http://x'}\n  - {name: x, base_url: 'http://y'}\n",
     3, "provider 'x' is defined twice"),
    ("providers:\n  - name: x\n    base_url: http://x\n    colour: red\n", 4,
     "unknown provider setting 'colour'"),
    ("providers:\n  - name: x\n    base_url: http://x\n    token_field: max\n", 4,
     "token_field must be"),
    ("providers:\n  - base_url: http://x\n", 2, "needs a 'name'"),
    ("providers:\n  - name: x\n    base_url: http://x\n    headers: [a]\n", 4,
     "'headers' must map"),
]


@pytest.mark.parametrize("text, line, problem", BROKEN, ids=[b[2] for b in BROKEN])
def test_broken_config_names_file_line_and_problem(text, line, problem, run_cli, tmp_path):
    path = default_config(tmp_path, text)
    for args in (["ask", "-m", "m", "--base-url", DEAD, "hi"], ["providers"]):
        run = run_cli(args)
        assert run.code == 3, run
        assert run.stdout == ""
        assert run.stderr.startswith(f"llmrun: error: {path}:{line}: "), run.stderr
        assert problem in run.stderr
        assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr


def test_llmrun_config_naming_a_missing_file(run_cli, tmp_path):
    missing = str(tmp_path / "nope.yaml")
    run = run_cli(["ask", "-m", "m", "hi"], env={"LLMRUN_CONFIG": missing})
    assert run.code == 3
    assert run.stderr == f"llmrun: error: config file {missing} does not exist " \
                         "(named by LLMRUN_CONFIG)\n"


def test_empty_llmrun_config_means_the_default_file(server, run_cli, tmp_path):
    default_config(tmp_path, "model: from-default-file\n")
    run = ask(run_cli, server, ["--base-url", server.url], {"LLMRUN_CONFIG": ""})
    assert run.code == 0, run
    assert server.bodies()[0]["model"] == "from-default-file"


def test_unknown_provider_lists_config_providers_too(run_cli, tmp_path):
    default_config(tmp_path, "providers: [{name: zeta, base_url: 'http://x'}]\n")
    run = run_cli(["ask", "-p", "nope", "-m", "m", "hi"])
    assert run.code == 3
    assert "unknown provider 'nope'" in run.stderr and "zeta" in run.stderr


def test_unknown_default_provider_says_where_it_was_named(run_cli, tmp_path):
    path = default_config(tmp_path, "provider: nope\n")
    run = run_cli(["ask", "-m", "m", "hi"])
    assert run.code == 3
    assert f"unknown provider 'nope' (named by 'provider:' in {path};" in run.stderr
    run = run_cli(["ask", "-m", "m", "hi"], env={"LLMRUN_PROVIDER": "zz"})
    assert "unknown provider 'zz' (named by LLMRUN_PROVIDER;" in run.stderr

"""Issue 22, second round, from the newcomer's walk (items 19 and 20): exit codes and error
types as the contract's table gives them, one rule for --schema errors, top-level prices, a
generic server's reported cost, honest `config show` sources, hints that keep what was typed,
one problem count, and the README's MCP example as written. Real subprocesses, a loopback
model server, HOME and the working directory in a temporary folder."""

import json
import os
import re
import shutil
import socket
import subprocess
import sys

import pytest
from conftest import ROOT, SAMPLE_TOOLS
from server import Reply, sse
from streams import answer_step, chunk, usage, weather_call_step
from test_first_hour import env_for, llmrun

SAMPLE_CONFIG = os.path.join(ROOT, "samples", "config.yaml")


def ask(tmp_path, server, *args, env=None):
    return llmrun(tmp_path, "ask", "--json", "--no-stdin", "--base-url", server.url, "-m", "m",
                  *args, env=env)


# -- 19: exit codes and error types ------------------------------------------------------------
def test_a_missing_key_is_exit_3_whether_or_not_the_provider_was_named(tmp_path):
    for args in (["hi"], ["-p", "openai", "hi"]):
        proc = llmrun(tmp_path, "ask", "--json", "--no-stdin", *args)
        assert proc.returncode == 3, (args, proc.stderr)
        error = json.loads(proc.stdout)["error"]
        assert error["type"] == "config" and "OPENAI_API_KEY" in error["message"], error
    proc = llmrun(tmp_path, "config", "show")  # nothing chosen yet is an answer there
    assert proc.returncode == 0 and "incomplete" in proc.stdout, proc.stderr


def test_a_refused_connection_is_error_type_connection(tmp_path, server):
    with socket.socket() as sock:  # a port of ours with nobody listening: refused
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = llmrun(tmp_path, "ask", "--json", "--no-stdin", "--retries", "0", "--base-url",
                  f"http://127.0.0.1:{port}/v1", "-m", "m", "hi")
    assert proc.returncode == 5, proc.stderr
    error = json.loads(proc.stdout)["error"]
    assert error["type"] == "connection" and "connection refused" in error["message"]
    server.add(Reply(sse(*answer_step("never")), cut_after=30))  # connected, then cut
    proc = ask(tmp_path, server, "--retries", "0", "hi")
    assert proc.returncode == 5 and json.loads(proc.stdout)["error"]["type"] == "stream"


def test_schema_errors_follow_one_rule_and_say_so_once(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"type": "nope"}')
    for schema, words in (('{"type": "nope"}', "--schema: the inline schema is not a valid"),
                          ('{"type": ', "--schema: the inline schema is not valid JSON"),
                          (str(bad), f"--schema: {bad} is not a valid JSON Schema"),
                          (str(tmp_path / "missing.json"), "--schema: cannot read")):
        proc = llmrun(tmp_path, "ask", "--no-stdin", "--base-url", "http://127.0.0.1:9/v1",
                      "-m", "m", "--schema", schema, "hi")
        assert proc.returncode == 3, (schema, proc.stderr)
        assert words in proc.stderr and "--schema: --schema" not in proc.stderr, proc.stderr


# -- 20: budgets --------------------------------------------------------------------------------
def test_top_level_prices_price_a_generic_server_for_max_cost(tmp_path, server):
    config = tmp_path / "config.yaml"
    config.write_text("prices: {m: {prompt: 1000, completion: 1000}}\n")
    server.add(Reply(sse(*weather_call_step())), Reply(sse(*answer_step())))
    proc = ask(tmp_path, server, "--max-cost", "0.01", "-t", SAMPLE_TOOLS, "hi",
               env={"LLMRUN_CONFIG": str(config)})
    assert proc.returncode == 6, proc.stderr
    out = json.loads(proc.stdout)
    assert out["error"]["type"] == "max_cost" and out["usage"]["cost"] == pytest.approx(0.015)
    assert len(server.requests) == 1


def test_a_generic_server_that_reports_cost_is_taken_at_its_word(tmp_path, server):
    step = weather_call_step()
    step[-1] = chunk(usage=usage(cost=0.01), choices=False)
    server.add(Reply(sse(*step)), Reply(sse(*answer_step())))
    proc = ask(tmp_path, server, "--max-cost", "0.005", "-t", SAMPLE_TOOLS, "hi")
    assert proc.returncode == 6, proc.stderr
    assert json.loads(proc.stdout)["error"]["type"] == "max_cost" and len(server.requests) == 1


def test_a_generic_server_without_cost_stops_at_its_first_uncosted_step(tmp_path, server):
    server.add(Reply(sse(*weather_call_step())))
    proc = ask(tmp_path, server, "--max-cost", "1", "-t", SAMPLE_TOOLS, "hi")
    assert proc.returncode == 3, proc.stderr
    assert "--max-cost cannot be enforced" in json.loads(proc.stdout)["error"]["message"]
    assert len(server.requests) == 1  # no step after the one without a cost
    server.add(Reply(sse(*answer_step("Sunny."))))  # the answer itself came without a cost
    proc = ask(tmp_path, server, "--max-cost", "1", "hi")
    assert proc.returncode == 0 and json.loads(proc.stdout)["answer"] == "Sunny."
    assert "warning: --max-cost could not be enforced" in proc.stderr
    # a preset known not to report cost, at its own URL, is refused before any request
    proc = llmrun(tmp_path, "ask", "--json", "--no-stdin", "-p", "openai", "-m", "m",
                  "--max-cost", "1", "hi", env={"OPENAI_API_KEY": "sk-test"})
    assert proc.returncode == 3 and "openai does not report cost" in proc.stderr


# -- 20: what the newcomer reads ------------------------------------------------------------------
def test_config_show_names_only_sources_that_exist(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("provider: openrouter\nmodel: m\n")
    proc = llmrun(tmp_path, "config", "show", env={"LLMRUN_CONFIG": str(config)})
    assert proc.returncode == 0, proc.stderr
    rows = {line.split()[0]: line for line in proc.stdout.splitlines()}
    assert rows["tools"].endswith("[nothing set]"), rows["tools"]  # no 'tools:' in the file
    assert rows["base_url"].endswith("[the openrouter preset]"), rows["base_url"]
    assert "or config" not in proc.stdout


def test_the_unknown_option_hint_keeps_every_word_typed(tmp_path):
    proc = llmrun(tmp_path, "ask", "--json", "--frobnicate", "hi")
    assert proc.returncode == 2
    assert "llmrun ask --json -- --frobnicate hi;" in proc.stderr, proc.stderr
    proc = llmrun(tmp_path, "ask", "-m", "x", "what does ls", "-la", "do")
    assert "llmrun ask -m x -- 'what does ls' -la do;" in proc.stderr, proc.stderr
    (tmp_path / "c.yaml").write_text("model: m\n")
    proc = llmrun(tmp_path, "--config", "c.yaml", "ask", "--frob", "hi")
    assert "llmrun --config c.yaml ask -- --frob hi;" in proc.stderr, proc.stderr


def test_ask_counts_the_problems_tools_check_finds(tmp_path):
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "a.yaml").write_text("name: a b\ndescription: 3\nparameters: {type: strng}\n"
                                  "command: echo\n")
    (tools / "b.yaml").write_text("name: ok\ndescription: x\nfoo: 1\nshell: [1]\n")
    check = llmrun(tmp_path, "tools", "check", str(tools))
    found = [line for line in check.stderr.splitlines() if line.startswith("llmrun: error:")]
    assert check.returncode == 3 and len(found) == 6, check.stderr
    proc = llmrun(tmp_path, "ask", "--no-stdin", "--base-url", "http://127.0.0.1:9/v1", "-m",
                  "m", "-t", str(tools), "hi")
    assert proc.returncode == 3
    assert f"(and {len(found) - 1} more: 'llmrun tools check' lists them)" in proc.stderr


def test_tools_list_without_paths_names_the_config_files_tools_key(tmp_path):
    proc = llmrun(tmp_path, "tools", "list", env={"LLMRUN_CONFIG": SAMPLE_CONFIG})
    assert proc.returncode == 2
    assert f"add 'tools: [PATH, …]' to the config file ({SAMPLE_CONFIG})" in proc.stderr


# -- 20: the README's MCP worked example, as written ----------------------------------------------
def readme_mcp_example():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as fh:
        section = fh.read().split("## MCP servers", 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


@pytest.mark.skipif(shutil.which("mcp-server-time", path=os.path.dirname(sys.executable))
                    is None, reason="needs mcp-server-time (a test dependency)")
def test_the_readme_mcp_example_runs_as_written_in_any_folder(tmp_path, server):
    """Every command of the example, in an empty folder (not the clone), with the model
    pointed at the loopback server through LLMRUN_BASE_URL; the install line is what put
    mcp-server-time on PATH, so it is checked, not run."""
    block = readme_mcp_example()
    commands, shown = [], []
    for line in block.splitlines():
        if line.startswith("#   "):
            shown.append(line[4:])
        elif line.strip() and not line.startswith("#"):
            commands.append(line)
    install, *commands = commands
    assert install.split()[:2] in (["pipx", "install"], ["uv", "tool"]), install
    server.add(Reply(sse(chunk({"role": "assistant", "tool_calls": [{
        "index": 0, "id": "c1", "type": "function", "function": {
            "name": "get_current_time", "arguments": '{"timezone": "Asia/Tokyo"}'}}]}),
        chunk(finish="tool_calls"))), Reply(sse(*answer_step("It is late in Tokyo."))))
    work = tmp_path / "anywhere"
    work.mkdir()
    env = env_for(tmp_path, OPENROUTER_API_KEY="sk-or-test", LLMRUN_BASE_URL=server.url,
                  PATH=os.path.dirname(sys.executable) + os.pathsep + os.environ["PATH"])
    proc = subprocess.run(["bash", "-e", "-c", "\n".join(commands)], cwd=str(work), env=env,
                          capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr
    listed = [" ".join(line.split()) for line in proc.stdout.splitlines()]
    for line in shown:
        assert " ".join(line.split()) in listed, (line, listed)
    assert "Asia/Tokyo" in proc.stdout and proc.stdout.rstrip().endswith("It is late in Tokyo.")
    call = server.requests[1].json()["messages"][-1]
    assert call["role"] == "tool" and "Asia/Tokyo" in call["content"]


# -- 21: the answer is named after the schema's title ---------------------------------------------
PERSON = {"title": "Person", "description": "A person the text mentions.", "type": "object",
          "properties": {"name": {"type": "string"}}, "required": ["name"]}


def answer_call(name, args):
    return [chunk({"role": "assistant", "tool_calls": [{
        "index": 0, "id": "a1", "type": "function",
        "function": {"name": name, "arguments": json.dumps(args)}}]}), chunk(finish="tool_calls")]


def test_schema_mode_tool_names_the_answer_after_the_title_and_sends_its_description(
        tmp_path, server):
    server.add(Reply(sse(*answer_call("Person", {"name": "Ada"}))))
    proc = ask(tmp_path, server, "--schema", json.dumps(PERSON), "--schema-mode", "tool", "who?")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["data"] == {"name": "Ada"}
    body = server.requests[0].json()
    (tool,) = body["tools"]
    assert tool["function"]["name"] == "Person" and body["tool_choice"]["function"] == {
        "name": "Person"}
    assert "A person the text mentions." in tool["function"]["description"]
    assert tool["function"]["parameters"] == PERSON  # unchanged


def test_response_format_carries_the_title_as_name_and_the_description(tmp_path, server):
    server.add(Reply(sse(*answer_step('{"name": "Ada"}'))))
    proc = ask(tmp_path, server, "--schema", json.dumps(PERSON), "--schema-mode",
               "response_format", "who?")
    assert proc.returncode == 0, proc.stderr
    spec = server.requests[0].json()["response_format"]["json_schema"]
    assert spec["name"] == "Person" and spec["description"] == "A person the text mentions."


def test_a_title_is_cut_to_64_and_made_a_name_and_no_title_is_final_answer(tmp_path, server):
    long = dict(PERSON, title="Person record: " + "x" * 80)
    want = ("Person record: " + "x" * 80)[:64].replace(" ", "_").replace(":", "_")
    server.add(Reply(sse(*answer_call(want, {"name": "Ada"}))))
    proc = ask(tmp_path, server, "--schema", json.dumps(long), "--schema-mode", "tool", "who?")
    assert proc.returncode == 0, proc.stderr
    assert server.requests[0].json()["tools"][0]["function"]["name"] == want
    assert len(want) == 64
    untitled = {k: v for k, v in PERSON.items() if k != "title"}
    server.add(Reply(sse(*answer_step('{"name": "Ada"}'))))
    proc = ask(tmp_path, server, "--schema", json.dumps(untitled), "--schema-mode",
               "response_format", "who?")
    assert server.requests[1].json()["response_format"]["json_schema"]["name"] == "final_answer"


def test_a_title_that_a_tool_already_has_is_exit_3_before_any_request(tmp_path, server):
    clash = dict(PERSON, title="weather")
    proc = ask(tmp_path, server, "--schema", json.dumps(clash), "--schema-mode", "tool",
               "-t", SAMPLE_TOOLS, "who?")
    assert proc.returncode == 3, proc.stderr
    message = json.loads(proc.stdout)["error"]["message"]
    assert "'weather'" in message and "title" in message
    assert server.requests == []


# -- "Must show" 3: README, --help and the error classes agree on codes and types ---------------
LIMIT_KINDS = {"max_steps", "max_cost", "deadline", "max_tool_calls", "max_tokens"}


def readme_exit_table():
    """{code: the error.type names of its row} from the README's "Exit status" table."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as fh:
        section = fh.read().split("## Exit status", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 4 and cells[0].isdigit():
            rows[int(cells[0])] = set(re.findall(r"`(\w+)`", cells[2]))
    return rows


def help_exit_table(tmp_path):
    proc = llmrun(tmp_path, "ask", "--help")
    rows = {}
    for line in proc.stdout.split("Exit status", 1)[1].splitlines()[1:]:
        match = re.match(r"\s+([\d/]+)\s.*?(?:\[(.*)\])?$", line)
        if match:
            for code in match.group(1).split("/"):
                rows[int(code)] = set(filter(None, re.split(r",\s*", match.group(2) or "")))
    return rows


def error_kinds():
    """(exit code, error.type) of every error llmrun raises, from the classes themselves."""
    import llmrun.cli.main  # noqa: F401  (loads the modules that define error classes)
    import llmrun.tools.spec  # noqa: F401
    import llmrun.wire.cassette  # noqa: F401
    from llmrun.base.errors import Interrupted, LimitError, LlmrunError

    pairs, todo = set(), list(LlmrunError.__subclasses__())
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if issubclass(cls, LimitError):
            pairs |= {(6, kind) for kind in LIMIT_KINDS}
        elif issubclass(cls, Interrupted):
            pairs |= {(code, cls.kind) for code in (130, 143, 129)}
        else:
            pairs.add((cls.exit_code, cls.kind))
    return pairs


def test_readme_help_and_the_errors_agree_on_every_exit_code_and_error_type(tmp_path):
    readme, shown = readme_exit_table(), help_exit_table(tmp_path)
    kinds = error_kinds()
    assert {(5, "connection"), (5, "stream"), (2, "usage"), (3, "config")} <= kinds
    for code, kind in kinds:
        assert kind in shown.get(code, set()), (code, kind, shown)
        if code != 129:  # the README's 143 row names SIGHUP's 129 in words
            assert kind in readme.get(code, set()), (code, kind, readme)
    named = {(code, kind) for code, names in shown.items() for kind in names}
    assert named <= kinds, named - kinds  # --help names no type llmrun never uses
    # 9 is a batch's own status (its items' codes are on their lines): no error class has it
    assert set(readme) - {0, 1, 9} == {code for code, _ in kinds} - {129}
    assert 9 in readme and 9 in shown
    assert readme[6] == shown[6] == LIMIT_KINDS


def test_the_record_and_replay_section_warns_that_a_cassette_is_a_program():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as fh:
        section = fh.read().split("## Record and replay", 1)[1].split("\n## ", 1)[0]
    assert "A cassette someone sends you is a program" in section
    assert "choose the tool calls" in section and "without `-t` first" in section

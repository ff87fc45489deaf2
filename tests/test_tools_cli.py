"""Loading tool files and `llmrun tools list | check | run`: every problem names file and
line and exits 3."""

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT

GOOD = """
tools:
  - name: greet
    description: Say hello
    parameters:
      type: object
      properties: {who: {type: string}}
      required: [who]
    command: [printf, "hello %s", "{who}"]
  - name: shout
    description: Upper-case a word
    parameters: {type: object, properties: {word: {type: string}}}
    shell: 'printf "%s" "$LLMRUN_ARG_WORD" | tr a-z A-Z'
"""

BROKEN = {
    "unknown_key": ("name: a\ndescription: x\ncomand: [ls]\n", 3, "unknown key 'comand'"),
    "no_kind": ("name: a\ndescription: x\n", 1, "needs exactly one of command, shell or python"),
    "two_kinds": ("name: a\ncommand: [ls]\nshell: ls\n", 3, "(it has command and shell)"),
    "bad_name": ("description: x\nname: 'a b'\ncommand: [ls]\n", 2, "must be 1-64 letters"),
    "bad_yaml": ("name: a\ncommand: [ls\n", 3, "invalid YAML"),
    "not_object": ("name: a\ncommand: [ls]\nparameters:\n  type: array\n", 4, "type: object"),
    "bad_schema": ("name: a\ncommand: [ls]\nparameters:\n  type: object\n  properties:\n"
                   "    x:\n      type: strng\n", 7, "not a valid JSON Schema"),
    "shell_list": ("name: a\nshell: [ls]\n", 2, "shell must be a non-empty string"),
    "yes_bool": ("name: a\ncommand: [yes]\n", 2, "YAML boolean"),
    "timeout": ("name: a\ncommand: [ls]\ntimeout: -1\n", 3, "timeout must be a positive"),
    "max_output": ("name: a\ncommand: [ls]\nmax_output: 1.5\n", 3, "max_output must be"),
    "python_target": ("name: a\npython: not-a-target\n", 2, "module:function"),
    "list_dup": ("tools:\n  - {name: a, command: [ls]}\n  - {name: a, command: [ls]}\n", 3,
                 "defined twice"),
    "list_extra": ("tools:\n  - {name: a, command: [ls]}\nname: b\n", 3, "holds only that list"),
    "item_key": ("tools:\n  - name: a\n    command: [ls]\n  - name: b\n    command: [ls]\n"
                 "    confirm: maybe\n", 6, "confirm must be true or false"),
    "missing_func": ("name: a\npython: os:no_such_function\n", 2, "has no function"),
}


def llmrun(*args, env=None):
    full = {k: v for k, v in os.environ.items() if not k.startswith("LLMRUN_")}
    full.update(env or {})
    return subprocess.run([sys.executable, "-m", "llmrun", *args], capture_output=True,
                          text=True, env=full, timeout=60)


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_check_names_file_line_and_problem(tmp_path, run_cli, case):
    text, line, words = BROKEN[case]
    path = tmp_path / f"{case}.yaml"
    path.write_text(text)
    run = run_cli(["tools", "check", str(path)])
    assert run.code == 3, run
    assert f"llmrun: error: {path}:{line}: " in run.stderr and words in run.stderr, run.stderr
    if case != "missing_func":  # ask imports Python tools only when they are called
        ask = run_cli(["ask", "--base-url", "http://127.0.0.1:9", "-m", "m", "-t", str(path),
                       "hi"])
        assert ask.code == 3 and f"{path}:{line}:" in ask.stderr  # ask refuses it the same way


def test_check_as_a_real_command_reports_every_problem(tmp_path):
    (tmp_path / "a.yaml").write_text(BROKEN["unknown_key"][0])
    (tmp_path / "b.yaml").write_text(BROKEN["bad_schema"][0])
    (tmp_path / "c.yaml").write_text(GOOD)
    (tmp_path / "d.yaml").write_text("name: greet\ndescription: again\ncommand: [ls]\n")
    proc = llmrun("tools", "check", str(tmp_path))
    assert proc.returncode == 3 and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert lines == [
        f"llmrun: error: {tmp_path}/a.yaml:3: unknown key 'comand' (known: command, confirm, "
        "description, max_output, name, parameters, pass_env, python, sandbox, shell, timeout)",
        f"llmrun: error: {tmp_path}/a.yaml:1: tool 'a' needs exactly one of command, shell or "
        "python",  # every problem of a file, not just its first
        f"llmrun: error: {tmp_path}/b.yaml:7: tool 'a': parameters is not a valid JSON Schema: "
        "'strng' is not valid under any of the given schemas",
        f"llmrun: error: {tmp_path}/d.yaml:1: tool 'greet' is defined twice (first at "
        f"{tmp_path}/c.yaml:3)"], proc.stderr
    assert "Traceback" not in proc.stderr


def test_check_passes_good_files_and_warns_about_likely_mistakes(tmp_path, run_cli):
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / "warn.yaml").write_text("name: w\ncommand: [echo, '{nope}']\n")
    run = run_cli(["tools", "check", "-t", str(tmp_path)])
    assert run.code == 0, run
    assert run.stdout.startswith("ok: 3 tools in 2 files")
    assert "{nope} is not a declared parameter" in run.stderr
    assert "has no description" in run.stderr


def test_check_compares_python_signatures(tmp_path, run_cli):
    (tmp_path / "sig_llmrun_test.py").write_text("def f(a, b): return a\n")
    (tmp_path / "p.yaml").write_text(
        "name: p\ndescription: x\npython: sig_llmrun_test:f\nparameters:\n  type: object\n"
        "  properties: {a: {type: string}, c: {type: string}}\n  required: [a]\n")
    run = run_cli(["tools", "check", str(tmp_path)])
    assert run.code == 3
    assert "parameter 'c' is declared but sig_llmrun_test:f does not accept it" in run.stderr
    assert "needs 'b', but the schema does not require it" in run.stderr


def test_list_and_run(tmp_path, run_cli):
    (tmp_path / "good.yaml").write_text(GOOD)
    listed = run_cli(["tools", "list", "-t", str(tmp_path)])
    assert listed.code == 0
    assert [line.split()[:2] for line in listed.stdout.splitlines()] == \
        [["greet", "command"], ["shout", "shell"]]
    schemas = json.loads(run_cli(["tools", "list", "--json", "-t", str(tmp_path)]).stdout)
    assert schemas[0]["function"]["parameters"]["required"] == ["who"]
    ran = run_cli(["tools", "run", "-t", str(tmp_path), "greet", '{"who": "$(id) you"}'])
    assert ran.code == 0 and ran.stdout == "hello $(id) you\n"
    bad = run_cli(["tools", "run", "-t", str(tmp_path), "greet", '{"who": 5}'])
    assert bad.code == 7 and "5 is not of type string" in bad.stdout
    assert "returned an error result" in bad.stderr
    missing = run_cli(["tools", "run", "-t", str(tmp_path), "nope"])
    assert missing.code == 3 and "no tool named 'nope'" in missing.stderr


def test_tool_paths_from_env_and_the_tool_filter(tmp_path, server, run_cli):
    (tmp_path / "good.yaml").write_text(GOOD)
    (tmp_path / "more.yaml").write_text("name: extra\ndescription: x\ncommand: [ls]\n")
    listed = run_cli(["tools", "list"], env={"LLMRUN_TOOLS": f"/nonexistent-llmrun{os.pathsep}"
                                              f"{tmp_path}/more.yaml"})
    assert listed.code == 3 and "/nonexistent-llmrun does not exist" in listed.stderr
    listed = run_cli(["tools", "list"], env={"LLMRUN_TOOLS": f"{tmp_path}/more.yaml"})
    assert listed.stdout.split()[0] == "extra"
    from server import Reply, sse
    from streams import answer_step

    server.add(Reply(sse(*answer_step("hi"))))
    run = run_cli(["ask", "--base-url", server.url, "-m", "m", "--tool", "shout", "--tool",
                   "greet", "hello"], env={"LLMRUN_TOOLS": str(tmp_path)})
    assert run.code == 0, run
    assert [t["function"]["name"] for t in server.bodies()[0]["tools"]] == ["shout", "greet"]
    unknown = run_cli(["ask", "--base-url", server.url, "-m", "m", "--tool", "nope", "-t", str(tmp_path),
                       "hello"])
    assert unknown.code == 3 and "--tool nope: no such tool" in unknown.stderr


def test_usage_errors_are_one_line():
    proc = llmrun("tools", "run")
    assert proc.returncode == 2
    assert proc.stderr.startswith("llmrun: error: Missing argument 'NAME'")
    assert len(proc.stderr.splitlines()) == 1
    proc = llmrun("tools", "list")
    assert proc.returncode == 2 and "no tool files: give -t FILE|DIR" in proc.stderr


def test_shipped_tools_pass_check(run_cli):
    run = run_cli(["tools", "check", os.path.join(ROOT, "tools")])
    assert run.code == 0 and run.stderr == "", run


def test_check_reports_a_key_given_twice(tmp_path, run_cli):
    (tmp_path / "dup.yaml").write_text("name: a\ndescription: x\ncommand: [echo]\nname: b\n")
    run = run_cli(["tools", "check", str(tmp_path / "dup.yaml")])
    assert run.code == 3
    assert f"{tmp_path / 'dup.yaml'}:4: key 'name' appears twice" in run.stderr + run.stdout

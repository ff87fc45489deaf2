"""Issue 22, items 6 and 11: hostile schemas (from --schema, a tool file or an MCP server)
and hostile strings checked against them, through the CLI as a real subprocess.

A schema that cannot be sent or checked is refused before any request, with its proper
exit code; a pattern check of a string the model chose is bounded in time and never keeps
--deadline from firing."""

import json
import sys

import pytest
from attacks import ask, cli, one_object
from server import Reply, sse
from streams import answer_step, chunk, text, usage
from test_unattended_tools import tool_step

EMAIL = r"^\w+([.-]?\w+)*@\w+([.-]?\w+)*(\.\w{2,3})+$"  # an ordinary e-mail pattern
EVIL = "a" * 40 + "!"  # against it: 2^40 ways to fail


def answer(body):
    return Reply(sse(text(body), chunk(finish="stop"), chunk(usage=usage(), choices=False)))


BAD_SCHEMAS = {
    "ref-cycle": '{"$ref": "#"}',
    "ref-cycle-through-allOf": '{"$defs": {"a": {"allOf": [{"$ref": "#/$defs/b"}]}, '
                               '"b": {"anyOf": [{"$ref": "#/$defs/a"}]}}, '
                               '"properties": {"x": {"$ref": "#/$defs/a"}}}',
    "infinite-maximum": '{"type": "object", "properties": {"t": {"maximum": 1e999}}}',
    "huge-repeat": '{"type": "string", "pattern": "a{99999999999}"}',
    "dangling-ref": '{"properties": {"x": {"$ref": "#/$defs/nowhere"}}}',
    "deep": '{"items": ' * 300 + "{}" + "}" * 300,
}


@pytest.mark.parametrize("name", sorted(BAD_SCHEMAS))
def test_a_hostile_schema_option_is_refused_before_any_request(server, tmp_path, name):
    proc = ask(tmp_path, server, "--schema", BAD_SCHEMAS[name])
    obj = one_object(proc)
    assert proc.returncode in (2, 3) and obj["error"]["type"] in ("usage", "config"), proc.stderr
    assert obj["error"]["message"].startswith("--schema") and not server.requests


@pytest.mark.parametrize("name", ["ref-cycle", "infinite-maximum", "huge-repeat", "deep"])
def test_a_hostile_schema_file_is_refused_too(server, tmp_path, name):
    path = tmp_path / "s.json"  # read as YAML: 1e999 would be a string there, 1.0e+999 is inf
    path.write_text(BAD_SCHEMAS[name].replace("1e999", "1.0e+999"))
    proc = ask(tmp_path, server, "--schema", str(path))
    assert proc.returncode in (2, 3), proc.stderr
    assert one_object(proc)["error"]["message"].startswith("--schema")


TOOL = """name: t
description: d
parameters:
  type: object
  properties:
    x: %s
shell: echo ok
"""


@pytest.mark.parametrize("x, why", [
    ("{type: number, maximum: 1.0e+999}", "not finite"),
    ("{type: number, minimum: -.inf}", "not finite"),
    ("{type: number, maximum: .nan}", "not finite"),
    ("{type: string, pattern: 'a{99999999999}'}", "pattern"),
    ("{$ref: '#/properties/x'}", "cycle"),
    ("{type: integer, maximum: %s}" % ("9" * 5000), "digits"),
])
def test_a_hostile_tool_schema_fails_tools_check_and_ask_with_file_and_line(server, tmp_path,
                                                                            x, why):
    (tmp_path / "tools").mkdir()
    (tmp_path / "tools" / "t.yaml").write_text(TOOL % x)
    check = cli(tmp_path, "tools", "check", str(tmp_path / "tools"))
    assert check.returncode == 3, check.stdout + check.stderr
    assert "t.yaml:" in check.stdout + check.stderr and why in check.stdout + check.stderr
    proc = ask(tmp_path, server, "-t", str(tmp_path / "tools"))
    obj = one_object(proc)
    assert proc.returncode == 3 and "t.yaml:" in obj["error"]["message"], proc.stderr
    assert not server.requests


MCP_SERVER = r'''
import json, sys
for line in sys.stdin:
    msg = json.loads(line)
    if msg.get("id") is None:
        continue
    if msg["method"] == "initialize":
        result = {"protocolVersion": "2025-03-26", "capabilities": {"tools": {}},
                  "serverInfo": {"name": "evil", "version": "0"}}
    elif msg["method"] == "tools/list":
        result = {"tools": [{"name": "evil_tool", "description": "d", "inputSchema":
                  {"type": "object", "properties": {"n": {"type": "number", "maximum": 1e999}}}}]}
    else:
        result = {"content": [{"type": "text", "text": "ran"}]}
    answer = {"jsonrpc": "2.0", "id": msg["id"], "result": result}
    sys.stdout.write(json.dumps(answer) + "\n")
    sys.stdout.flush()
'''


def test_an_mcp_input_schema_with_an_infinite_number_is_refused_naming_the_server(server,
                                                                                  tmp_path):
    (tmp_path / "evil.py").write_text(MCP_SERVER)
    (tmp_path / "mcp.json").write_text(json.dumps({"mcpServers": {"evil": {
        "command": sys.executable, "args": [str(tmp_path / "evil.py")]}}}))
    proc = ask(tmp_path, server, "--mcp", str(tmp_path / "mcp.json"))
    obj = one_object(proc)
    assert proc.returncode == 3 and "evil" in obj["error"]["message"], proc.stderr
    assert "evil_tool" in obj["error"]["message"] and not server.requests


def test_a_recursive_schema_and_an_answer_200_levels_deep_is_exit_8(server, tmp_path):
    schema = '{"$defs": {"n": {"type": "object", "properties": {"c": {"$ref": "#/$defs/n"}}}},' \
             ' "$ref": "#/$defs/n"}'
    deep = '{"c": ' * 200 + "{}" + "}" * 200
    server.add(answer(deep), answer(deep))
    proc = ask(tmp_path, server, "--schema", schema)
    obj = one_object(proc)
    assert proc.returncode == 8 and obj["error"]["type"] == "schema", proc.stderr
    assert "nested" in obj["error"]["message"]


def test_a_timeout_that_overflows_the_timers_is_a_usage_error(server, tmp_path):
    for option in ("--timeout", "--deadline"):
        proc = ask(tmp_path, server, option, "1e308")
        assert proc.returncode == 2, proc.stderr
        assert proc.stderr.startswith("llmrun: error:") and "Traceback" not in proc.stderr
    assert not server.requests


# -- 11: catastrophic backtracking ------------------------------------------------------------
def pattern_tool(folder):
    folder.mkdir()
    (folder / "mail.yaml").write_text(
        "name: mail\ndescription: send mail\nparameters:\n  type: object\n  properties:\n"
        f"    to: {{type: string, pattern: '{EMAIL}'}}\n  required: [to]\nshell: echo sent\n")


def test_a_backtracking_pattern_in_a_tool_schema_cannot_outlive_the_deadline(server, tmp_path):
    pattern_tool(tmp_path / "tools")
    server.add(Reply(sse(*tool_step(("mail", json.dumps({"to": EVIL}))))),
               Reply(sse(*answer_step("done"))))
    # the check starts well before the deadline and would take 2 s to give up: the deadline
    # fires in the middle of it
    proc = ask(tmp_path, server, "-t", str(tmp_path / "tools"), "--deadline", "2", timeout=40)
    obj = one_object(proc)
    assert proc.returncode == 6 and obj["error"]["type"] == "deadline", proc.stderr


def test_a_backtracking_pattern_check_is_bounded_without_a_deadline(server, tmp_path):
    pattern_tool(tmp_path / "tools")
    server.add(Reply(sse(*tool_step(("mail", json.dumps({"to": EVIL})),
                                    ("mail", json.dumps({"to": "ann@example.org"}))))),
               Reply(sse(*answer_step("done"))))
    proc = ask(tmp_path, server, "-t", str(tmp_path / "tools"), timeout=40)
    obj = one_object(proc)
    assert proc.returncode == 0, proc.stderr
    evil, good = obj["tool_calls"]
    assert evil["is_error"] and "pattern" in evil["result"] and "not run" in evil["result"]
    assert not good["is_error"] and good["result"] == "sent"


def test_a_backtracking_pattern_in_the_schema_option_cannot_outlive_the_deadline(server,
                                                                                 tmp_path):
    schema = json.dumps({"type": "object", "properties": {
        "x": {"type": "string", "pattern": "^(a+)+$"}}})
    server.add(answer(json.dumps({"x": EVIL})), answer(json.dumps({"x": EVIL})))
    proc = ask(tmp_path, server, "--schema", schema, "--deadline", "2", timeout=40)
    obj = one_object(proc)
    assert proc.returncode == 6 and obj["error"]["type"] == "deadline", proc.stderr


def test_ordinary_patterns_still_judge_answers(server, tmp_path):
    schema = json.dumps({"type": "object", "properties": {"to": {"type": "string",
                                                                  "pattern": EMAIL}},
                         "patternProperties": {"^x-": {"type": "integer"}}})
    server.add(answer('{"to": "nope", "x-n": "s"}'), answer('{"to": "a@b.org", "x-n": 3}'))
    proc = ask(tmp_path, server, "--schema", schema)
    obj = one_object(proc)
    assert proc.returncode == 0 and obj["data"] == {"to": "a@b.org", "x-n": 3}, proc.stderr
    repair = server.requests[1].json()["messages"][-1]["content"]
    assert "does not match" in repair and "$.x-n" in repair


def test_a_checking_worker_that_died_is_replaced_and_gives_jsonschemas_answers():
    from llmrun.tools import checker

    schema = {"type": "object", "properties": {"to": {"type": "string", "pattern": EMAIL}}}
    assert checker.problems(schema, {"to": "ann@example.org"}) == []
    first = checker._WORKER.proc
    first.kill()
    first.wait()
    found = checker.problems(schema, {"to": "nope"})
    assert found == [(["to"], f"'nope' does not match '{EMAIL}'".replace("\\", "\\\\"))]
    assert checker._WORKER.proc is not first
    with pytest.raises(checker.CheckFailed, match="took more than"):
        checker.problems(schema, {"to": EVIL})
    assert checker.problems(schema, {"to": "ann@example.org"}) == []  # still serving
    checker.stop_worker()

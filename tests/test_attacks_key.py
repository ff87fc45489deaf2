"""Issue 22, items 1-3: the key and the output channels, tried as a hostile server would,
through the CLI as a real subprocess against the loopback server."""

import json

import yaml
from attacks import ask, one_object, strict, strict_lines
from server import Reply, sse
from streams import answer_step, chunk, text, usage
from test_unattended_tools import tool_step

KEY = "sk-echo-Vb7Kq2Lm9Xw4Secret"
ESCAPED = KEY[:-1] + "\\u%04x" % ord(KEY[-1])  # one character JSON-escaped
ENV = {"LLMRUN_API_KEY": KEY}


def echo_tool(folder):
    """A tool that writes what it got in LLMRUN_ARG_TEXT and LLMRUN_ARGS to files, in a
    folder beside `folder` that its sandbox lets it write."""
    folder.mkdir()
    marks = folder.parent / "marks"
    marks.mkdir()
    (folder / "echo.yaml").write_text(
        "name: echo\ndescription: echo\n"
        "parameters: {type: object, properties: {text: {type: string}}}\n"
        f"sandbox: {{write: ['{marks}']}}\n"
        f"shell: 'cd {marks}; printf %s \"$LLMRUN_ARG_TEXT\" > arg.txt; "
        "printf %s \"$LLMRUN_ARGS\" > args.txt; echo ok'\n")


def test_an_escaped_echo_of_the_key_is_redacted_after_decoding(server, tmp_path):
    echo_tool(tmp_path / "tools")
    args = '{"text": "%s"}' % ESCAPED
    for _ in range(2):
        server.add(Reply(sse(*tool_step(("echo", args)))), Reply(sse(*answer_step("done"))))
    proc = ask(tmp_path, server, "-t", str(tmp_path / "tools"), env=ENV)
    assert proc.returncode == 0, proc.stderr
    assert KEY not in proc.stdout and KEY not in proc.stderr
    assert one_object(proc)["tool_calls"][0]["arguments"] == {"text": "[redacted]"}
    assert KEY not in (tmp_path / "marks" / "arg.txt").read_text()  # LLMRUN_ARG_TEXT
    assert KEY not in json.loads((tmp_path / "marks" / "args.txt").read_text())["text"]  # LLMRUN_ARGS
    events = ask(tmp_path, server, "-t", str(tmp_path / "tools"), "--record",
                 str(tmp_path / "run.yaml"), env=ENV, mode="--events")
    assert events.returncode == 0, events.stderr
    recorded = (tmp_path / "run.yaml").read_text()
    assert ESCAPED not in recorded and ESCAPED.replace("\\", "\\\\") not in recorded
    assert KEY not in recorded and "[redacted]" in recorded
    calls = [e for e in strict_lines(events.stdout) if e["type"] == "tool_call"]
    assert calls[0]["arguments"] == {"text": "[redacted]"}
    assert KEY not in events.stdout


def test_a_schema_answer_echoing_the_escaped_key_has_it_redacted_in_data(server, tmp_path):
    server.add(Reply(sse(text('{"k": "%s"}' % ESCAPED), chunk(finish="stop"))))
    proc = ask(tmp_path, server, "--schema", '{"type": "object"}', env=ENV)
    obj = one_object(proc)
    assert proc.returncode == 0, proc.stderr
    assert obj["data"] == {"k": "[redacted]"}
    assert KEY not in json.dumps(obj["data"])


def test_record_drops_every_credential_header_and_the_configs_own(server, tmp_path):
    config = tmp_path / "config" / "llmrun"
    config.mkdir(parents=True)
    secrets = {"X-Auth-Token": "tok-auth-1", "X-Goog-Api-Key": "tok-goog-2",
               "Private-Token": "tok-private-3", "X-Access-Token": "tok-access-4",
               "X-Custom-Credential": "tok-custom-5", "X-Tenant": "tok-tenant-6"}
    lines = "".join(f"      {k}: {v}\n" for k, v in secrets.items())
    (config / "config.yaml").write_text(
        f"providers:\n  - name: mine\n    base_url: {server.url}\n    headers:\n{lines}")
    headers = {"Content-Type": "text/event-stream", "Set-Cookie": "session=tok-cookie-7",
               "X-Session-Token": "tok-session-8", "X-Request-Id": "req-1"}
    server.add(Reply(sse(*answer_step("hi")), headers=headers))
    cassette = tmp_path / "run.yaml"
    proc = ask(tmp_path, server, "-p", "mine", "--record", str(cassette), env=ENV)
    assert proc.returncode == 0, proc.stderr
    sent = server.requests[0].headers
    assert all(sent.get(k) == v for k, v in secrets.items())  # they did go to the server
    recorded = cassette.read_text()
    for value in list(secrets.values()) + ["tok-cookie-7", "tok-session-8", KEY]:
        assert value not in recorded, value
    response = yaml.safe_load(recorded)["interactions"][0]["response"]
    assert response["headers"]["Content-Type"] == ["text/event-stream"]  # replay needs it
    assert response["headers"]["X-Request-Id"] == ["req-1"]


def test_output_is_strict_json_whatever_numbers_the_server_sends(server, tmp_path):
    echo_tool(tmp_path / "tools")
    detail = '{"type": "reasoning.text", "text": "hm", "index": 0, "signature": NaN}'
    odd = ('{"choices": [{"index": 0, "delta": {"reasoning_details": [%s]}}], '
           '"usage": {"prompt_tokens": 1, "completion_tokens": 1, "cost": NaN}}' % detail)
    for _ in range(2):
        server.add(Reply(sse(odd, *tool_step(("echo", '{"text": "a", "x": 1e999}'),
                                             ("echo", '{"text": "b", "y": NaN}')))),
                   Reply(sse(*answer_step("done"))))
    for mode in ("--json", "--events"):
        proc = ask(tmp_path, server, "-t", str(tmp_path / "tools"), mode=mode)
        assert proc.returncode != 1, proc.stderr
        values = strict_lines(proc.stdout)  # a strict parser accepts every line
        result = values[-1]
        assert result.get("error", {}).get("type") == "stream" and proc.returncode == 5 or \
            proc.returncode == 0, proc.stdout
    # the calls themselves: arguments that are no finite JSON are an error result the model
    # reads, and the output shows the arguments as they were streamed
    server.add(Reply(sse(*tool_step(("echo", '{"text": "a", "x": 1e999}'),
                                    ("echo", '{"text": "b", "y": NaN}')))),
               Reply(sse(*answer_step("done"))))
    proc = ask(tmp_path, server, "-t", str(tmp_path / "tools"))
    calls = one_object(proc)["tool_calls"]
    assert [c["arguments"] for c in calls] == ['{"text": "a", "x": 1e999}',
                                               '{"text": "b", "y": NaN}']
    assert all(c["is_error"] for c in calls)
    assert "1e999" in calls[0]["result"] and "NaN" in calls[1]["result"]


def test_a_schema_answer_with_an_infinite_number_is_not_valid(server, tmp_path):
    for _ in range(2):
        server.add(Reply(sse(text('{"t": 1e999}'), chunk(finish="stop"),
                             chunk(usage=usage(), choices=False))))
    proc = ask(tmp_path, server, "--schema", '{"type": "object"}')
    obj = one_object(proc)
    assert proc.returncode == 8 and obj["error"]["type"] == "schema", proc.stdout
    assert "data" not in obj or obj["data"] is None


def test_the_schema_answer_text_itself_never_decodes_to_the_key(server, tmp_path):
    for mode in ("response_format", "tool"):
        if mode == "tool":
            server.add(Reply(sse(*tool_step(("final_answer", '{"k": "%s"}' % ESCAPED)))))
        else:
            server.add(Reply(sse(text('{"k": "%s"}' % ESCAPED), chunk(finish="stop"))))
        proc = ask(tmp_path, server, "--schema", '{"type": "object"}', "--schema-mode", mode,
                   env=ENV)
        obj = one_object(proc)
        assert proc.returncode == 0, proc.stderr
        assert json.loads(obj["answer"]) == {"k": "[redacted]"}, mode

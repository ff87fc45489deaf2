"""Running tools for real: timeouts kill whole process groups, output is capped while it is
read, failures become error results, Python tools, parallel calls."""

import json
import os
import sys
import time
import tracemalloc
from types import SimpleNamespace

from llmrun.tools.runner import Toolbox, run_tool
from llmrun.tools.spec import load_file

PY = json.dumps(sys.executable)


def make_tools(tmp_path, yaml_text, name="t.yaml"):
    path = tmp_path / name
    path.write_text(yaml_text)
    return {t.name: t for t in load_file(str(path))}


def gone(pid):
    """The process no longer runs (reaped, or a zombie nobody has reaped yet)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_timeout_kills_the_tool_and_its_children(tmp_path):
    (tmp_path / "out").mkdir()
    pidfile = tmp_path / "out" / "child.pid"
    tools = make_tools(tmp_path, f"""
name: hang
description: starts a child, then sleeps forever
shell: 'sleep 1000 & echo $! > "{pidfile}"; while :; do sleep 1; done'
timeout: 1.5
sandbox: {{write: ["{pidfile.parent}"]}}
""")
    start = time.monotonic()
    result = run_tool(tools["hang"], {})
    child = int(pidfile.read_text())
    deadline = start + 1.5 + 1
    while not gone(child) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert gone(child), "the tool's child process survived the timeout"
    assert time.monotonic() <= deadline
    assert result.is_error and "timed out after 1.5 s" in result.content


def test_output_is_capped_while_it_is_read(tmp_path):
    tools = make_tools(tmp_path, f"""
tools:
  - name: flood
    description: 10 MB of output
    command: [{PY}, -c, "import sys; sys.stdout.write('x' * 10_000_000)"]
  - name: small
    description: a smaller cap
    command: [{PY}, -c, "print('é' * 100)"]
    max_output: 51
  - name: forever
    description: never stops writing
    command: ["yes"]
""")
    tracemalloc.start()
    result = run_tool(tools["flood"], {})
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert result.is_error
    assert result.content.startswith("x" * 65536) and "x" * 65537 not in result.content
    assert "output cut" in result.content and "65536 bytes" in result.content
    assert peak < 2_000_000, f"reading 10 MB of output held {peak} bytes"

    small = run_tool(tools["small"], {})  # 51 bytes end inside a 2-byte character
    assert small.is_error and small.content.startswith("é" * 25 + "\n[llmrun: output cut")
    assert run_tool(tools["forever"], {}).is_error  # returns: the pipe is closed on it


def test_failures_become_error_results(tmp_path):
    tools = make_tools(tmp_path, """
tools:
  - name: fails
    description: exits 3
    shell: 'echo partial; echo "it broke" >&2; exit 3'
  - name: killed
    description: dies of a signal
    shell: 'kill -SEGV $$'
  - name: missing
    description: no such program
    command: [no-such-program-llmrun]
  - name: binary
    description: not UTF-8
    command: [printf, 'caf\\351 \\377 ok\\n\\n']
""")
    fails = run_tool(tools["fails"], {})
    assert fails.is_error and "exited with status 3" in fails.content
    assert "it broke" in fails.content and "partial" in fails.content
    assert "signal SIGSEGV" in run_tool(tools["killed"], {}).content
    missing = run_tool(tools["missing"], {})
    assert missing.is_error and "'no-such-program-llmrun' not found" in missing.content
    binary = run_tool(tools["binary"], {})
    assert not binary.is_error and binary.content == "caf\ufffd \ufffd ok"


def test_python_tools(tmp_path):
    (tmp_path / "impl_llmrun_test.py").write_text("""
import os, sys
def add(a, b=1):
    print("debug noise")  # must not reach llmrun's stdout
    return {"sum": a + b, "cwd": os.getcwd()}
def text(): return "as is  \\n"
def nothing(): return None
def boom(**kw): raise KeyError("no such thing")
def slow():
    import time; time.sleep(30)
""")
    tools = make_tools(tmp_path, """
tools:
  - {name: add, python: "impl_llmrun_test:add",
     parameters: {type: object, properties: {a: {type: integer}, b: {type: integer}}}}
  - {name: text, python: "impl_llmrun_test:text"}
  - {name: nothing, python: "impl_llmrun_test:nothing"}
  - {name: boom, python: "impl_llmrun_test:boom"}
  - {name: slow, python: "impl_llmrun_test:slow", timeout: 0.5}
  - {name: nofunc, python: "impl_llmrun_test:absent"}
""")
    added = run_tool(tools["add"], {"a": 2})
    assert json.loads(added.content) == {"sum": 3, "cwd": os.getcwd()}
    assert run_tool(tools["text"], {}).content == "as is  \n"
    assert run_tool(tools["nothing"], {}).content == ""
    boom = run_tool(tools["boom"], {})
    assert boom.is_error and "raised KeyError" in boom.content and "no such thing" in boom.content
    assert "timed out after 0.5 s" in run_tool(tools["slow"], {}).content
    assert "has no function 'absent'" in run_tool(tools["nofunc"], {}).content


def test_python_tool_print_never_corrupts_the_result(tmp_path, capfd):
    (tmp_path / "noisy_llmrun_test.py").write_text(
        "import os\ndef f():\n    print('noise', flush=True)\n    os.write(1, b'{}raw')\n"
        "    return 'ok'\ndef g():\n    print('before the crash', flush=True)\n"
        "    raise ValueError('bad')\n")
    tools = make_tools(tmp_path, "tools:\n  - {name: noisy, python: 'noisy_llmrun_test:f'}\n"
                                 "  - {name: crash, python: 'noisy_llmrun_test:g'}")
    assert run_tool(tools["noisy"], {}).content == "ok"
    out, err = capfd.readouterr()
    assert "noise" not in out  # print and fd 1 went to the worker's stderr
    failed = run_tool(tools["crash"], {})
    assert failed.is_error and "raised ValueError: bad" in failed.content
    assert "before the crash" in failed.content  # its stderr's end, as for a command


def test_parallel_calls_overlap_and_keep_call_order(tmp_path):
    tools = make_tools(tmp_path, f"""
name: nap
description: sleeps 1 s, records when it ran
parameters: {{type: object, properties: {{tag: {{type: string}}}}, required: [tag]}}
command: [{PY}, -c, "import sys, time; s = time.time(); time.sleep(1); print(sys.argv[1], s, time.time())", "{{tag}}"]
""")
    calls = [SimpleNamespace(id=f"c{i}", name="nap", arguments=json.dumps({"tag": t}))
             for i, t in enumerate(["first", "second"])]
    finished = []
    results = Toolbox(list(tools.values())).run_calls(calls, on_done=lambda c, r: finished.append(c.id))
    spans = [r.content.split() for r in results]
    assert [s[0] for s in spans] == ["first", "second"]
    (_, s1, e1), (_, s2, e2) = [(t, float(a), float(b)) for t, a, b in spans]
    assert s1 < e2 and s2 < e1, f"the two calls did not overlap: {spans}"
    assert sorted(finished) == ["c0", "c1"]


def test_bad_calls_never_reach_the_tool(tmp_path):
    (tmp_path / "out").mkdir()
    marker = tmp_path / "out" / "ran"
    tools = make_tools(tmp_path, f"""
name: touchy
sandbox: {{write: ["{marker.parent}"]}}
description: leaves a mark when it runs
parameters:
  type: object
  properties: {{n: {{type: integer, minimum: 1}}}}
  required: [n]
  additionalProperties: false
command: [touch, "{marker}"]
""")
    box = Toolbox(list(tools.values()))
    for name, args, words in [
            ("touchy", '{"n": 0}', "0 is less than 1"),
            ("touchy", '{"n": "1"}', 'is not of type integer'),
            ("touchy", '{}', "'n' is a required property"),
            ("touchy", '{"n": 1, "rm": true}', "unexpected property 'rm'"),
            ("touchy", '{"n": 1', "not valid JSON"),
            ("tuochy", '{"n": 1}', "no tool named 'tuochy'; the available tools are: touchy")]:
        result = box.run_call(name, args)
        assert result.is_error and words in result.content, result.content
    assert not marker.exists()
    assert not box.run_call("touchy", '{"n": 1}').is_error and marker.exists()


def test_schema_outside_the_fast_subset_is_checked_by_jsonschema(tmp_path):
    tools = make_tools(tmp_path, """
name: pat
parameters:
  type: object
  properties: {code: {type: string, pattern: "^[A-Z]{3}$"}}
  anyOf: [{required: [code]}]
command: [echo, "{code}"]
""")
    box = Toolbox(list(tools.values()))
    assert box.run_call("pat", '{"code": "FLR"}').content == "FLR"
    bad = box.run_call("pat", '{"code": "flr"}')
    assert bad.is_error and "does not match" in bad.content

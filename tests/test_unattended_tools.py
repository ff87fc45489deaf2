"""Issue 15, the tool side: what a hostile model can make a tool do, tried through the CLI as
a real subprocess against the loopback server, with real tool processes.

Each test runs with HOME, the working directory and TMPDIR in a temporary folder.
"""

import json
import os
import shutil
import subprocess
import sys
import time

import drive
from drive import wait_for
from server import Reply, sse
from streams import answer_step, call_args, call_header, chunk, usage

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SECRETS = {"OPENAI_API_KEY": "sk-openai-secret-1", "OPENROUTER_API_KEY": "sk-or-secret-2",
           "GITHUB_TOKEN": "ghp_secret_3", "AWS_SECRET_ACCESS_KEY": "aws-secret-4",
           "DB_PASSWORD": "hunter2-secret-5", "my_credentials": "cred-secret-6",
           "MINE_AUTH": "mine-secret-7", "LLMRUN_API_KEY": "sk-llmrun-secret-8"}


def tool_step(*calls):
    """One step asking for `calls` [(name, arguments)] in parallel."""
    chunks = []
    for i, (name, args) in enumerate(calls):
        chunks += [call_header(i, f"call_{i}", name), call_args(i, args)]
    return chunks + [chunk(finish="tool_calls"), chunk(usage=usage(), choices=False)]


def llmrun(tmp_path, server, *args, env=None, timeout=60):
    """`ask --json` with HOME in a folder of its own below the working directory."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)
    return drive.llmrun(tmp_path, *drive.ask_args(server, *args), env=env, timeout=timeout,
                        home=home)


def env_tools(folder):
    (folder / "envdump.py").write_text(
        "import os\ndef dump():\n    return '\\n'.join(f'{k}={v}' for k, v in os.environ.items())\n")
    (folder / "tools.yaml").write_text("""
tools:
  - {name: cmd_env, description: env, command: [env]}
  - {name: sh_env, description: env, shell: env}
  - {name: py_env, description: env, python: "envdump:dump"}
  - {name: gh, description: env with the token, shell: env, pass_env: [GITHUB_TOKEN]}
""")


def test_no_secret_reaches_any_kind_of_tool_unless_its_file_names_it(server, tmp_path):
    tools = tmp_path / "tools"
    tools.mkdir()
    env_tools(tools)
    config = tmp_path / "config" / "llmrun"
    config.mkdir(parents=True)
    (config / "config.yaml").write_text(
        "providers:\n  - {name: mine, base_url: http://127.0.0.1:9/v1, api_key_env: MINE_AUTH}\n")
    server.add(Reply(sse(*tool_step(("cmd_env", "{}"), ("sh_env", "{}"), ("py_env", "{}"),
                                    ("gh", "{}")))),
               Reply(sse(*answer_step("done"))))
    proc = llmrun(tmp_path, server, "-t", str(tools), env=SECRETS)
    assert proc.returncode == 0, proc.stderr
    results = {c["name"]: c["result"] for c in json.loads(proc.stdout)["tool_calls"]}
    for name in ("cmd_env", "sh_env", "py_env"):
        assert "PATH=" in results[name]  # the ordinary environment is there
        for variable, secret in SECRETS.items():
            assert secret not in results[name], (name, variable)
            assert f"{variable}=" not in results[name]
    assert "GITHUB_TOKEN=ghp_secret_3" in results["gh"]  # named in pass_env: handed through
    assert "OPENAI_API_KEY" not in results["gh"]
    # and so nothing of it went back to the provider either
    sent = server.requests[1].body.decode()
    assert not any(secret in sent for variable, secret in SECRETS.items()
                   if variable != "GITHUB_TOKEN")


def test_a_stuck_python_tool_is_stopped_at_its_timeout(server, tmp_path):
    """`calculate` with (10**3999)**9999 passes its own checks, then computes for a minute in
    one C call: only a process can be stopped there."""
    tools = tmp_path / "tools"
    tools.mkdir()
    shutil.copy(os.path.join(ROOT, "tools", "llmrun_calc.py"), tools)
    text = open(os.path.join(ROOT, "tools", "calculate.yaml")).read()
    (tools / "calculate.yaml").write_text(text.replace("timeout: 5", "timeout: 1"))
    server.add(Reply(sse(*tool_step(("calculate", json.dumps({"expression":
                                                              "(10**3999)**9999"}))))),
               Reply(sse(*answer_step("too big"))))
    proc = llmrun(tmp_path, server, "-t", str(tools))
    assert proc.returncode == 0, proc.stderr
    call = json.loads(proc.stdout)["tool_calls"][0]
    assert call["is_error"] and "timed out after 1 s" in call["result"]
    assert proc.elapsed < 15


def test_sigterm_stops_a_python_tool_at_once(server, tmp_path):
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "spin.py").write_text("def spin():\n    while True:\n        pass\n")
    (tools / "spin.yaml").write_text("name: spin\ndescription: x\npython: spin:spin\n")
    server.add(Reply(sse(*tool_step(("spin", "{}")))))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LLMRUN_")}
    env.update(PYTHONPATH=ROOT, LLMRUN_API_KEY="k", HOME=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-m", "llmrun", "ask", "--json", "--no-stdin",
                             "--base-url", server.url, "-m", "m", "-t", str(tools), "go"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                            cwd=str(tmp_path))
    workers = []
    deadline = time.monotonic() + 20
    while not workers and time.monotonic() < deadline:
        time.sleep(0.1)
        workers = [p for p in _children(proc.pid) if b"llmrun.tools.pyfunc" in _cmdline(p)]
    assert workers, "the Python worker never started"
    proc.terminate()
    out, err = proc.communicate(timeout=10)
    assert proc.returncode == 143 and json.loads(out)["error"]["type"] == "interrupted"
    assert wait_for(lambda: not [p for p in workers if os.path.exists(f"/proc/{p}")], 3), \
        "the worker outlived llmrun"


def test_300_calls_in_one_step_run_at_most_16_at_a_time(server, tmp_path):
    tools = tmp_path / "tools"
    tools.mkdir()
    log = tmp_path / "log"
    log.mkdir()
    (tools / "slow.yaml").write_text(
        "name: slow\ndescription: x\nparameters: {type: object, properties: {n: {type: integer}}}\n"
        f"shell: 'touch {log}/start.$LLMRUN_ARG_N; sleep 0.2; touch {log}/end.$LLMRUN_ARG_N'\n"
        f"sandbox: {{write: [{log}]}}\n")
    calls = [("slow", json.dumps({"n": i})) for i in range(300)]
    server.add(Reply(sse(*tool_step(*calls))), Reply(sse(*answer_step("done"))))
    proc = llmrun(tmp_path, server, "-t", str(tools), timeout=120)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)["tool_calls"]
    assert len(result) == 300
    ran = [c for c in result if not c["is_error"]]
    refused = [c for c in result if c["is_error"]]
    assert len(ran) == 128 and len(refused) == 172
    assert all("at most 128 calls" in c["result"] for c in refused)
    spans = [(os.stat(log / f"start.{i}").st_mtime, os.stat(log / f"end.{i}").st_mtime)
             for i in range(128)]
    most = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert 2 <= most <= 16, most
    assert len(server.requests[1].json()["messages"]) == 2 + 300  # every call got its answer


def test_parallel_sets_how_many_run_at_once(server, tmp_path):
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "slow.yaml").write_text("name: slow\ndescription: x\nshell: sleep 0.5\n")
    server.add(Reply(sse(*tool_step(*[("slow", "{}")] * 4))), Reply(sse(*answer_step("ok"))))
    proc = llmrun(tmp_path, server, "-t", str(tools), "--parallel", "1")
    assert proc.returncode == 0, proc.stderr
    assert proc.elapsed > 2.0  # one after the other


def test_a_tools_leftover_processes_are_killed_when_it_exits(server, tmp_path):
    tools = tmp_path / "tools"
    tools.mkdir()
    (tmp_path / "out").mkdir()
    pidfile = tmp_path / "out" / "bg.pid"
    (tools / "bg.yaml").write_text(
        f"name: bg\ndescription: x\nsandbox: {{write: [{pidfile.parent}]}}\n"
        f"shell: 'sleep 300 >/dev/null 2>&1 & echo $! > {pidfile}; echo started'\n")
    server.add(Reply(sse(*tool_step(("bg", "{}")))), Reply(sse(*answer_step("ok"))))
    proc = llmrun(tmp_path, server, "-t", str(tools))
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["tool_calls"][0]["result"] == "started"
    pid = int(pidfile.read_text())
    assert wait_for(lambda: not _alive(pid), 3), "the tool's background process outlived it"


def test_undeclared_arguments_set_no_variables(server, tmp_path):
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "t.yaml").write_text(
        "name: t\ndescription: x\nparameters: {type: object, properties: {a: {type: string}}}\n"
        "shell: env\n")
    server.add(Reply(sse(*tool_step(("t", json.dumps({"a": "1", "PATH": "/evil",
                                                      "ld_preload": "/x.so"}))))),
               Reply(sse(*answer_step("ok"))))
    proc = llmrun(tmp_path, server, "-t", str(tools))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)["tool_calls"][0]["result"]
    assert "LLMRUN_ARG_A=1" in result
    assert "LLMRUN_ARG_PATH" not in result and "LLMRUN_ARG_LD_PRELOAD" not in result


def test_two_parameters_that_share_a_variable_are_a_file_error(tmp_path):
    (tmp_path / "t.yaml").write_text(
        "name: t\ndescription: x\nparameters:\n  type: object\n  properties:\n"
        "    a-b: {type: string}\n    a_b: {type: string}\nshell: env\n")
    proc = subprocess.run([sys.executable, "-m", "llmrun", "tools", "check", str(tmp_path)],
                          capture_output=True, text=True, timeout=30,
                          env=dict(os.environ, PYTHONPATH=ROOT))
    assert proc.returncode == 3
    assert f"{tmp_path}/t.yaml:7:" in proc.stderr and "LLMRUN_ARG_A_B" in proc.stderr


def test_read_file_on_a_huge_one_line_file_stays_small(tmp_path):
    big = tmp_path / "big.txt"
    with open(big, "wb") as fh:
        block = b"x" * (1 << 20)
        for _ in range(200):
            fh.write(block)
    # VmHWM, not ru_maxrss: on Linux the latter also counts the forking parent (pytest)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import llmrun_toolkit as t; "
            "out = t.read_file(sys.argv[2]); "
            "peak = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]; "
            "print(len(out), 'line cut' in out, peak)")
    proc = subprocess.run([sys.executable, "-c", code, os.path.join(ROOT, "tools"), str(big)],
                          capture_output=True, text=True, timeout=60)
    length, said_cut, peak_kib = proc.stdout.split()
    assert int(length) < 64 * 1024 and said_cut == "True"
    assert int(peak_kib) < 100 * 1024, f"{peak_kib} KiB for a 200 MiB line"


def _children(pid):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
                found += _children(int(entry))
    return found


def _cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read()
    except OSError:
        return b""


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False

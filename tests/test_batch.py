"""`llmrun batch`, driven as a user would (a real subprocess), against a loopback server that
answers each request from its own messages: items answered once each, concurrency seen from
the server's own records, MCP servers started once, bad lines as `input` items, SIGKILL and
SIGTERM then --resume, one shared 429 pause, shards (explicit, auto, GNU parallel), budgets."""

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from drive import ROOT, env_for, llmrun, spawn, tool_loop
from server import Reply, TestServer

FAKE_MCP = os.path.join(ROOT, "tests", "mcp_servers", "fake_server.py")


# -- helpers ------------------------------------------------------------------------------------
def write_items(tmp_path, count, name="in.jsonl"):
    path = tmp_path / name
    path.write_text("".join(json.dumps({"id": f"i{n}", "prompt": f"p{n}"}) + "\n"
                            for n in range(count)))
    return name


def batch(server, *args):
    return ["batch", "--base-url", server.url, "-m", "m", *args]


def lines_of(text):
    return [json.loads(line) for line in text.splitlines()]


def slowly(respond, seconds):
    """The responder's replies, each taking `seconds` between its first byte and its last
    (so the server's record of its end is when the client has it all)."""
    def wrapped(request):
        body = respond(request).body
        half = len(body) // 2

        def send(h):
            h.send_response(200)
            h.send_header("Content-Type", "text/event-stream")
            h.send_header("Content-Length", str(len(body)))
            h.end_headers()
            h.wfile.write(body[:half])
            h.wfile.flush()
            time.sleep(seconds)
            h.wfile.write(body[half:])
            h.wfile.flush()
        return Reply(action=send)
    return wrapped


def answers(server):
    return tool_loop(None, lambda prompt: {})


def prompts_asked(server):
    return sorted(next(m["content"] for m in r.json()["messages"] if m["role"] == "user")
                  for r in server.requests)


def wait_for(predicate, timeout=30):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def line_count(path):
    return path.read_bytes().count(b"\n") if path.exists() else 0


def shard_rule(item_id, count):
    return int.from_bytes(hashlib.sha256(item_id.encode("utf-8")).digest(), "big") % count + 1


# -- must show ------------------------------------------------------------------------------------
def test_twenty_items_are_answered_once_each(tmp_path):
    with TestServer() as server:
        server.responder = answers(server)
        proc = llmrun(tmp_path, *batch(server, write_items(tmp_path, 20)))
        asked = prompts_asked(server)
    assert proc.returncode == 0, proc.stderr
    out = lines_of(proc.stdout)
    assert sorted(o["id"] for o in out) == sorted(f"i{n}" for n in range(20))
    assert all(o["answer"] == f"p{o['id'][1:]}: " and o["exit_code"] == 0 for o in out)
    assert asked == sorted(f"p{n}" for n in range(20))  # each item asked exactly once
    assert "20 items done of 20, 0 failed" in proc.stderr


def test_concurrency_keeps_that_many_requests_in_flight(tmp_path):
    """32 items of 0.5 s at --concurrency 8: 6-8 requests in flight on average over the whole
    batch (time-weighted, from the server's records), never more than 8."""
    with TestServer() as server:
        server.responder = slowly(answers(server), 0.5)
        proc = llmrun(tmp_path, *batch(server, "--concurrency", "8", write_items(tmp_path, 32)))
        records = list(server.requests)
        first = min(r.at for r in records)
        last = max(r.ended for r in records)
    assert proc.returncode == 0, proc.stderr
    assert len(records) == 32
    assert max(server.in_flight(r.at) for r in records) == 8  # 8 at once, never more
    busy = sum(r.ended - r.at for r in records) / (last - first)  # the mean in flight
    assert 6 <= busy <= 8, busy
    assert last - first < 6, last - first  # ideal 2 s (4 waves of 0.5 s); a loose bound


def test_ten_items_share_one_stdio_mcp_server(tmp_path):
    marks = tmp_path / "marks"  # the server's sandbox may write here, and only here
    marks.mkdir()
    starts = marks / "starts"
    mcp = tmp_path / "mcp.json"
    mcp.write_text(json.dumps({"mcpServers": {"fake": {"command": "sh", "args": [
        "-c", f'echo started >> "{starts}"; exec "{sys.executable}" "{FAKE_MCP}" x'],
        "sandbox": {"write": [str(marks)]}}}}))
    with TestServer() as server:
        server.responder = tool_loop("t0", lambda prompt: {"x": prompt})
        proc = llmrun(tmp_path, *batch(server, "--mcp", str(mcp), write_items(tmp_path, 10)))
    assert proc.returncode == 0, proc.stderr
    out = lines_of(proc.stdout)
    assert len(out) == 10
    assert all(o["tool_calls"][0]["result"].startswith("t0 ran") and
               o["answer"].startswith(f"p{o['id'][1:]}: t0 ran") for o in out)
    assert starts.read_text() == "started\n"  # once, for all ten items


def test_bad_lines_fail_as_input_items_and_the_others_run(tmp_path):
    (tmp_path / "in.jsonl").write_text("\n".join([
        json.dumps({"id": "a", "prompt": "pa"}),   # 1
        "this is not json",                         # 2: id "2"
        json.dumps({"id": "b"}),                    # 3: no prompt
        json.dumps({"id": "a", "prompt": "again"}),  # 4: repeats "a"
        "",                                         # 5: blank, no item
        json.dumps({"prompt": "p6"}),               # 6: id "6"
        json.dumps({"id": 6, "prompt": "six"}),     # 7: 6 becomes "6": a repeat of line 6
        json.dumps({"id": 42, "prompt": "p42", "model": "other", "system": "be brief"}),
        json.dumps([1, 2]),                         # 9: not an object
        json.dumps({"id": "c", "promt": "typo"}),   # 10: unknown key
        '{"id": "s", "prompt": "\\ud800"}',           # 11: a lone surrogate: cannot be sent
    ]) + "\n")
    with TestServer() as server:
        server.responder = answers(server)
        proc = llmrun(tmp_path, *batch(server, "-v", "in.jsonl"))
        bodies = server.bodies()
    assert proc.returncode == 9, proc.stderr
    assert "llmrun: item 2: exit 2: line 2 is not valid JSON" in proc.stderr  # -v
    assert "llmrun: item a: exit 0\n" in proc.stderr
    out = {(o["id"], o.get("line")): o for o in lines_of(proc.stdout)}
    assert len(out) == 10
    good = {k[0]: o for k, o in out.items() if o["exit_code"] == 0}
    assert sorted(good) == ["42", "6", "a"]
    assert good["a"]["answer"] == "pa: " and good["6"]["answer"] == "p6: "
    bad = {k: o for k, o in out.items() if o["exit_code"] != 0}
    assert sorted(bad) == [("2", 2), ("6", 7), ("9", 9), ("a", 4), ("b", 3), ("c", 10),
                           ("s", 11)]
    assert all(o["error"]["type"] == "input" for o in bad.values())
    assert "repeats the id 'a' of line 1" in bad[("a", 4)]["error"]["message"]
    assert "not valid JSON" in bad[("2", 2)]["error"]["message"]
    (forty_two,) = [b for b in bodies if b["messages"][-1]["content"] == "p42"]
    assert forty_two["model"] == "other"
    assert forty_two["messages"][0] == {"role": "system", "content": "be brief"}


def test_sigkill_midway_then_resume_answers_every_item_exactly_once(tmp_path):
    out = tmp_path / "out.jsonl"
    name = write_items(tmp_path, 30)
    with TestServer() as server:
        server.responder = slowly(answers(server), 0.3)
        proc = spawn(tmp_path, *batch(server, "--concurrency", "4", "-o", "out.jsonl", name))
        assert wait_for(lambda: line_count(out) >= 8), proc.stderr.read()
        proc.kill()
        proc.wait()
        done_before = line_count(out)
        with open(out, "ab") as fh:  # what a crash in the middle of a write leaves
            fh.write(b'{"answer": "torn", "id": "i29", "exit_co')
        again = llmrun(tmp_path, *batch(server, "--resume", "-o", "out.jsonl", name))
    assert again.returncode == 0, again.stderr
    data = out.read_bytes()
    assert data.endswith(b"\n") and b"torn" not in data
    final = lines_of(data.decode())
    assert sorted(o["id"] for o in final) == sorted(f"i{n}" for n in range(30))
    assert all(o["exit_code"] == 0 for o in final)
    assert 8 <= done_before < 30


def test_a_429_pauses_every_worker_for_the_retry_after(tmp_path):
    """The 8th request gets 429 Retry-After: 3 while 7 others are in flight: no request
    starts for 3 s, and with --retries 0 no item fails for it."""
    state = {"n": 0}
    slow = slowly(answers(None), 1.0)

    def respond(request):
        state["n"] += 1
        if state["n"] == 8:
            return Reply(b'{"error": {"message": "slow down"}}', 429,
                         {"Content-Type": "application/json", "Retry-After": "3"},
                         mode="length", split="none")
        return slow(request)

    with TestServer() as server:
        server.responder = respond
        proc = llmrun(tmp_path, *batch(server, "--concurrency", "8", "--retries", "0",
                                       write_items(tmp_path, 16)))
        records = list(server.requests)
    assert proc.returncode == 0, proc.stderr
    assert len(lines_of(proc.stdout)) == 16
    busy = records[7]
    assert server.in_flight(busy.at) - 1 == 7  # seven others were being answered
    later = [r.at - busy.at for r in records[8:]]
    assert len(later) == 9 and min(later) >= 2.95, later


def test_three_shards_at_once_partition_the_items(tmp_path):
    name = write_items(tmp_path, 40)
    every = sorted(f"i{n}" for n in range(40))
    with TestServer() as server:
        server.responder = answers(server)
        runs = {
            "explicit": [({}, ["--shard", f"{k}/3"]) for k in (1, 2, 3)],
            "kubernetes": [({"JOB_COMPLETION_INDEX": str(k - 1), "LLMRUN_SHARDS": "3"},
                            ["--shard", "auto"]) for k in (1, 2, 3)],
            "slurm": [({"SLURM_ARRAY_TASK_ID": str(k + 4), "SLURM_ARRAY_TASK_MIN": "5",
                        "SLURM_ARRAY_TASK_MAX": "7", "SLURM_ARRAY_TASK_COUNT": "3",
                        "SLURM_ARRAY_TASK_STEP": "1"}, ["--shard", "auto"]) for k in (1, 2, 3)],
        }
        for kind, shards in runs.items():
            procs = [spawn(tmp_path, *batch(server, *args, name), env=env) for env, args in shards]
            outs = [p.communicate(timeout=60) for p in procs]
            assert [p.returncode for p in procs] == [0, 0, 0], outs
            ids = [[o["id"] for o in lines_of(out.decode())] for out, _ in outs]
            assert sorted(sum(ids, [])) == every, kind  # each item once, across the three
            for k, mine in enumerate(ids, start=1):
                assert mine and all(shard_rule(i, 3) == k for i in mine), (kind, k)


def test_gnu_parallel_runs_the_shards(tmp_path):
    if shutil.which("parallel") is None:
        pytest.skip("GNU parallel is not installed")
    name = write_items(tmp_path, 40)
    with TestServer() as server:
        server.responder = answers(server)
        line = (f"parallel -j3 '{sys.executable}' -m llmrun batch --base-url {server.url} -m m "
                f"-q --shard {{}}/3 {name} ::: 1 2 3")
        proc = subprocess.run(["sh", "-c", line], cwd=str(tmp_path), env=env_for(tmp_path),
                              capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert sorted(o["id"] for o in lines_of(proc.stdout)) == sorted(f"i{n}" for n in range(40))


def test_batch_max_cost_stops_starting_items(tmp_path):
    from drive import answer_reply

    def respond(request):
        prompt = request.json()["messages"][-1]["content"]
        return answer_reply(f"{prompt}!", cost=0.01)

    name = write_items(tmp_path, 10)
    with TestServer() as server:
        server.responder = respond
        proc = llmrun(tmp_path, *batch(server, "--concurrency", "1", "--batch-max-cost", "0.025",
                                       "-o", "out.jsonl", name))
        assert proc.returncode == 6, proc.stderr
        assert len(server.requests) == 3  # 0.01 + 0.01 + 0.01 reached 0.025: no fourth item
        assert "--batch-max-cost" in proc.stderr and "7 items not started" in proc.stderr
        rest = llmrun(tmp_path, *batch(server, "--resume", "-o", "out.jsonl", name))
    assert rest.returncode == 0, rest.stderr
    out = lines_of((tmp_path / "out.jsonl").read_text())
    assert sorted(o["id"] for o in out) == sorted(f"i{n}" for n in range(10))


# -- the rest of the contract ---------------------------------------------------------------------
@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_the_running_items_writes_them_and_exits(tmp_path, signum, code):
    out = tmp_path / "out.jsonl"
    name = write_items(tmp_path, 20)
    with TestServer() as server:
        server.responder = slowly(answers(server), 0.4)
        proc = spawn(tmp_path, *batch(server, "--concurrency", "4", "-o", "out.jsonl", name))
        assert wait_for(lambda: line_count(out) >= 4)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == code, err
        first = lines_of(out.read_text())
        stopped = [o for o in first if o["exit_code"] == code]
        assert stopped and all(o["error"]["type"] == "interrupted" for o in stopped)
        assert len(first) < 20
        rest = llmrun(tmp_path, *batch(server, "--resume", "-o", "out.jsonl", name))
    assert rest.returncode == 0, rest.stderr
    final = lines_of(out.read_text())
    answered = [o["id"] for o in final if o["exit_code"] == 0]
    assert sorted(answered) == sorted(f"i{n}" for n in range(20))  # each once with exit 0


def test_batch_deadline_ends_the_batch_and_stops_running_items(tmp_path):
    with TestServer() as server:
        server.responder = slowly(answers(server), 5)
        proc = llmrun(tmp_path, *batch(server, "--concurrency", "2", "--batch-deadline", "1",
                                       write_items(tmp_path, 6)))
    assert proc.returncode == 6, proc.stderr
    out = lines_of(proc.stdout)
    assert len(out) == 2 and all(o["error"]["type"] == "deadline" for o in out)
    assert "--batch-deadline" in out[0]["error"]["message"]
    assert "4 items not started" in proc.stderr


def test_an_items_deadline_stops_its_mcp_call_that_runs_in_its_worker(tmp_path):
    """A step's one MCP call runs in the item's own worker thread (no tool thread): the
    item's --deadline still stops it in the middle of the call, as a deadline, not as a
    tool failure; the shared server is stopped at the end."""
    sdk = os.path.join(ROOT, "tests", "mcp_servers", "sdk_server.py")
    mcp = tmp_path / "mcp.json"
    mcp.write_text(json.dumps({"mcpServers": {"sdk": {"command": sys.executable, "args": [
        sdk, "stdio", str(tmp_path)]}}}))
    with TestServer() as server:
        server.responder = tool_loop("slow", lambda prompt: {"seconds": 30})
        proc = llmrun(tmp_path, *batch(server, "--mcp", str(mcp), "--concurrency", "2",
                                       "--deadline", "3", write_items(tmp_path, 2)))
    assert proc.returncode == 9, proc.stderr
    out = lines_of(proc.stdout)
    assert [o["error"]["type"] for o in out] == ["deadline", "deadline"], out
    assert "inside llmrun" not in proc.stdout
    assert proc.elapsed < 20
    assert not [p for p in os.listdir("/proc") if p.isdigit() and _cmdline_has(p, str(tmp_path))]


def _cmdline_has(pid, text):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return text.encode() in fh.read()
    except OSError:
        return False


def test_text_mode_and_standard_input(tmp_path):
    with TestServer() as server:
        server.responder = answers(server)
        proc = llmrun(tmp_path, *batch(server, "--text", "-q", "-"), input="first\n\nthird\n")
    assert proc.returncode == 0 and proc.stderr == ""
    out = {o["id"]: o["answer"] for o in lines_of(proc.stdout)}
    assert out == {"1": "first: ", "3": "third: "}


@pytest.mark.parametrize("args, needle", [
    (["--stream"], "--stream is not a batch option"),
    (["--events"], "--events is not a batch option"),
    (["--record", "x.yaml"], "--record is not"), (["--replay", "x.yaml"], "--replay is not"),
    (["-c"], "-c is not a batch option"), (["--cid", "abc"], "--cid is not a batch option"),
    (["--resume"], "--resume needs -o"), (["--shard", "4/3"], "--shard"),
    (["--shard", "x"], "--shard must be K/N"), (["--concurrency", "65"], "--concurrency"),
])
def test_what_a_batch_cannot_take_is_exit_2(tmp_path, args, needle):
    write_items(tmp_path, 1)
    with TestServer() as server:
        proc = llmrun(tmp_path, *batch(server, *args, "in.jsonl"))
        assert not server.requests
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("llmrun: error:") and needle.lower() in proc.stderr.lower()


def test_a_batch_that_cannot_start_is_one_error(tmp_path):
    write_items(tmp_path, 3)
    with TestServer() as server:
        proc = llmrun(tmp_path, *batch(server, "-p", "openai", "in.jsonl"),
                      env={"LLMRUN_API_KEY": None})
        missing = llmrun(tmp_path, *batch(server, "nothere.jsonl"))
        step = llmrun(tmp_path, *batch(server, "--shard", "auto", "in.jsonl"),
                      env={"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_MIN": "0",
                           "SLURM_ARRAY_TASK_MAX": "4", "SLURM_ARRAY_TASK_COUNT": "3",
                           "SLURM_ARRAY_TASK_STEP": "2"})
        assert not server.requests
    assert proc.returncode == 3 and proc.stdout == "" and proc.stderr.count("\n") == 1
    assert "OPENAI_API_KEY" in proc.stderr
    assert missing.returncode == 2 and "cannot read nothere.jsonl" in missing.stderr
    assert step.returncode == 2 and "step 1" in step.stderr


def test_the_progress_line_on_a_terminal(tmp_path):
    from terminal_helpers import Screen, spawn_on_pty

    name = write_items(tmp_path, 6)
    with TestServer() as server:
        server.responder = slowly(answers(server), 0.2)
        screen = Screen()
        proc = spawn_on_pty(["-m", "llmrun", *batch(server, "--concurrency", "2", "-o",
                                                    str(tmp_path / "out.jsonl"),
                                                    str(tmp_path / name))],
                            env_for(tmp_path), screen)
        assert screen.wait_for(lambda: "done" in screen.raw and proc.poll() is not None, 30)
        screen.close()
    assert proc.returncode == 0
    assert "/6 done · 0 failed" in screen.raw and "left" in screen.raw  # the line that updates
    assert screen.lines()[-1].startswith("llmrun: batch: 6 items done of 6, 0 failed")


def test_item_ids_as_the_contract_spells_them():
    from llmrun.api.batchinput import read_items

    items = read_items(b'{"id": 7, "prompt": "a"}\n{"id": 2.5, "prompt": "b"}\n'
                       b'{"id": true, "prompt": "c"}\n{"prompt": "d"}\r\n\xff\n')
    assert [(i.id, i.problem is None) for i in items] == [
        ("7", True), ("2.5", True), ("3", False), ("4", True), ("5", False)]
    assert read_items(b"x\n\n\ny\n", text_mode=True)[1].id == "4"
    hostile = read_items(b'{"id": "a", "prompt": "\\ud800"}\n{"id": "\\udc00", "prompt": "hi"}\n'
                         b'{"id": "b", "prompt": "hi", "system": "\\udfff"}\n'
                         b'{"id": "c", "prompt": "x", "model": 5}\n' + b"[" * 100000 + b"\n")
    assert [(i.id, i.problem is not None) for i in hostile] == [
        ("a", True), ("2", True), ("b", True), ("c", True), ("5", True)]


def test_the_shard_rule_and_auto():
    from llmrun.api.shards import parse_shard, shard_of

    assert shard_of("i1", 3) == shard_rule("i1", 3)
    assert shard_of("é", 7) == shard_rule("é", 7)
    assert parse_shard("2/5") == (2, 5) and parse_shard(None) is None
    assert parse_shard("auto", {"JOB_COMPLETION_INDEX": "0", "LLMRUN_SHARDS": "4"}) == (1, 4)
    with pytest.raises(ValueError):
        parse_shard("auto", {"JOB_COMPLETION_INDEX": "0"})
    with pytest.raises(ValueError):
        parse_shard("auto", {})


def test_a_batch_max_cost_that_cannot_be_kept_starts_no_more_items(tmp_path):
    """A server that reports no cost: the first item's answer stands, no further item starts,
    and the batch says why (exit 3); a preset known not to report cost is refused up front."""
    with TestServer() as server:
        server.responder = answers(server)
        proc = llmrun(tmp_path, *batch(server, "--concurrency", "1", "--batch-max-cost", "1",
                                       write_items(tmp_path, 5)))
        preset = llmrun(tmp_path, *batch(server, "-p", "openai", "--batch-max-cost", "1",
                                         "in.jsonl"))
        assert len(server.requests) == 1
    assert proc.returncode == 3, proc.stderr
    assert [o["exit_code"] for o in lines_of(proc.stdout)] == [0]
    assert "llmrun: error: --batch-max-cost cannot be enforced" in proc.stderr
    assert preset.returncode == 3 and "does not report cost" in preset.stderr


def test_a_closed_stdout_ends_the_batch_quietly(tmp_path):
    name = write_items(tmp_path, 30)
    with TestServer() as server:
        server.responder = answers(server)
        line = (f"'{sys.executable}' -m llmrun batch --base-url {server.url} -m m -q "
                f"--concurrency 2 {name} | head -n 1; echo \"exit=${{PIPESTATUS[0]}}\"")
        proc = subprocess.run(["bash", "-c", line], cwd=str(tmp_path), env=env_for(tmp_path),
                              capture_output=True, text=True, timeout=60)
    first, status = proc.stdout.splitlines()
    assert json.loads(first)["exit_code"] == 0
    assert status in ("exit=141", "exit=0") and proc.stderr == ""


def test_rpm_spaces_the_requests_of_the_whole_batch(tmp_path):
    with TestServer() as server:
        server.responder = answers(server)
        proc = llmrun(tmp_path, *batch(server, "--concurrency", "4", "--rpm", "300",
                                       write_items(tmp_path, 5)))
        arrivals = sorted(r.at for r in server.requests)
    assert proc.returncode == 0, proc.stderr
    # 300 a minute: a slot each 0.2 s, so 5 requests span 0.8 s from their slots (less what
    # the first one's trip took); without --rpm four of them arrive together
    assert len(arrivals) == 5 and arrivals[-1] - arrivals[0] >= 0.6, arrivals


def test_the_open_file_limit_is_raised_to_the_hard_limit(tmp_path):
    """A batch of 64 items needs more than 1024 descriptors easily; its tools inherit it."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard <= 256:
        pytest.skip("needs a finite hard limit above 256")
    from drive import write_tool

    tools = write_tool(tmp_path / "tools", "fds", "command: [sh, -c, 'ulimit -n']\n")
    with TestServer() as server:
        server.responder = tool_loop("fds", lambda prompt: {})
        proc = spawn(tmp_path, *batch(server, "-t", tools, write_items(tmp_path, 1)),
                     preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard)))
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    (line,) = lines_of(out.decode())
    assert line["tool_calls"][0]["result"].strip() == str(hard)


def test_every_item_is_in_the_run_log_with_the_batch_id(tmp_path):
    with TestServer() as server:
        server.responder = tool_loop(None, lambda p: {})
        proc = llmrun(tmp_path, *batch(server, write_items(tmp_path, 3)))
    assert proc.returncode == 0, proc.stderr
    logged = lines_of(llmrun(tmp_path, "log", "--json").stdout)
    assert sorted(r["prompt"] for r in logged) == ["p0", "p1", "p2"]
    shown = [json.loads(llmrun(tmp_path, "log", "show", r["id"], "--json").stdout)
             for r in logged]
    assert sorted(s["item_id"] for s in shown) == ["i0", "i1", "i2"]
    batch_ids = {s["batch_id"] for s in shown}
    assert len(batch_ids) == 1 and None not in batch_ids
    (batch_id,) = batch_ids
    assert len(lines_of(llmrun(tmp_path, "log", "--batch", batch_id, "--json").stdout)) == 3
    assert lines_of(llmrun(tmp_path, "log", "--batch", "nope", "--json").stdout) == []

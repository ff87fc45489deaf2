"""The run log's store, written through its recorder from realistic event sequences (the
same events the tool loop emits): modes, what is kept, secrets, killed runs, many writers,
an unwritable log, caps, metadata mode, migrations and network filesystems."""

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap

import pytest
from conftest import HERE, ROOT
from runlog_play import info, one_tool_run, play, settings

from llmrun.runlog import queries
from llmrun.runlog.store import open_log


def connect(path):
    conn = sqlite3.connect(path)
    conn.row_factory = sqlite3.Row
    return conn


def test_folder_is_0700_the_file_0600_and_the_schema_versioned(tmp_path):
    s = settings(tmp_path)
    play(s, one_tool_run())
    folder = os.path.dirname(s.path)
    for created in (folder, os.path.dirname(folder)):  # every folder llmrun made
        assert stat.S_IMODE(os.stat(created).st_mode) == 0o700, created
    for name in os.listdir(folder):  # runs.db and its -wal / -shm
        assert stat.S_IMODE(os.stat(os.path.join(folder, name)).st_mode) == 0o600, name
    conn = connect(s.path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_run_is_kept_whole(tmp_path):
    s = settings(tmp_path)
    rec = play(s, one_tool_run(), info())
    conn = connect(s.path)
    run = conn.execute("SELECT * FROM runs").fetchone()
    assert (run["id"], run["status"], run["exit_code"], run["steps"]) == (rec.id, "done", 0, 2)
    assert run["prompt"] == "What's the weather in Florence?"
    assert run["answer"] == "It is 40 C." and run["system"] == "You are terse."
    assert (run["requested_model"], run["model"]) == ("test-model", "test-model-1")
    assert (run["prompt_tokens"], run["completion_tokens"]) == (30, 12)
    assert json.loads(run["tool_sources"]) == {"weather": "/tools/weather.yaml"}
    call = conn.execute("SELECT * FROM tool_calls").fetchone()
    assert (call["tool"], call["arguments"], call["result"], call["source"]) == \
        ("weather", '{"location":"Florence"}', "40 C", "/tools/weather.yaml")
    steps = conn.execute("SELECT * FROM steps ORDER BY step").fetchall()
    assert [s["finish_reason"] for s in steps] == ["tool_calls", "stop"]
    assert steps[0]["reasoning"] == "Look it up." and steps[1]["text"] == "It is 40 C."
    messages = json.loads(conn.execute("SELECT messages FROM transcripts").fetchone()[0])
    assert messages[2]["reasoning_details"][0]["signature"] == "sig-1"
    shown = queries.show(connect(s.path), rec.id)
    assert shown["tool_calls"][0]["arguments"] == {"location": "Florence"}
    assert shown["usage"]["cost"] == pytest.approx(0.0003)


def test_requests_are_stored_once_and_put_back_exactly(tmp_path):
    from llmrun.runlog.replay import requests

    s = settings(tmp_path)
    events = one_tool_run()
    rec = play(s, events)
    sent = [e["_request"] for e in events if e.get("type") == "step"]
    assert requests(connect(s.path), rec.id) == sent
    stored = json.loads(connect(s.path).execute(
        "SELECT request FROM steps WHERE step = 2").fetchone()[0])
    assert stored["messages"]["from"] == 2  # system and user are not stored twice


SECRET_ENV = "ghp_scrubbedTokenValue123456"


def test_no_copy_of_the_key_or_a_scrubbed_secret_in_any_file(tmp_path, monkeypatch):
    """Every text of the run echoes the key and a scrubbed variable's value (whole, and
    split across the text), yet no file of the log folder holds either."""
    from llmrun.base.secrets import remember_secret
    from llmrun.runlog.settings import resolve_log

    key = "sk-echoed-Key-9f8e7d6c5b4a"
    remember_secret(key)
    monkeypatch.setenv("GITHUB_TOKEN", SECRET_ENV)
    s = resolve_log(environ=dict(os.environ, LLMRUN_LOG_DB=str(tmp_path / "log" / "r.db")),
                    is_secret=lambda name: "TOKEN" in name or "KEY" in name)
    echo = f"{key} and {SECRET_ENV}"
    events = one_tool_run(prompt=f"say {echo}", answer=f"here: {echo}", result=f"env: {echo}",
                          arguments=json.dumps({"location": echo}), reasoning=f"r {echo}")
    play(s, events, info(prompt=f"say {echo}", system=echo,
                         argv=["llmrun", "ask", echo], base_url=f"http://u:{key}@127.0.0.1/v1"))
    folder = os.path.dirname(s.path)
    for name in os.listdir(folder):
        data = open(os.path.join(folder, name), "rb").read()
        for secret in (key, SECRET_ENV):
            assert secret.encode() not in data, (name, secret)
            assert secret.encode("utf-16-le") not in data
    answer = connect(s.path).execute("SELECT answer FROM runs").fetchone()[0]
    assert answer == "here: [redacted] and [redacted]"


def _writer_script(db, stop_after=None, runs=1, marker=None):
    return textwrap.dedent(f"""
        import sys, time
        sys.path.insert(0, {HERE!r})
        from runlog_play import info, one_tool_run
        from llmrun.runlog.recorder import open_recorder
        from llmrun.runlog.settings import LogSettings
        for n in range({runs}):
            rec = open_recorder(LogSettings(path={db!r}), info(prompt=f"run {{n}}"),
                                lambda m: print("WARN", m, file=sys.stderr, flush=True),
                                background={marker is None!r})
            for e in one_tool_run(prompt=f"run {{n}}", stop_after={stop_after!r}):
                rec.event(e)
            if {marker!r}:
                print({marker!r}, flush=True)
                time.sleep(60)
            rec.close()
        """)


def test_sigkill_after_step_1_keeps_step_1_and_shows_killed(tmp_path):
    db = str(tmp_path / "runs.db")
    proc = subprocess.Popen([sys.executable, "-c", _writer_script(db, "step1", marker="STEP1")],
                            stdout=subprocess.PIPE, cwd=ROOT)
    try:
        assert proc.stdout.readline().strip() == b"STEP1"
        conn = connect(db)
        [alive] = queries.list_runs(conn, queries.Filter())
        assert alive["status"] == "running"  # its writer is alive
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        proc.kill()
    [run] = queries.list_runs(conn, queries.Filter())
    assert (run["status"], run["exit_code"], run["steps"]) == ("killed", None, 1)
    assert run["cost"] == pytest.approx(0.0001)  # what step 1 cost is there too
    shown = queries.show(conn, run["id"])
    assert shown["step_log"][0]["reasoning"] == "Look it up."
    assert shown["error"]["type"] == "killed" and shown["status"] == "killed"
    assert queries.list_runs(conn, queries.Filter(failed=True))[0]["id"] == run["id"]


def test_a_reused_pid_does_not_make_a_dead_run_look_alive(tmp_path):
    from llmrun.runlog.ids import identity, still_running

    host, pid, boot, start = identity()
    row = {"host": host, "pid": pid, "boot_id": boot, "proc_start": start}
    assert still_running(row)
    assert not still_running(dict(row, proc_start=str(int(start or 0) + 1)))  # same pid, later
    assert not still_running(dict(row, boot_id="another-boot"))
    assert still_running(dict(row, host="another-host"))  # cannot judge: taken at its word


def test_12_processes_writing_4_runs_each_keep_48_runs(tmp_path):
    db = str(tmp_path / "runs.db")
    procs = [subprocess.Popen([sys.executable, "-c", _writer_script(db, runs=4)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
             for _ in range(12)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 12
    assert [err for _, err in outs] == [b""] * 12  # not one warning: no lock error
    conn = connect(db)
    assert conn.execute("SELECT count(*) FROM runs WHERE status = 'done'").fetchone()[0] == 48
    assert conn.execute("SELECT count(*) FROM tool_calls").fetchone()[0] == 48
    assert conn.execute("SELECT count(*) FROM steps").fetchone()[0] == 96
    assert len({r[0] for r in conn.execute("SELECT id FROM runs")}) == 48


def test_a_log_whose_parent_is_a_file_is_one_warning_and_no_recorder(tmp_path):
    from llmrun.runlog.recorder import open_recorder
    from llmrun.runlog.settings import LogSettings

    (tmp_path / "file").write_text("x")
    (tmp_path / "corrupt.db").write_bytes(b"this is not a database" * 100)
    for path in (tmp_path / "file" / "llmrun" / "runs.db", tmp_path / "corrupt.db"):
        warned = []
        assert open_recorder(LogSettings(path=str(path)), info(), warned.append,
                             background=False) is None
        assert len(warned) == 1 and "is not logged" in warned[0]
        warned.clear()
        rec = open_recorder(LogSettings(path=str(path)), info(), warned.append)  # threaded
        for e in one_tool_run():
            rec.event(e)
        rec.close()
        assert len(warned) == 1 and "is not logged" in warned[0], warned


def test_a_log_that_fails_mid_run_warns_once_and_goes_quiet(tmp_path):
    s = settings(tmp_path)
    warned = []
    events = one_tool_run()
    from llmrun.runlog.recorder import open_recorder

    rec = open_recorder(s, info(), warned.append, background=False)
    rec.event(events[0])
    connect(s.path).execute("DROP TABLE tool_calls")  # the file breaks under the run
    for e in events[1:]:
        rec.event(e)
    rec.close()
    assert len(warned) == 1 and "could not be written" in warned[0]


def test_texts_over_1_mib_are_cut_noted_and_the_run_marked(tmp_path):
    from llmrun.base.errors import ConfigError
    from llmrun.runlog.conversation import load_conversation
    from llmrun.runlog.replay import interactions

    s = settings(tmp_path)
    big = "é" * (1 << 20)  # 2 MiB of UTF-8
    rec = play(s, one_tool_run(result=big))
    conn = connect(s.path)
    kept = conn.execute("SELECT result FROM tool_calls").fetchone()[0]
    assert len(kept.encode()) <= 1 << 20 and kept == big[:len(kept)]
    cuts = conn.execute("SELECT what, full_bytes FROM cuts").fetchall()
    assert ("tool call 1 result", 2 << 20) in [tuple(c) for c in cuts]
    assert conn.execute("SELECT cut FROM runs").fetchone()[0] == 1
    with pytest.raises(ConfigError, match="cut"):
        load_conversation(s, rec.id)
    with pytest.raises(ConfigError, match="cut"):
        interactions(conn, queries.run_row(conn, rec.id))


def test_metadata_mode_keeps_no_texts(tmp_path):
    from llmrun.base.errors import ConfigError
    from llmrun.runlog.conversation import load_conversation

    s = settings(tmp_path, mode="metadata")
    rec = play(s, one_tool_run(prompt="secret plan", answer="secret answer"),
               info(prompt="secret plan"))
    conn = connect(s.path)
    run = conn.execute("SELECT * FROM runs").fetchone()
    assert (run["steps"], run["tool_call_count"], run["prompt_tokens"]) == (2, 1, 30)
    assert run["prompt"] is run["answer"] is run["argv"] is run["system"] is None
    data = b"".join(open(os.path.join(os.path.dirname(s.path), n), "rb").read()
                    for n in os.listdir(os.path.dirname(s.path)))
    for text in (b"secret plan", b"secret answer", b"Florence", b"40 C", b"Look it up"):
        assert text not in data, text
    assert conn.execute("SELECT tool FROM tool_calls").fetchone()[0] == "weather"
    with pytest.raises(ConfigError, match="metadata"):
        load_conversation(s, rec.id)


def test_cost_sums_exactly_and_counts_runs_without_cost(tmp_path):
    from decimal import Decimal

    s = settings(tmp_path)
    costs = [(0.1, 0.2), (0.0000814, 0.000000123456), (None, None), (-5.0, 0.3),
             (float("nan"), 0.7)]
    for pair in costs:
        play(s, one_tool_run(costs=pair))
    [total] = queries.cost(connect(s.path), None, None, None)
    exact = sum(Decimal(repr(c)) for pair in costs for c in pair
                if c is not None and c == c and c >= 0)
    assert total["cost"] == float(exact)
    assert total["runs"] == 5 and total["runs_without_cost"] == 1
    assert total["prompt_tokens"] == 150 and total["completion_tokens"] == 60


def test_search_finds_a_tool_result_and_takes_any_text(tmp_path):
    s = settings(tmp_path)
    play(s, one_tool_run(result="humidity 93 percent in Firenze"))
    play(s, one_tool_run(result="sunny"))
    conn = connect(s.path)
    found = queries.list_runs(conn, queries.Filter(search="Firenze"))
    assert len(found) == 1
    for hostile in ('"', "NEAR(", "a* OR", "')--", "Firenze\""):
        queries.list_runs(conn, queries.Filter(search=hostile))  # never an FTS syntax error


def test_continue_drops_calls_that_never_got_a_result(tmp_path):
    from llmrun.runlog.conversation import load_conversation

    s = settings(tmp_path)
    db = s.path
    rec = play(s, one_tool_run(stop_after="step1"))  # closed without a result
    conv = load_conversation(s, rec.id)
    assert [m["role"] for m in conv.messages] == ["system", "user"]
    assert os.path.exists(db)


def test_continue_refuses_what_it_cannot_send(tmp_path):
    from llmrun.base.errors import ConfigError
    from llmrun.runlog.conversation import check_tool_files, load_conversation
    from llmrun.runlog.settings import LogSettings

    s = settings(tmp_path)
    with pytest.raises(ConfigError, match="log is off|which is off"):
        load_conversation(LogSettings(enabled=False, path=s.path), None)
    with pytest.raises(ConfigError, match="no run log|no runs"):
        load_conversation(s, None)
    attached = tmp_path / "notes.txt"
    attached.write_text("v1")
    import hashlib

    sha = hashlib.sha256(b"v1").hexdigest()
    rec = play(s, one_tool_run(), info(attachments=[{"path": str(attached), "type": "text",
                                                    "size": 2, "sha256": sha}]))
    conv = load_conversation(s, None)
    assert conv.run_id == rec.id and conv.messages[-1]["content"] == "It is 40 C."
    with pytest.raises(ConfigError, match="weather.yaml, which no longer exists"):
        check_tool_files(conv)
    attached.write_text("v2")
    with pytest.raises(ConfigError, match="changed"):
        load_conversation(s, None)
    with pytest.raises(ConfigError, match="no run 'zzz'"):
        load_conversation(s, "zzz")


def test_prune_rm_and_log_keep(tmp_path):
    from llmrun.runlog.maintain import prune, remove

    s = settings(tmp_path)
    old = play(s, one_tool_run(result="old result"))
    conn = open_log(s.path)
    conn.execute("UPDATE runs SET started_ts = started_ts - 100 * 86400")
    new = play(s, one_tool_run())
    assert prune(conn, __import__("time").time() - 30 * 86400) == 1
    ids = [r[0] for r in conn.execute("SELECT id FROM runs")]
    assert ids == [new.id]
    assert conn.execute("SELECT count(*) FROM tool_calls WHERE run_id = ?",
                        (old.id,)).fetchone()[0] == 0
    assert conn.execute("SELECT count(*) FROM search WHERE run_id = ?",
                        (old.id,)).fetchone()[0] == 0
    assert remove(conn, [new.id]) == 1
    # log_keep: a run that ends prunes what is older than the setting
    keep = settings(tmp_path, keep_s=86400)
    play(keep, one_tool_run())
    conn.execute("UPDATE runs SET started_ts = started_ts - 2 * 86400")
    last = play(keep, one_tool_run())
    assert [r[0] for r in conn.execute("SELECT id FROM runs")] == [last.id]


def test_a_newer_schema_is_left_alone_and_an_empty_file_is_set_up(tmp_path):
    from llmrun.runlog.recorder import open_recorder
    from llmrun.runlog.settings import LogSettings

    newer = tmp_path / "newer.db"
    sqlite3.connect(str(newer)).execute("PRAGMA user_version = 99")
    warned = []
    assert open_recorder(LogSettings(path=str(newer)), info(), warned.append,
                         background=False) is None
    assert "newer llmrun" in warned[0]
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    rec = play(LogSettings(path=str(empty)), one_tool_run())
    assert connect(str(empty)).execute("SELECT id FROM runs").fetchone()[0] == rec.id


def test_a_network_filesystem_gets_a_rollback_journal_and_a_warning(tmp_path, monkeypatch):
    from llmrun.runlog import store

    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(f"1 0 0:1 / / rw - ext4 /dev/sda rw\n"
                         f"2 1 0:2 / {tmp_path}/nfs\\040share rw - nfs4 srv:/x rw\n")
    assert store.network_fs(str(tmp_path / "nfs share" / "llmrun"), str(mountinfo)) == "nfs4"
    assert store.network_fs(str(tmp_path), str(mountinfo)) is None
    monkeypatch.setattr(store, "MOUNTINFO", str(mountinfo))
    warned = []
    s = settings(tmp_path)
    s.path = str(tmp_path / "nfs share" / "llmrun" / "runs.db")
    play(s, one_tool_run(), warnings=warned)
    assert len(warned) == 1 and "network filesystem (nfs4)" in warned[0]
    assert connect(s.path).execute("PRAGMA journal_mode").fetchone()[0] == "delete"


def test_ids_are_short_and_sort_by_time():
    from llmrun.runlog.ids import new_id

    ids = [new_id(t) for t in (1.0, 1.01, 2.5, 1e9, 4e9)]
    assert ids == sorted(ids) and all(len(i) == 12 for i in ids)


def test_a_log_locked_too_long_is_one_warning_and_the_events_go_on(tmp_path, monkeypatch):
    """Another process holds the file's write lock past the busy timeout: one warning, the
    recorder goes quiet, nothing raises into the run."""
    from llmrun.runlog import store
    from llmrun.runlog.recorder import open_recorder

    s = settings(tmp_path)
    play(s, one_tool_run())  # the file exists
    monkeypatch.setattr(store, "BUSY_S", 0.2)
    warned = []
    rec = open_recorder(s, info(), warned.append, background=False)
    blocker = sqlite3.connect(s.path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        for e in one_tool_run():
            rec.event(e)
        rec.close()
    finally:
        blocker.execute("ROLLBACK")
    assert len(warned) == 1 and "locked" in warned[0], warned


def test_events_that_arrive_together_are_logged_as_one_by_one(tmp_path):
    """The log thread writes what is queued already in one transaction (a replay, a fast
    model): the run reads back exactly as when each event came alone."""
    from llmrun.runlog.recorder import open_recorder
    from llmrun.runlog.settings import LogSettings

    shown = []
    for n, together in enumerate((False, True)):
        db = str(tmp_path / f"runs{n}.db")
        rec = open_recorder(LogSettings(path=db), info(), print, background=False)
        events = one_tool_run()
        if together:
            rec.events(events[:1])
            rec.events(events[1:])  # every other event in one transaction
        else:
            for event in events:
                rec.event(event)
        rec.close()
        conn = connect(db)
        [row] = queries.list_runs(conn, queries.Filter())
        got = queries.show(conn, row["id"])
        shown.append(json.loads(json.dumps(got, default=str)))
    for key in ("id", "started_at", "ended_at", "duration_s", "pid", "proc_start"):
        for one in shown:
            one.pop(key, None)
    assert shown[0] == shown[1]
    assert shown[1]["status"] == "done" and shown[1]["tool_calls"]

"""Attachments in the run log: kept by path, type, size and SHA-256, never their bytes (not in
the requests, not in the conversation), and `--continue` reads them again, refusing one that
changed. Real asks against the loopback server; the log in the test's own folder."""

import base64
import glob
import hashlib
import json
import sqlite3

from server import Reply, good_stream

PNG = b"\x89PNG\r\n\x1a\n" + b"UNIQUE-PIXELS-" * 200
NOTES = "the quarterly numbers: UNIQUE-NOTES-4711\n"


def settle():
    import threading

    for thread in threading.enumerate():
        if thread.name == "llmrun-runlog":
            thread.join(30)


def ask(run_cli, server, *args, input=None):
    return run_cli(["ask", "--base-url", server.url, "-m", "m", *args], input=input)


def log_bytes(tmp_path):
    return b"".join(open(p, "rb").read() for p in glob.glob(str(tmp_path / "state" / "**"),
                                                            recursive=True)
                    if p.endswith(("runs.db", "-wal", "-journal")))


def attachments_column(tmp_path):
    db = sqlite3.connect(str(tmp_path / "state" / "llmrun" / "runs.db"))
    try:
        return [json.loads(row[0]) for row in
                db.execute("SELECT attachments FROM runs ORDER BY started_ts")]
    finally:
        db.close()


def files(tmp_path):
    png, notes = tmp_path / "chart.png", tmp_path / "notes.txt"
    png.write_bytes(PNG)
    notes.write_text(NOTES)
    return str(png), str(notes)


def test_the_log_keeps_path_type_size_and_sha256_never_the_bytes(run_cli, server, tmp_path):
    png, notes = files(tmp_path)
    server.add(Reply(good_stream("a chart")))
    run = ask(run_cli, server, "--no-stdin", "-a", png, "-a", notes, "explain")
    assert run.code == 0, run
    settle()
    assert attachments_column(tmp_path) == [[
        {"path": png, "type": "image/png", "size": len(PNG),
         "sha256": hashlib.sha256(PNG).hexdigest()},
        {"path": notes, "type": "text/plain", "size": len(NOTES.encode()),
         "sha256": hashlib.sha256(NOTES.encode()).hexdigest()}]]
    stored = log_bytes(tmp_path)
    assert b"explain" in stored  # the prompt is there, so the search below can fail
    assert base64.b64encode(PNG)[:40] not in stored and b"UNIQUE-PIXELS" not in stored
    assert b"UNIQUE-NOTES-4711" not in stored
    shown = run_cli(["log", "show", "--json", "last"]).json()
    assert "UNIQUE" not in json.dumps(shown)


def test_continue_reads_the_attachments_again_and_sends_them(run_cli, server, tmp_path):
    png, notes = files(tmp_path)
    server.add(Reply(good_stream("a chart")), Reply(good_stream("still a chart")))
    first = ask(run_cli, server, "--no-stdin", "-a", png, "-a", notes, "explain")
    assert first.code == 0, first
    settle()
    again = run_cli(["ask", "--no-stdin", "-c", "and now?"])
    assert again.code == 0 and again.stdout == "still a chart\n", again
    before, after = server.bodies()[0]["messages"], server.bodies()[1]["messages"]
    assert after[0] == before[0]  # the same parts, the same bytes, read again
    assert after[1:] == [{"role": "assistant", "content": "a chart"},
                         {"role": "user", "content": "and now?"}]
    settle()
    assert len(attachments_column(tmp_path)[1]) == 2  # a continued run keeps them too
    assert b"UNIQUE-PIXELS" not in log_bytes(tmp_path)


def test_continue_refuses_an_attachment_that_changed_or_went_away(run_cli, server, tmp_path):
    png, notes = files(tmp_path)
    server.add(Reply(good_stream("a chart")))
    assert ask(run_cli, server, "--no-stdin", "-a", png, "-a", notes, "explain").code == 0
    settle()
    first = json.loads(run_cli(["log", "--json"]).stdout.splitlines()[0])["id"]
    with open(notes, "a") as fh:
        fh.write("one more line\n")
    run = run_cli(["ask", "--no-stdin", "--cid", first, "and now?"])
    assert run.code == 3 and "notes.txt" in run.stderr and "changed" in run.stderr, run
    (tmp_path / "chart.png").unlink()
    run = run_cli(["ask", "--no-stdin", "--cid", first, "and now?"])
    assert run.code == 3 and "chart.png" in run.stderr, run
    assert len(server.requests) == 1


def test_an_attachment_from_stdin_cannot_be_continued(run_cli, server, tmp_path):
    server.add(Reply(good_stream("an image")))
    assert ask(run_cli, server, "-a", "-", "what", input=PNG).code == 0
    settle()
    assert attachments_column(tmp_path)[0][0]["path"] == "-"
    run = run_cli(["ask", "--no-stdin", "-c", "and now?"])
    assert run.code == 3 and "standard input" in run.stderr, run
    assert len(server.requests) == 1

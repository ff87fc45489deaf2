"""`llmrun batch --job JOB.yaml FILE`: each item's `vars` fill the job's template, the job's
settings apply to every item (the command line winning), and items' `attach` paths go after
`-a`'s — under the same secret rules. Real subprocesses against the loopback server."""

import json
import os

from drive import answer_reply, llmrun

JOB = """\
prompt: Weather in {{ city }}, in {{ unit }}?
model: job-model
vars:
  city: {required: true, description: the city}
  unit: {default: C, description: the unit}
"""


def echo(request):
    """Answer each request with what it asked: the model and the user content."""
    body = request.json()
    content = body["messages"][-1]["content"]
    return answer_reply(json.dumps({"model": body["model"], "content": content}))


def run_batch(server, tmp_path, items, *args):
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(i) + "\n" for i in items))
    server.responder = echo
    proc = llmrun(tmp_path, "batch", "--base-url", server.url, *args, "in.jsonl")
    lines = {o["id"]: o for o in (json.loads(x) for x in proc.stdout.splitlines())}
    return proc, lines


def sent(line):
    return json.loads(line["answer"])


def test_items_vars_fill_the_template_and_mistakes_fail_their_item_only(server, tmp_path):
    (tmp_path / "job.yaml").write_text(JOB)
    (tmp_path / "notes.txt").write_text("windy\n")
    home = tmp_path  # the child's HOME (drive.env_for)
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("PRIVATE KEY\n")
    items = [{"id": "a", "vars": {"city": "Oslo"}},
             {"id": "b", "vars": {"city": "Rome", "unit": "F"}},
             {"id": "c"},
             {"id": "d", "vars": {"city": "X", "colour": "red"}},
             {"id": "e", "prompt": "its own prompt"},
             {"id": "f", "vars": {"city": "Bergen"}, "attach": "notes.txt"},
             {"id": "g", "vars": {"city": "Y"}, "attach": str(home / ".ssh" / "id_rsa")},
             {"id": "h", "vars": {"city": "{{ unit }} @notes.txt"}},
             {"id": "i", "vars": {"city": ["a list"]}},
             {"id": "j", "prompt": "mine", "vars": {"city": "Z"}}]
    proc, lines = run_batch(server, tmp_path, items, "--job", "job.yaml")
    assert proc.returncode == 9, proc.stderr
    assert sent(lines["a"]) == {"model": "job-model", "content": "Weather in Oslo, in C?"}
    assert sent(lines["b"])["content"] == "Weather in Rome, in F?"
    assert sent(lines["e"])["content"] == "its own prompt"
    assert sent(lines["f"])["content"] == [
        {"type": "text", "text": "Weather in Bergen, in C?"},
        {"type": "text", "text": "--- notes.txt ---\nwindy\n"}]
    assert sent(lines["h"])["content"] == "Weather in {{ unit }} @notes.txt, in C?"
    for ident, words in (("c", "city=… is required"), ("d", "colour"),
                         ("i", "text or a number"), ("j", "its own prompt")):
        assert lines[ident]["exit_code"] == 2 and lines[ident]["error"]["type"] == "input", \
            lines[ident]
        assert words in lines[ident]["error"]["message"]
    assert lines["g"]["exit_code"] == 2 and "secret" in lines["g"]["error"]["message"]
    assert "PRIVATE KEY" not in proc.stdout
    assert len(server.requests) == 5  # a, b, e, f, h and nothing of c, d, g, i, j


def test_the_command_line_wins_and_its_attachments_come_first(server, tmp_path):
    (tmp_path / "job.yaml").write_text(JOB + "attach: [style.md]\n")
    (tmp_path / "style.md").write_text("be brief\n")
    (tmp_path / "common.md").write_text("common\n")
    (tmp_path / "own.md").write_text("own\n")
    items = [{"id": "a", "vars": {"city": "Oslo"}, "attach": ["own.md"]}]
    proc, lines = run_batch(server, tmp_path, items, "--job", "job.yaml", "-m", "cli-model",
                            "-a", "common.md")
    assert proc.returncode == 0, proc.stderr
    got = sent(lines["a"])
    assert got["model"] == "cli-model"
    assert [p["text"] for p in got["content"]] == [
        "Weather in Oslo, in C?", "--- common.md ---\ncommon\n", "--- own.md ---\nown\n"]
    proc, lines = run_batch(server, tmp_path, items, "--job", "job.yaml")
    assert [p["text"].split("\n")[0] for p in sent(lines["a"])["content"][1:]] == [
        f"--- {os.path.join(str(tmp_path), 'style.md')} ---", "--- own.md ---"]


def test_vars_without_a_job_and_attach_dash_are_refused(server, tmp_path):
    proc, lines = run_batch(server, tmp_path, [{"id": "a", "prompt": "p", "vars": {"x": 1}},
                                               {"id": "b", "prompt": "p", "attach": "-"},
                                               {"id": "c", "prompt": "fine"}], "-m", "m")
    assert proc.returncode == 9, proc.stderr
    assert "needs --job" in lines["a"]["error"]["message"]
    assert "'-'" in lines["b"]["error"]["message"]
    assert lines["c"]["exit_code"] == 0
    proc = llmrun(tmp_path, "batch", "--base-url", server.url, "-m", "m", "-a", "-", "in.jsonl")
    assert proc.returncode == 2 and "--attach -" in proc.stderr


def test_a_broken_job_stops_the_batch_before_any_request(server, tmp_path):
    (tmp_path / "job.yaml").write_text(JOB.replace("model:", "modle:"))
    proc, lines = run_batch(server, tmp_path, [{"id": "a", "vars": {"city": "Oslo"}}],
                            "--job", "job.yaml")
    assert proc.returncode == 3 and "job.yaml:2: unknown key 'modle'" in proc.stderr
    assert lines == {} and server.requests == []

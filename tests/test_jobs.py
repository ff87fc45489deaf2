"""`llmrun run JOB.yaml`: job files against the loopback server that records each request —
vars, the command line winning, paths relative to the file, every mistake named with its file
and line, and nothing in a value ever expanded."""

import json
import os
import time

import pytest
from drive import llmrun
from server import Reply, good_stream

JOB = """\
# the daily report
prompt: |
  Summarise {{ topic }} for the last {{days}} days.
system: You are terse.
model: job-model
max_steps: 3
vars:
  topic:
    required: true
    description: what to summarise
  days:
    default: 7
    description: how far back
"""


def job_file(folder, text=JOB, name="job.yaml"):
    path = os.path.join(str(folder), name)
    with open(path, "w") as fh:
        fh.write(text)
    return path


def run_job(run_cli, server, path, *args, input=None):
    return run_cli(["run", path, "--base-url", server.url, *args], input=input)


def sent(server, n=0):
    return server.bodies()[n]


def test_a_required_and_a_default_var_fill_the_template(server, run_cli, tmp_path):
    server.add(Reply(good_stream("done")))
    run = run_job(run_cli, server, job_file(tmp_path), "--no-stdin", "--var", "topic=sales")
    assert run.code == 0 and run.stdout == "done\n", run
    body = sent(server)
    assert body["model"] == "job-model"
    assert body["messages"] == [{"role": "system", "content": "You are terse."},
                                {"role": "user", "content": "Summarise sales for the last 7 days."}]


def test_var_and_model_on_the_command_line_win_over_the_file(server, run_cli, tmp_path):
    server.add(Reply(good_stream()))
    run = run_job(run_cli, server, job_file(tmp_path), "--no-stdin", "--var", "topic=bugs",
                  "--var", "days=30", "-m", "cli-model", "-s", "Be kind.")
    assert run.code == 0, run
    body = sent(server)
    assert body["model"] == "cli-model"
    assert body["messages"][0]["content"] == "Be kind."
    assert body["messages"][1]["content"] == "Summarise bugs for the last 30 days."


def test_a_missing_required_var_is_exit_2_naming_it(server, run_cli, tmp_path):
    run = run_job(run_cli, server, job_file(tmp_path), "--no-stdin")
    assert run.code == 2 and "--var topic" in run.stderr and "what to summarise" in run.stderr
    assert server.requests == []


@pytest.mark.parametrize("var,named", [("colour=red", "colour"), ("topic", "topic"),
                                       ("=x", "=x")])
def test_an_unknown_or_malformed_var_is_exit_2_naming_it(server, run_cli, tmp_path, var, named):
    run = run_job(run_cli, server, job_file(tmp_path), "--no-stdin", "--var", "topic=a",
                  "--var", var)
    assert run.code == 2 and named in run.stderr, run
    assert run.stderr.startswith("llmrun: error: ") and run.stderr.count("\n") == 1
    assert server.requests == []


def test_a_misspelt_key_is_exit_3_with_file_line_and_the_key(server, run_cli, tmp_path):
    path = job_file(tmp_path, JOB.replace("model: job-model", "modle: job-model"))
    run = run_job(run_cli, server, path, "--no-stdin", "--var", "topic=a")
    assert run.code == 3, run
    assert f"{path}:5: unknown key 'modle' (did you mean 'model'?)" in run.stderr
    assert server.requests == []


@pytest.mark.parametrize("text,line,words", [
    (JOB.replace("{{days}}", "{{ weeks }}"), 3, "{{ weeks }}, which vars: does not declare"),
    (JOB.replace("max_steps: 3", "max_steps: 0"), 6, "max_steps: must be at least 1"),
    (JOB.replace("max_steps: 3", "max_steps: many"), 6, "max_steps: must be a whole number"),
    (JOB.replace("    default: 7", "    required: true\n    default: 7"), 11, "either a default"),
    (JOB.replace("    description: how far back", "    descripton: x"), 13, "'descripton'"),
    (JOB.replace("{{days}}", "{{ 1 + 1 }}"), 3, "starts no {{ name }} reference"),
    ("prompt: [a, b]\n", 1, "prompt:"),
    ("- just a list\n", 1, "a mapping of settings"),
    ("prompt: hi\nschema: '{\"type\": \"object\"}'\n", 2, "inline"),
    ("prompt: hi\ntools: 3\n", 2, "tools: must be a list"),
    ("prompt: hi\nprompt: again\n", 2, "appears twice"),
])
def test_problems_in_the_file_are_exit_3_with_file_and_line(server, run_cli, tmp_path, text,
                                                           line, words):
    path = job_file(tmp_path, text)
    run = run_job(run_cli, server, path, "--no-stdin", "--var", "topic=a")
    assert run.code == 3, run
    assert f"{path}:{line}:" in run.stderr and words in run.stderr, run.stderr
    assert server.requests == []


def test_an_alias_bomb_is_refused_quickly(server, run_cli, tmp_path):
    bomb = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{c}: &{c} [{','.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
    start = time.monotonic()
    run = run_job(run_cli, server, job_file(tmp_path, "prompt: hi\n" + bomb), "--no-stdin")
    assert run.code == 3 and "alias" in run.stderr
    assert time.monotonic() - start < 5


def test_values_are_never_expanded_again(server, run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with open("secret.txt", "w") as fh:
        fh.write("do not read")
    text = JOB.replace("system: You are terse.", "system: '@secret.txt'")
    server.add(Reply(good_stream()))
    run = run_job(run_cli, server, job_file(tmp_path, text), "--no-stdin",
                  "--var", "topic=@secret.txt {{ days }}")
    assert run.code == 0, run
    messages = sent(server)["messages"]
    assert messages[0]["content"] == "@secret.txt"
    assert messages[1]["content"] == "Summarise @secret.txt {{ days }} for the last 7 days."


def test_paths_are_relative_to_the_job_file_and_a_list_given_replaces_the_files(
        server, run_cli, tmp_path, monkeypatch):
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "context.md").write_text("job context\n")
    (tmp_path / "other.md").write_text("other context\n")
    path = job_file(jobs, "prompt: read this\nattach: [context.md]\n")
    monkeypatch.chdir(tmp_path)  # not the job's folder
    server.add(Reply(good_stream()), Reply(good_stream()))
    assert run_job(run_cli, server, path, "--no-stdin", "-m", "m").code == 0
    assert run_job(run_cli, server, path, "--no-stdin", "-m", "m", "-a", "other.md").code == 0
    first, second = (sent(server, n)["messages"][-1]["content"] for n in (0, 1))
    assert first[1]["text"].endswith("---\njob context\n")
    assert [p["text"] for p in second[1:]] == ["--- other.md ---\nother context\n"]


def test_the_command_lines_at_file_for_system_is_read(server, run_cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sys.txt").write_text("From a file.\n")
    server.add(Reply(good_stream()))
    run = run_job(run_cli, server, job_file(tmp_path), "--no-stdin", "--var", "topic=a",
                  "-s", "@sys.txt")
    assert run.code == 0, run
    assert sent(server)["messages"][0]["content"] == "From a file."


def test_an_inline_schema_and_limits_from_the_file_are_used(server, run_cli, tmp_path):
    text = ("prompt: give me a number\nmodel: m\nmax_tool_calls: 0\nschema:\n  type: object\n"
            "  properties: {n: {type: integer}}\n  required: [n]\n")
    server.add(Reply(good_stream('{"n": 4}')))
    run = run_job(run_cli, server, job_file(tmp_path, text), "--no-stdin", "--json")
    assert run.code == 0, run
    assert run.json()["data"] == {"n": 4}
    schema = sent(server)["response_format"]["json_schema"]["schema"]
    assert schema == {"type": "object", "properties": {"n": {"type": "integer"}},
                      "required": ["n"]}


def test_help_lists_the_jobs_own_vars_with_their_descriptions(run_cli, tmp_path):
    plain = run_cli(["run", "--help"])
    assert plain.code == 0 and "JOB.yaml" in plain.stdout and "--var NAME=VALUE" in plain.stdout
    assert "--attach" in plain.stdout and "--max-cost" in plain.stdout  # ask's options
    path = job_file(tmp_path)
    own = run_cli(["run", path, "--help"])
    assert own.code == 0
    section = own.stdout.split(f"Vars of {path}")[1]
    assert "topic" in section and "what to summarise (required)" in section
    assert "days" in section and "how far back (default: 7)" in section


def test_exit_codes_from_a_real_process(server, tmp_path):
    path = job_file(tmp_path)
    bad = job_file(tmp_path, JOB + "max_cots: 1\n", name="bad.yaml")
    missing = llmrun(tmp_path, "run", path, "--no-stdin", "--base-url", server.url)
    assert missing.returncode == 2 and "topic" in missing.stderr
    broken = llmrun(tmp_path, "run", bad, "--no-stdin", "--base-url", server.url)
    assert broken.returncode == 3 and "bad.yaml:14: unknown key 'max_cots'" in broken.stderr
    nofile = llmrun(tmp_path, "run", str(tmp_path / "nope.yaml"), "--no-stdin")
    assert nofile.returncode == 3 and "nope.yaml" in nofile.stderr
    server.add(Reply(good_stream("ok")))
    fine = llmrun(tmp_path, "run", path, "--no-stdin", "--base-url", server.url, "--json",
                  "--var", "topic=x")
    assert fine.returncode == 0 and json.loads(fine.stdout)["answer"] == "ok"


def test_the_sample_daily_job_offers_its_tools_and_takes_a_city(server, run_cli, tmp_path,
                                                                monkeypatch):
    from conftest import ROOT

    monkeypatch.chdir(tmp_path)  # as cron does: anywhere but the samples folder
    sample = os.path.join(ROOT, "samples", "jobs", "daily.yaml")
    server.add(Reply(good_stream()), Reply(good_stream()))
    assert run_job(run_cli, server, sample, "--no-stdin", "-m", "m").code == 0
    assert run_job(run_cli, server, sample, "--no-stdin", "-m", "m",
                   "--var", "city=Oslo, Norway").code == 0
    first, second = sent(server, 0), sent(server, 1)
    assert sorted(t["function"]["name"] for t in first["tools"]) == ["now", "weather"]
    assert "weather in Florence, Italy?" in first["messages"][0]["content"]
    assert "weather in Oslo, Norway?" in second["messages"][0]["content"]
    assert "city" in run_cli(["run", sample, "--help"]).stdout


def test_the_readme_job_example_is_a_valid_job_with_every_key(tmp_path):
    import re

    from conftest import ROOT

    from llmrun.api.job import KEYS, load_job

    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as fh:
        readme = fh.read()
    block = re.search(r"```yaml\n(# reports/weekly\.yaml\n.*?)```", readme, re.S).group(1)
    job = load_job(job_file(tmp_path, block, name="weekly.yaml"))
    assert set(job.settings) | {"prompt", "vars"} == set(KEYS)
    assert job.vars["label"].required and job.vars["days"].default == "7"
    assert job.settings["tools"] == [os.path.normpath(str(tmp_path / ".." / "tools/now.yaml"))]
    assert job.settings["mcp"] == ["github"]
    assert job.render(job.values(["label=bug"])).startswith(
        "Summarise the open issues labelled bug from the last 7 days,")


def test_a_job_attaching_stdin_reads_it_and_a_huge_job_file_is_refused(server, run_cli,
                                                                       tmp_path):
    server.add(Reply(good_stream()))
    path = job_file(tmp_path, "prompt: what is this\nmodel: m\nattach: ['-']\n")
    run = run_job(run_cli, server, path, input="piped text\n")
    assert run.code == 0, run
    assert sent(server)["messages"][0]["content"][1]["text"] == "--- stdin ---\npiped text\n"
    huge = job_file(tmp_path, "prompt: hi\n" + "# padding\n" * 120_000, name="huge.yaml")
    run = run_job(run_cli, server, huge, "--no-stdin")
    assert run.code == 3 and "huge.yaml" in run.stderr and "1 MiB" in run.stderr, run

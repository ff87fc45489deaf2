"""The ready-made tools in tools/, each run for real without the internet."""

import json
import os
from datetime import datetime, timedelta, timezone
from urllib.parse import parse_qs, urlsplit

import pytest
from conftest import ROOT
from server import Reply

from llmrun.tools.runner import Toolbox
from llmrun.tools.spec import load_tools


@pytest.fixture(scope="module")
def box():
    return Toolbox(load_tools([os.path.join(ROOT, "tools")]), yes=True)


def pointed(name, host):
    """The shipped tools, with the config's sandbox_tools pointing `name` at a loopback
    test server by naming it literally (the only way past the proxy's public-only rule)."""
    from llmrun.sandbox.policy import Declared, Settings
    from llmrun.tools.confine import assign

    tools = load_tools([os.path.join(ROOT, "tools")])
    assign(tools, Settings(tools={name: Declared(network=[host])}))
    _BOXES.append(tools)
    return Toolbox(tools, yes=True)


_BOXES = []


@pytest.fixture(autouse=True)
def _proxies_closed():
    """A Toolbox made by hand has no run to stop its tools' proxies: the test does."""
    yield
    from llmrun.sandbox.launch import close_proxies

    while _BOXES:
        close_proxies([t.policy for t in _BOXES.pop()])


def run(box, name, **args):
    return box.run_call(name, json.dumps(args))


def ok(box, name, **args):
    result = run(box, name, **args)
    assert not result.is_error, result.content
    return result.content


def test_all_shipped_tools_are_here(box):
    assert sorted(box.tools) == ["calculate", "fetch_url", "list_dir", "now", "read_file",
                                 "run_shell", "weather"]
    assert all(t.description for t in box.tools.values())


def test_now(box):
    text = ok(box, "now", timezone="UTC")
    stamp = datetime.strptime(text[:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
    assert abs(stamp - datetime.now(timezone.utc)) < timedelta(minutes=5)
    assert "UTC" in text and "ISO week" in text
    assert "+0100" in ok(box, "now", timezone="Etc/GMT-1")
    assert ok(box, "now")[:4].isdigit()
    bad = run(box, "now", timezone="Mars/Olympus")
    assert bad.is_error and "unknown time zone 'Mars/Olympus'" in bad.content


@pytest.mark.parametrize("expression, want", [
    ("2 + 3 * 4", "14"), ("2^100", str(2 ** 100)), ("(1 + 2) / 4", "0.75"),
    ("sqrt(2) * 10**3", "1414.2135623731"), ("factorial(20)", "2432902008176640000"),
    ("-7 // 2 + 7 % 3", "-3"), ("round(pi, 4)", "3.1416"), ("max(1, 2.5, -3)", "2.5"),
    ("1e308 * 10", "inf"), ("log(e**2)", "2"),
])
def test_calculate(box, expression, want):
    assert ok(box, "calculate", expression=expression) == want


@pytest.mark.parametrize("expression, words", [
    ("__import__('os').system('id')", "only these functions can be called"),
    ("__import__('os')", "unknown function '__import__'"),
    ("(1).__class__", "Attribute is not allowed"), ("x + 1", "unknown name 'x'"),
    ("9**9**9", "too large"), ("10**5000 * 10**5000", "more than 4000 digits"),
    ("1/0", "ZeroDivisionError"), ("(-8) ** 0.5", "not a real number"), ("2 +", "not an arith"),
    ("'a' * 3", "Constant is not allowed"), ("[1] * 3", "List is not allowed"),
    ("factorial(5000)", "from 0 to 1000"), ("1 < 2", "Compare is not allowed"),
])
def test_calculate_refuses_anything_but_arithmetic(box, expression, words):
    result = run(box, "calculate", expression=expression)
    assert result.is_error and words in result.content, result.content


def test_read_file(box, tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"one\ntwo\ncaf\xe9\nfour\r\nfive\n")
    assert ok(box, "read_file", path=str(path)) == "one\ntwo\ncaf\ufffd\nfour\nfive"
    window = ok(box, "read_file", path=str(path), start_line=2, max_lines=2)
    assert window == "two\ncaf\ufffd\n[… the file goes on; call again with start_line=4]"
    assert "no lines from line 9" in ok(box, "read_file", path=str(path), start_line=9)
    (tmp_path / "blob").write_bytes(b"\x00\x01\x02")
    assert "binary" in run(box, "read_file", path=str(tmp_path / "blob")).content
    missing = run(box, "read_file", path=str(tmp_path / "nope"))
    assert missing.is_error and "FileNotFoundError" in missing.content
    assert run(box, "read_file", path=str(path), max_lines=0).is_error  # schema: minimum 1


def test_list_dir(box, tmp_path, monkeypatch):
    (tmp_path / "alpha.txt").write_text("x")
    (tmp_path / "-rf").write_text("tricky name")
    (tmp_path / ".hidden").mkdir()
    listing = ok(box, "list_dir", path=str(tmp_path))
    assert "alpha.txt" in listing and "-rf" in listing and ".hidden" in listing
    monkeypatch.chdir(tmp_path)  # tools run in llmrun's working directory
    assert "alpha.txt" in ok(box, "list_dir")
    missing = run(box, "list_dir", path="--nope")
    assert missing.is_error and "--nope" in missing.content and "status 2" in missing.content


def test_fetch_url(server):
    page = (b"<html><head><title>Test  Page</title><script>var secret = 1;</script></head>"
            b"<body><h1>Hello</h1><p>caf\xc3\xa9 &amp; more</p><style>p {}</style></body></html>")
    server.add(Reply(page, headers={"Content-Type": "text/html"}, mode="length"),
               Reply(page, headers={"Content-Type": "text/html; charset=utf-8"}, mode="length"),
               Reply(b"gone", status=404, headers={"Content-Type": "text/plain"}, mode="length"))
    base = f"http://127.0.0.1:{server.port}"
    box = pointed("fetch_url", f"127.0.0.1:{server.port}")
    text = ok(box, "fetch_url", url=f"{base}/page")
    assert text.startswith(f"HTTP 200 OK {base}/page\ncontent-type: text/html\n\n# Test Page")
    assert "Hello\ncafé & more" in text and "secret" not in text and "p {}" not in text
    assert "<h1>Hello</h1>" in ok(box, "fetch_url", url=f"{base}/page", raw=True)
    missing = run(box, "fetch_url", url=f"{base}/missing")
    assert missing.is_error and "HTTP 404" in missing.content
    assert "only http:// and https://" in run(box, "fetch_url", url="file:///etc/passwd").content
    assert [r.path for r in server.requests] == ["/page", "/page", "/missing"]


def test_weather(server, monkeypatch):
    server.add(Reply("Florence, Italy: Sunny, +40°C".encode(), headers={
        "Content-Type": "text/plain; charset=utf-8"}, mode="length"))
    box = pointed("weather", f"127.0.0.1:{server.port}")
    monkeypatch.setenv("LLMRUN_WEATHER_URL", f"http://127.0.0.1:{server.port}/")
    assert ok(box, "weather", location="Florence, Italy") == "Florence, Italy: Sunny, +40°C"
    url = urlsplit(server.requests[0].path)
    assert url.path == "/Florence%2C%20Italy"
    assert parse_qs(url.query)["format"][0].startswith("%l: %C, %t")
    server.add(Reply(b"Unknown location", status=404, headers={}, mode="length"))
    failed = run(box, "weather", location="Atlantis")
    assert failed.is_error and "HTTP 404" in failed.content


def test_run_shell_merges_stderr_and_reports_failures(box, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert ok(box, "run_shell", command="echo out; echo err >&2; pwd") == \
        f"out\nerr\n{tmp_path}"
    failed = run(box, "run_shell", command="echo partial; exit 4")
    assert failed.is_error and "status 4" in failed.content and "partial" in failed.content


def test_run_shell_needs_confirmation(tmp_path):
    marker = tmp_path / "ran"
    tools = load_tools([os.path.join(ROOT, "tools", "run_shell.yaml")])
    asked = []
    refused = Toolbox(tools, ask=lambda tool, args: asked.append(args) or False).run_call(
        "run_shell", json.dumps({"command": f"touch {marker}"}))
    assert refused.is_error and "declined" in refused.content
    assert asked == [{"command": f"touch {marker}"}] and not marker.exists()
    no_tty = Toolbox(tools, ask=lambda tool, args: None).run_call(
        "run_shell", json.dumps({"command": f"touch {marker}"}))
    assert "no terminal" in no_tty.content and not marker.exists()

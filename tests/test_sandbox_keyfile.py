"""`api_key_file: PATH` keeps a provider's key out of every environment: llmrun reads it from
a file only its owner may read, and no confined tool can read that file."""

import json
import os

import pytest
from sandbox_helpers import World
from server import Reply, sse
from streams import answer_step, call_args, call_header, chunk, usage


@pytest.fixture
def world(tmp_path):
    return World(tmp_path)


def setup(world, server, mode=0o600):
    keyfile = world.base / "keys" / "mine.key"
    keyfile.parent.mkdir()
    keyfile.write_text("sk-from-file-4242\n")
    keyfile.chmod(mode)
    world.config(f"""
    providers:
      - {{name: mine, base_url: "{server.url}", api_key_file: {keyfile}}}
    """)
    return keyfile


def test_the_key_comes_from_the_file_and_no_tool_can_read_it(world, server):
    keyfile = setup(world, server)
    steps = [call_header(0, "c0", "sh", json.dumps({"a": f"{{ rev < {keyfile}; }} 2>&1; env"})),
             chunk(finish="tool_calls"), chunk(usage=usage(), choices=False)]
    server.add(Reply(sse(*steps)), Reply(sse(*answer_step("done"))))
    done = world.llmrun("ask", "--json", "--no-stdin", "-p", "mine", "-m", "m", "-t",
                        str(world.tools), "go")
    assert done.returncode == 0, done.stderr
    assert server.requests[0].headers["Authorization"] == "Bearer sk-from-file-4242"
    result = json.loads(done.stdout)["tool_calls"][0]["result"]
    assert "Permission denied" in result  # reversed, the key would slip past redaction
    assert "2424-elif-morf-ks" not in result and "sk-from-file" not in result


def test_a_key_file_others_may_read_is_refused(world, server):
    keyfile = setup(world, server, 0o644)
    done = world.llmrun("ask", "--no-stdin", "-p", "mine", "-m", "m", "go")
    assert done.returncode == 3 and f"chmod 600 {keyfile}" in done.stderr
    assert server.requests == []

"""Driving llmrun as a user would, from the tests: as a real subprocess (exit codes, signals,
pipes, cron), and loopback servers that answer each request from its own messages (many
runs at once). Every test module that starts `llmrun` uses these, not a copy of its own."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from typing import Any, Callable, Dict, List, Optional

from server import Reply, sse
from streams import call_header, chunk, text, usage

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY = "sk-test"


def env_for(tmp_path: Any, home: Any = None, **extra: Optional[str]) -> Dict[str, str]:
    """A child's environment: nothing of the caller's llmrun settings or keys, HOME, TMPDIR
    and the config folder in `tmp_path`, the key `sk-test` (extra values win; None removes a
    variable)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("LLMRUN_") and not k.endswith("_API_KEY")}
    env.update(PYTHONPATH=ROOT, HOME=str(home or tmp_path), TMPDIR=str(tmp_path),
               XDG_CONFIG_HOME=str(os.path.join(str(tmp_path), "config")), LLMRUN_API_KEY=KEY)
    env.update(extra)  # type: ignore[arg-type]
    return {k: v for k, v in env.items() if v is not None}


def llmrun(tmp_path: Any, *args: str, env: Optional[Dict[str, Any]] = None, timeout: float = 60,
           home: Any = None, **kw: Any) -> subprocess.CompletedProcess:
    """`python -m llmrun ARGS…` to its end, in `tmp_path`; `.elapsed` says how long it took."""
    start = time.monotonic()
    kw.setdefault("cwd", str(tmp_path))
    proc = subprocess.run([sys.executable, "-m", "llmrun", *args], capture_output=True,
                          text=True, timeout=timeout, env=env_for(tmp_path, home, **(env or {})),
                          **kw)
    proc.elapsed = time.monotonic() - start  # type: ignore[attr-defined]
    return proc


def spawn(tmp_path: Any, *args: str, env: Optional[Dict[str, Any]] = None, home: Any = None,
          **kw: Any) -> subprocess.Popen:
    """`python -m llmrun ARGS…` started, not waited for (signals, pipes, markers)."""
    kw.setdefault("cwd", str(tmp_path))
    kw.setdefault("stdout", subprocess.PIPE)
    kw.setdefault("stderr", subprocess.PIPE)
    return subprocess.Popen([sys.executable, "-m", "llmrun", *args],
                            env=env_for(tmp_path, home, **(env or {})), **kw)


def ask_args(server: Any, *args: str, prompt: str = "go") -> List[str]:
    """`ask --json --no-stdin --base-url URL -m m ARGS… PROMPT`."""
    return ["ask", "--json", "--no-stdin", "--base-url", server.url, "-m", "m", *args, prompt]


def write_tool(folder: Any, name: str, body: str) -> str:
    """A tool file `name.yaml` in `folder` (made if needed); returns the folder."""
    os.makedirs(str(folder), exist_ok=True)
    with open(os.path.join(str(folder), f"{name}.yaml"), "w", encoding="utf-8") as fh:
        fh.write(f"name: {name}\ndescription: {name}\n{body}")
    return str(folder)


def wait_for(check: Callable[[], Any], seconds: float = 10.0) -> Any:
    """Poll `check` until it holds (a marker), instead of sleeping a guessed time."""
    end = time.monotonic() + seconds
    while True:
        value = check()
        if value or time.monotonic() > end:
            return value
        time.sleep(0.01)


def descendants(pid: int) -> List[int]:
    """Every live process below `pid` (through /proc's children lists)."""
    found, todo = [], [pid]
    while todo:
        parent = todo.pop()
        kids = []
        try:  # each thread lists the children it started
            for task in os.listdir(f"/proc/{parent}/task"):
                with open(f"/proc/{parent}/task/{task}/children") as fh:
                    kids += [int(k) for k in fh.read().split()]
        except OSError:
            pass
        found += kids
        todo += kids
    return found


def cmdline(pid: int) -> bytes:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as fh:
            return fh.read().replace(b"\0", b" ")
    except OSError:
        return b""


def alive(pid: int) -> bool:
    """Running, not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


# -- servers that answer from the request -----------------------------------------------------
def tool_call_reply(name: str, arguments: Dict[str, Any], call_id: str = "call_1") -> Reply:
    return Reply(sse(call_header(0, call_id, name, json.dumps(arguments)),
                     chunk(finish="tool_calls"), chunk(usage=usage(), choices=False)))


def answer_reply(answer: str, cost: Optional[float] = None) -> Reply:
    more = {"cost": cost} if cost is not None else {}
    return Reply(sse(text(answer), chunk(finish="stop"),
                     chunk(usage=usage(20, 7, **more), choices=False)))


def tool_loop(tool: Optional[str], arguments: Callable[[str], Dict[str, Any]],
              answer: Callable[[str, str], str] = lambda prompt, result: f"{prompt}: {result}"
              ) -> Callable[[Any], Reply]:
    """A responder (TestServer.responder) for runs that each call `tool` once: the first
    request of a run gets a call with `arguments(prompt)`, the one after the tool result gets
    the answer `answer(prompt, result)`. Without a tool, every prompt is answered at once."""
    def respond(request: Any) -> Reply:
        messages = request.json()["messages"]
        prompt = next(m["content"] for m in messages if m["role"] == "user")
        if tool is None:
            return answer_reply(answer(prompt, ""))
        if messages[-1]["role"] == "tool":
            return answer_reply(answer(prompt, messages[-1]["content"]))
        return tool_call_reply(tool, arguments(prompt))
    return respond

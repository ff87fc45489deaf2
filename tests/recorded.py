"""The recorded conversations in tests/cassettes, and the legal SSE rewrites of them."""

from __future__ import annotations

import glob
import json
import os
import random
from typing import Any, Dict, List

import yaml
from server import Reply

HERE = os.path.dirname(os.path.abspath(__file__))
CASSETTES = sorted(glob.glob(os.path.join(HERE, "cassettes", "*.yaml")))
FORMS = ["plain", "crlf", "cr", "nospace", "multiline", "fields"]


def load(path: str) -> List[Dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return yaml.safe_load(fh)["interactions"]


def request_bodies(path: str) -> List[Dict[str, Any]]:
    return [json.loads(i["request"]["body"]) for i in load(path)]


def events(body: str) -> List[str]:
    """The data payloads of a recorded SSE body (comments dropped)."""
    out = []
    for block in body.replace("\r\n", "\n").split("\n\n"):
        data = [line[5:].lstrip(" ") if line.startswith("data:") else None
                for line in block.split("\n") if line and not line.startswith(":")]
        data = [d for d in data if d is not None]
        if data:
            out.append("\n".join(data))
    return out


def rewrite(body: str, form: str, rng: random.Random) -> bytes:
    """The same events in another legal SSE spelling."""
    if form == "plain":
        return body.encode("utf-8")
    lines: List[str] = []
    for n, payload in enumerate(events(body)):
        if form == "fields":
            lines += [": keep-alive", "event: message", f"id: {n}", "retry: 3000"]
        if form == "multiline" and payload != "[DONE]":
            pretty = json.dumps(json.loads(payload), indent=1, ensure_ascii=False)
            lines += ["data: " + part for part in pretty.split("\n")]
        elif form == "nospace":
            lines.append("data:" + payload)
        else:
            lines.append("data: " + payload)
        lines.append("")
        if form == "fields":
            lines += [": OPENROUTER PROCESSING", ""]
    end = {"crlf": "\r\n", "cr": "\r"}.get(form, "\n")
    return end.join(lines).encode("utf-8") + end.encode()


def replies(path: str, form: str = "plain", seed: int = 0) -> List[Reply]:
    rng = random.Random(seed)
    out = []
    for inter in load(path):
        resp = inter["response"]
        headers = {k: v[0] for k, v in resp["headers"].items()}
        out.append(Reply(rewrite(resp["body"], form, rng), resp["code"], headers))
    return out


def final_text(path: str) -> str:
    last = load(path)[-1]["response"]["body"]
    text = []
    for payload in events(last):
        if payload == "[DONE]":
            continue
        for choice in json.loads(payload).get("choices") or []:
            text.append((choice.get("delta") or {}).get("content") or "")
    return "".join(text)


def recorded_usage(path: str) -> Dict[str, Any]:
    """Sum over the steps of the last usage object each step's stream reported."""
    total = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0,
             "reasoning_tokens": 0, "cached_tokens": 0, "cache_write_tokens": 0, "cost": None}
    for inter in load(path):
        usage = None
        for payload in events(inter["response"]["body"]):
            if payload != "[DONE]" and json.loads(payload).get("usage"):
                usage = json.loads(payload)["usage"]
        assert usage, f"{path}: a step without usage"
        total["prompt_tokens"] += usage["prompt_tokens"]
        total["completion_tokens"] += usage["completion_tokens"]
        total["total_tokens"] += usage["total_tokens"]
        total["reasoning_tokens"] += (usage.get("completion_tokens_details") or {}).get(
            "reasoning_tokens", 0)
        details = usage.get("prompt_tokens_details") or {}
        total["cached_tokens"] += details.get("cached_tokens",
                                              usage.get("cache_read_input_tokens", 0))
        total["cache_write_tokens"] += details.get("cache_write_tokens",
                                                   usage.get("cache_creation_input_tokens", 0))
        if isinstance(usage.get("cost"), (int, float)):
            total["cost"] = (total["cost"] or 0) + usage["cost"]
    return total


PROVIDER_BY_HOST = {"openrouter.ai": "openrouter", "api.openai.com": "openai",
                    "ai-gateway.vercel.sh": "vercel"}


def cli_args(path: str, base_url: str) -> List[str]:
    """The llmrun command line that makes the recorded first request."""
    first = load(path)[0]["request"]
    body = json.loads(first["body"])
    provider = next(p for host, p in PROVIDER_BY_HOST.items() if host in first["url"])
    messages = body["messages"]
    args = ["ask", "-p", provider, "--base-url", base_url, "-m", body["model"],
            "-s", messages[0]["content"], "--json"]
    for field in ("max_tokens", "max_completion_tokens"):
        if field in body:
            args += ["--max-tokens", str(body[field])]
    effort = (body.get("reasoning") or {}).get("effort") or body.get("reasoning_effort")
    if effort:
        args += ["--reasoning-effort", effort]
    return args + [messages[1]["content"]]

"""Reference client: the bare `requests` loop, `iter_lines` + `json.loads`, nothing else.

`bare_loop.py URL` reads the stream and prints the number of characters of the answer;
`bare_loop.py URL --print` writes each text delta to stdout as it comes, flushed (the naive
streaming client whose latency the bench compares with llmrun's).
"""

import json
import sys

import requests


def main() -> None:
    url, echo = sys.argv[1], "--print" in sys.argv
    body = {"model": "bench-model", "stream": True,
            "messages": [{"role": "user", "content": "hi"}]}
    resp = requests.post(url, json=body, stream=True, timeout=120)
    out = sys.stdout
    parts = []
    for line in resp.iter_lines():
        if not line.startswith(b"data: "):
            continue
        data = line[6:]
        if data == b"[DONE]":
            break
        choices = json.loads(data)["choices"]
        if choices:
            text = choices[0]["delta"].get("content")
            if text:
                parts.append(text)
                if echo:
                    out.write(text)
                    out.flush()
    if not echo:
        print(len("".join(parts)))


if __name__ == "__main__":
    main()

"""Reference client: the openai SDK's streaming chat completion (run from bench/.venv).

`openai_stream.py BASE_URL` reads the whole stream and prints the answer's length.
"""

import sys

from openai import OpenAI


def main() -> None:
    client = OpenAI(base_url=sys.argv[1], api_key="bench", max_retries=0)
    stream = client.chat.completions.create(
        model="bench-model", stream=True, messages=[{"role": "user", "content": "hi"}])
    parts = []
    for chunk in stream:
        if chunk.choices:
            text = chunk.choices[0].delta.content
            if text:
                parts.append(text)
    print(len("".join(parts)))


if __name__ == "__main__":
    main()

"""The hint for a prompt word click took for an option (`llmrun ask what does ls -la do`):
the command to type instead, with nothing the user typed left out."""

from __future__ import annotations

import shlex
from typing import List

import click


def after_dashdash(command: click.Command, words: List[str]) -> str:
    """The command line `words` (without `llmrun`) as it should have been typed: `llmrun
    [GROUP OPTIONS] ask OPTIONS -- PROMPT`. The options the command knows (and their values)
    stay in front, every other word, the unknown option included, goes after `--` as a word of
    the prompt."""
    name = command.name or ""
    at = words.index(name) + 1 if name in words else 0
    head = words[:at] or [name]
    return shlex.join(["llmrun", *head]) + " " + _split(command, words[at:])


def _split(command: click.Command, words: List[str]) -> str:
    """OPTIONS -- PROMPT, quoted for a shell."""
    takes_value = {}
    for param in command.params:
        if isinstance(param, click.Option):
            for name in (*param.opts, *param.secondary_opts):
                takes_value[name] = not (param.is_flag or param.count)
    front: List[str] = []
    prompt: List[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word == "--":
            prompt += words[i + 1:]
            break
        name = word.split("=", 1)[0]
        if name in takes_value:
            front.append(word)
            if takes_value[name] and "=" not in word and i + 1 < len(words):
                front.append(words[i + 1])
                i += 1
        else:
            prompt.append(word)
        i += 1
    return shlex.join([*front, "--", *prompt])

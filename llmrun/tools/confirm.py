"""`confirm: true`: ask the person at the terminal before a tool runs.

The question goes to /dev/tty, not stdin/stdout: those may be pipes carrying the prompt and
the answer. Whatever the model chose is shown with control characters escaped, so arguments
cannot rewrite the terminal to disguise what is about to run.
"""

from __future__ import annotations

import json
import os
import shlex
import unicodedata
from typing import Any, Dict, Optional

TTY = "/dev/tty"


def safe(text: str) -> str:
    """Escape control, format and unassigned characters (ANSI escapes, bidi overrides …)."""
    out = []
    for ch in text:
        if unicodedata.category(ch)[0] in "CZ" and ch != " ":
            code = ord(ch)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
                       if code < 0x10000 else f"\\U{code:08x}")
        else:
            out.append(ch)
    return "".join(out)


def question(tool: Any, args: Dict[str, Any]) -> str:
    """What the user is asked: the tool, where it is defined, its arguments, and for a
    command tool the exact argv it will run."""
    from llmrun.tools.argv import substitute

    lines = [f"llmrun: the model wants to run tool '{safe(tool.name)}' ({safe(tool.where)})",
             f"  arguments: {safe(json.dumps(args, ensure_ascii=False))}"]
    if tool.kind == "command":
        argv = substitute(tool.target, args, tool.parameters.get("properties") or {})
        lines.append(f"  command:   {safe(shlex.join(argv))}")
    elif tool.kind == "shell":
        lines.append("  shell snippet (arguments in $LLMRUN_ARG_*):")
        lines += [f"    {safe(line)}" for line in tool.target.strip().splitlines()]
    return "\n".join(lines) + "\nRun it? [y/N] "


def ask_terminal(tool: Any, args: Dict[str, Any]) -> Optional[bool]:
    """True or False as the user answers; None when there is no terminal to ask on."""
    try:
        fd = os.open(TTY, os.O_RDWR | os.O_NOCTTY)
    except OSError:
        return None
    from llmrun.base.context import activity

    with open(fd, "r+b", buffering=0) as tty, \
            activity(f"asking whether to run tool '{tool.name}' (nothing ran)"):
        _forget_type_ahead(fd)  # keys pressed before the question never answer it
        tty.write(question(tool, args).encode("utf-8", "replace"))
        try:
            answer = _answer(tty, fd)
        except KeyboardInterrupt:
            tty.write(b"\n")  # the error line starts on a line of its own, not the prompt's
            raise
    return answer.strip().lower() in (b"y", b"yes")


def _answer(tty: Any, fd: int) -> bytes:
    """The line typed, waited for in short selects: Ctrl-C's SIGINT may be taken by any of
    llmrun's threads, and then it interrupts no read() of the main thread, whose handler only
    runs once the main thread is back in Python (a plain readline could wait forever)."""
    import select

    while not select.select([fd], [], [], 0.1)[0]:
        pass
    return tty.readline(1024)


def _forget_type_ahead(fd: int) -> None:
    """Drop what was typed on the terminal before the question was shown: a `y` + Enter
    typed while the model was thinking must not approve a command nobody has seen."""
    try:
        import termios

        termios.tcflush(fd, termios.TCIFLUSH)
    except (ImportError, OSError):
        pass


def refusal(tool: Any, answer: Optional[bool]) -> str:
    """The error result the model gets when the tool did not run."""
    if answer is None:
        return (f"error: tool '{tool.name}' needs the user's confirmation, and there is no "
                "terminal to ask on (llmrun was run without --yes), so it did not run. Do "
                "without it, or tell the user to run llmrun again with --yes to allow it.")
    return (f"error: the user declined to run tool '{tool.name}' with these arguments; it did "
            "not run. Do not retry the same call: do without it or ask the user.")

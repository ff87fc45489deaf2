"""The sandbox supervisor's entry point, standard library only (started as `python -I -S`:
nothing is imported from the working directory). Two ways to start it:

- `=zygote:SOCKET:LIFELINE:FOLDER` (its folder in TMPDIR, in hex): the fork server of tool calls (zygote.py), one per llmrun
  process, started once, ahead of the first call.
- `PLAN ARGV…` (PLAN in marshal, hex, or `@FILE`): one confined process, an MCP server. This
  process is the front, which llmrun waits for and may SIGKILL with its process group (a
  timeout, Ctrl-C); it forks the keeper (keeper.py), which is in a session of its own, learns
  of the front's death through PR_SET_PDEATHSIG, and outlives it only to clean up. The front
  exits as the keeper does.

Every process here is single-threaded, so setting process-wide attributes (the subreaper, a
namespace) and confining a child between fork and exec are safe: none of this touches llmrun,
whose Python API may run many runs in one process.
"""

import _signal as signal  # not `signal`: its enums cost milliseconds at every call
import marshal
import os
import sys


def main():
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))))
    signal.pthread_sigmask(signal.SIG_SETMASK, [])  # a blocked SIGTERM would hide the end
    if sys.argv[1].startswith("=zygote:"):
        from llmrun.sandbox.zygote import serve

        sock, lifeline, base = sys.argv[1][8:].split(":")
        serve(int(sock), int(lifeline), bytes.fromhex(base).decode("utf-8", "surrogateescape"))
        return
    from llmrun.sandbox import keeper

    front = os.getpid()
    plan, argv = _load(sys.argv[1]), sys.argv[2:]
    lifeline, done = plan["lifeline"], plan["done"]
    child = os.fork()
    if child == 0:
        keeper.become_keeper(front)
        keeper.keep(plan, argv, *keeper.prepare(plan, dict(os.environ)))
    for fd in (lifeline, done):  # the keeper's now: it closes `done` by exiting, last of all
        os.close(fd)
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    keeper.exit_like(status)


def _load(arg):
    """The plan: marshal in hex, or `@FILE` holding it (then removed) when it is large."""
    if not arg.startswith("@"):
        return marshal.loads(bytes.fromhex(arg))
    with open(arg[1:], "rb") as fh:
        data = fh.read()
    os.unlink(arg[1:])
    return marshal.loads(data)


if __name__ == "__main__":
    main()

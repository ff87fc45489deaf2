"""The response budget of one step: what a step may keep, whoever keeps it (the accumulator,
and under --record the cassette's copy of the raw stream)."""

from __future__ import annotations

from llmrun.base.errors import StreamError

#: Most characters one step may keep — text, reasoning, tool-call names, ids and arguments,
#: every field of reasoning_details, and (under --record) the raw stream: memory stays bounded
#: whatever a server sends (a single 20 MB event is fine).
RESPONSE_BUDGET = 64 * 1024 * 1024


def over_budget(budget: int) -> StreamError:
    mib = budget / (1024 * 1024)
    return StreamError(f"the response is larger than the budget of {mib:g} MiB for one step "
                       "(text, reasoning, tool calls and their names, reasoning details, and "
                       "under --record the raw stream); stopped reading")

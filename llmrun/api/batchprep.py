"""Before a batch's first item: its items (read, sharded, minus what --resume finds answered)
and the checks that would otherwise fail every item the same way — the provider and its
key, the tool files, the MCP servers (started here, once, for every item) — so that a
batch that cannot start is one error and exit 2 or 3, not a thousand failed lines."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, List, Optional

from llmrun.api.batch import BatchOptions
from llmrun.api.batchinput import Item, read_items
from llmrun.api.options import RunOptions
from llmrun.base.errors import ConfigError, UsageError


@dataclass
class Plan:
    """The items this run of the batch runs, and what it skips."""

    items: List[Item] = field(default_factory=list)
    in_input: int = 0  # items in the file
    other_shards: int = 0
    answered: int = 0  # skipped by --resume


def read_source(source: str, stdin: Any) -> bytes:
    """FILE's bytes, or standard input's for `-`."""
    if source == "-":
        buffer = getattr(stdin, "buffer", None)
        if stdin is None or buffer is None:
            raise UsageError("FILE is '-' but standard input cannot be read")
        return buffer.read()
    try:
        with open(source, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise UsageError(f"cannot read {source}: {exc.strerror}") from None


def plan(b: BatchOptions, data: bytes) -> Plan:
    """Items of the input, this shard's only, minus those --resume finds answered."""
    from llmrun.api.batchout import answered_ids
    from llmrun.api.shards import parse_shard, shard_of

    shard = parse_shard(b.shard)
    items = read_items(data, b.text, b.job)
    result = Plan(in_input=len(items))
    if shard is not None:
        k, n = shard
        mine = [i for i in items if shard_of(i.id, n) == k]
        result.other_shards = len(items) - len(mine)
        items = mine
    if b.resume and b.output:
        done = answered_ids(b.output)
        left = [i for i in items if i.id not in done]
        result.answered = len(items) - len(left)
        items = left
    result.items = items
    return result


def preflight(run: RunOptions, session: Any, max_cost: Optional[float] = None) -> None:
    """What every item needs and would fail on alike: checked once, before any item."""
    from llmrun.settings.config import load_config
    from llmrun.settings.resolve import _tool_paths, resolve_provider
    from llmrun.tools.sources import mcp_names

    cfg = load_config()
    provider, _ = resolve_provider(vars(run), cfg)
    from llmrun.settings.providers import PRESETS

    known = provider.name in PRESETS  # a preset known not to report cost; others at their word
    if max_cost is not None and known and not provider.dialect.reports_cost and \
            not provider.prices:
        raise ConfigError(f"--batch-max-cost cannot be enforced: {provider.name} does not "
                          "report cost and the config file has no prices for it (add prices: "
                          "{MODEL: {prompt: …, completion: …}} to the provider)")
    paths, source = _tool_paths(vars(run), cfg, os.environ)
    if paths:
        from llmrun.tools.spec import load_tools

        load_tools(paths, source=source, warn=lambda message: None)  # each item warns
    names = mcp_names(run.mcp, cfg)
    if names:
        session.servers(names, cfg)


def raise_open_files(limit: Optional[int] = None) -> None:
    """Raise the soft open-file limit to the hard one: 64 items at once, each with its
    connection, tool pipes and MCP sessions, pass 1024 descriptors easily."""
    try:
        import resource
    except ImportError:  # not on this system
        return
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        if limit is not None:
            want = min(want, limit)
        if soft != resource.RLIM_INFINITY and soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ValueError, OSError):
        pass  # the hard limit stays the limit

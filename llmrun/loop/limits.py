"""The limits a script sets on a run: steps, cost, tool calls. Each stops the run with exit 6
and an `error.type` that says which (`--deadline` lives in the run's context,
llmrun.base.context: it must be able to interrupt anything, like a signal)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional

from llmrun.base.errors import ConfigError, LimitError


@dataclass
class Limits:
    max_steps: int = 10
    max_cost: Optional[float] = None  # USD
    max_tool_calls: Optional[int] = None
    #: USD per million tokens for the model (prompt, completion, cached), from the config:
    #: the cost of a step whose provider reports none.
    prices: Optional[Dict[str, float]] = None
    who: str = "the provider"
    uncosted: bool = False  # with --max-cost: a step came with no cost (and no prices)

    def price(self, usage: Any) -> None:
        """Fill in a step's cost from the config's prices when the provider reported none."""
        if self.max_cost is not None and not self.prices and (usage is None
                                                              or usage.cost is None):
            self.uncosted = True
        if usage is None or usage.cost is not None or not self.prices:
            return
        cached = min(usage.cached_tokens, usage.prompt_tokens)
        per_million = (self.prices.get("prompt", 0.0) * (usage.prompt_tokens - cached)
                       + self.prices.get("cached", self.prices.get("prompt", 0.0)) * cached
                       + self.prices.get("completion", 0.0) * usage.completion_tokens)
        usage.cost = round(per_million / 1_000_000, 12)

    def before_step(self, result: Any) -> None:
        """No step starts once the run's cost reached --max-cost."""
        if self.max_cost is None or not result.steps:
            return
        cost = result.usage.cost
        if cost is None:
            raise cannot_enforce(f"{self.who} reported no cost", result.model)
        if cost >= self.max_cost:
            raise LimitError(f"the run's cost ${cost:.6f} reached --max-cost "
                             f"${self.max_cost:g} after {_steps(result.steps)}; no further step "
                             "was started (raise --max-cost)", "max_cost")

    def after_answer(self, warn: Callable[[str], None]) -> None:
        """The run answered, but --max-cost could not be enforced on its last step: say so
        (a later step would have been refused with exit 3)."""
        if self.uncosted:
            warn(f"--max-cost could not be enforced: {self.who} reported no cost for a step "
                 "and the config file has no prices for the model")

    def before_tools(self, result: Any, step: Any) -> None:
        """A step whose calls would pass --max-tool-calls runs none of them."""
        if self.max_tool_calls is None:
            return
        done, asked = len(result.tool_calls), len(step.tool_calls)
        if done + asked > self.max_tool_calls:
            raise LimitError(f"the model asked for {asked} more tool call"
                             f"{'s' if asked != 1 else ''} after {done}, past --max-tool-calls "
                             f"{self.max_tool_calls}; none of this step's calls was run",
                             "max_tool_calls")


def limits_for(max_steps: int, max_cost: Optional[float], max_tool_calls: Optional[int],
               provider: Any, model: str) -> Limits:
    """The run's limits. A --max-cost is refused before any request only for a preset known
    not to report cost, at its own URL, with no prices for the model; any other server is
    taken at its word: the first step whose usage carries no cost ends the run
    (Limits.before_step)."""
    from llmrun.settings.providers import preset

    prices = provider.prices.get(model)
    known = preset(provider.name)
    if max_cost is not None and not prices and not provider.dialect.reports_cost \
            and known is not None and known.base_url == provider.base_url:
        raise cannot_enforce(f"{provider.name} does not report cost", model)
    return Limits(max_steps, max_cost, max_tool_calls, prices, provider.name)


def cannot_enforce(why: str, model: str) -> ConfigError:
    return ConfigError(f"--max-cost cannot be enforced: {why} and the config file has no "
                       f"prices for model '{model}' (add prices: {{MODEL: {{prompt: …, "
                       "completion: …}} to the config file)")


def cut_tool_calls(step: Any) -> LimitError:
    return LimitError("the output token limit cut the model off while it was writing tool "
                      f"calls (finish_reason: length); their arguments may be incomplete, so "
                      f"none of the {len(step.tool_calls)} call"
                      f"{'s' if len(step.tool_calls) != 1 else ''} was run (raise --max-tokens)",
                      "max_tokens")


def _steps(n: int) -> str:
    return f"{n} step{'s' if n != 1 else ''}"

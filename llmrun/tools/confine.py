"""The sandbox as the tools layer sees it: each tool's and server's effective policy, the
fail-closed check before a run offers them, and the lines -v and `tools check` print."""

from __future__ import annotations

from typing import Any, Iterable, List, Optional

from llmrun.base.errors import ConfigError
from llmrun.sandbox.policy import Policy, Settings


def policy_of(item: Any) -> Policy:
    """The policy a tool or a server spec runs under: the one the run gave it, else the
    defaults (a Toolbox built by hand, as in the Python API, is confined too)."""
    policy = getattr(item, "policy", None)
    if policy is None:
        policy = Settings().policy(item.name, getattr(item, "sandbox", None))
        item.policy = policy
    return policy


def assign(items: Iterable[Any], settings: Settings) -> None:
    for item in items:
        if getattr(item, "runner", None) is None:  # an MCP server's tool runs in its server
            item.policy = settings.policy(item.name, getattr(item, "sandbox", None))


def problem(policies: Iterable[Policy]) -> Optional[str]:
    """Why these policies cannot be enforced here, or None."""
    from llmrun.sandbox.support import missing, probe

    confined = [p for p in policies if p.enabled]
    if not confined:
        return None
    support = probe()
    lacking = missing(support)
    if lacking:
        return (f"the sandbox cannot be enforced on this machine: it lacks "
                f"{' and '.join(lacking)} (needed by tool '{confined[0].name}')")
    for policy in confined:
        if policy.proxied and not support.userns:
            if not policy.port_only:
                return (f"tool '{policy.name}' may reach only some hosts, and this machine "
                        "cannot close every other way out (that needs user namespaces, for a "
                        "network namespace); set sandbox_network: port-only in the config to "
                        "accept Landlock's port-only rule")
            if support.landlock < 4:
                return (f"tool '{policy.name}' may reach only some hosts: even the port-only "
                        f"rule needs Landlock ABI 4 (this kernel has {support.landlock})")
    return None


def require(items: Iterable[Any]) -> None:
    """Fail closed: exit 3 before anything runs when a confined tool cannot be confined."""
    why = problem(policy_of(i) for i in items if getattr(i, "runner", None) is None)
    if why:
        raise ConfigError(f"{why}; run with --no-sandbox (or set sandbox: false in the config) "
                          "to run tools unconfined")


def describe_lines(items: Iterable[Any]) -> List[str]:
    """`sandbox: NAME: POLICY` for each tool or server that is a process of ours."""
    return [f"sandbox: {i.name}: {policy_of(i).describe()}" for i in items
            if getattr(i, "runner", None) is None]


def support_line() -> str:
    from llmrun.sandbox.support import probe, summary

    return "sandbox support: " + summary(probe())


def failure_note(item: Any) -> str:
    """The error result's last line for a confined call, or ""."""
    policy = policy_of(item)
    return policy.failure_note() if policy.enabled else ""

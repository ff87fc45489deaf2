"""Providers and their request dialects: the one place where providers differ.

A *dialect* knows how a family of servers wants the optional parts of a request spelled
(the output-token limit, reasoning effort, cost reporting). A *provider* is a base URL, the
environment variable holding its key, a dialect and extra headers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Dict, Optional

#: OpenAI reasoning models want `max_completion_tokens` (o1, o3, o4-mini, gpt-5 and later).
_REASONING_MODEL = re.compile(r"^(o\d|gpt-[5-9])", re.IGNORECASE)
#: Models that cache a prompt only when a request marks breakpoints (Anthropic's Claude).
_ASKS_FOR_CACHE = re.compile(r"(^|/)(anthropic/|claude)", re.IGNORECASE)
EPHEMERAL = {"type": "ephemeral"}
MAX_BREAKPOINTS = 4  # Anthropic's limit per request
#: The largest file an attachment may be unless a dialect says otherwise (bytes).
DEFAULT_ATTACHMENT_LIMIT = 20 * 1024 * 1024


class Dialect:
    """A generic OpenAI-compatible server (llama.cpp, vLLM, Ollama, …)."""

    name = "generic"
    reports_cost = False  # whether usage carries `cost` (what --max-cost needs)
    public_models = False  # whether GET /models works without a key

    def __init__(self, token_field: Optional[str] = None,
                 schema_mode: str = "response_format") -> None:
        self.token_field = token_field
        #: how --schema is asked for: response_format (json_schema) or a forced tool
        self.schema_mode = schema_mode

    def max_tokens_field(self, model: str) -> str:
        return self.token_field or "max_tokens"

    def reasoning(self, effort: str) -> Dict[str, Any]:
        return {"reasoning_effort": effort}

    def extras(self) -> Dict[str, Any]:
        """Fields every request of this dialect carries."""
        return {}

    def mark_cache(self, body: Dict[str, Any], model: str) -> None:
        """Ask for prompt caching where the model needs to be asked. Servers of this dialect
        cache by themselves or not at all: nothing to add."""

    # -- attachments: the user message's content parts (OpenAI's spelling, which OpenRouter,
    # the Vercel AI Gateway and llama.cpp-style servers share) -------------------------------
    #: the largest file (bytes) an attachment may be for servers of this dialect
    attachment_limit = DEFAULT_ATTACHMENT_LIMIT

    def text_part(self, text: str) -> Dict[str, Any]:
        return {"type": "text", "text": text}

    def image_part(self, url: str) -> Dict[str, Any]:
        """An image: a `data:` URL of its bytes, or an https: URL the server fetches."""
        return {"type": "image_url", "image_url": {"url": url}}

    def file_part(self, filename: str, mime: str, data_url: str) -> Dict[str, Any]:
        """A document (a PDF) as a `data:` URL of its bytes."""
        return {"type": "file", "file": {"filename": filename, "file_data": data_url}}


def needs_cache_marks(model: str) -> bool:
    return bool(_ASKS_FOR_CACHE.search(model))


def mark_messages(body: Dict[str, Any]) -> None:
    """Breakpoints on whole messages: the system message and the newest message, and, when
    the newest are tool results, the last call of the assistant message before them -- so
    each step of a tool loop reads everything before it from the cache (at most 4 marks).
    The marked messages are copies: the conversation itself stays as the contract says."""
    messages = list(body["messages"])
    marks = 0
    if messages and messages[0].get("role") == "system":
        messages[0] = dict(messages[0], cache_control=EPHEMERAL)
        marks += 1
    last = len(messages) - 1
    if last > 0 or (last == 0 and not marks):
        messages[last] = dict(messages[last], cache_control=EPHEMERAL)
        marks += 1
    first_result = last
    while first_result > 0 and messages[first_result - 1].get("role") == "tool":
        first_result -= 1
    before = first_result - 1
    if messages[last].get("role") == "tool" and before > 0 and marks < MAX_BREAKPOINTS \
            and messages[before].get("tool_calls"):
        calls = list(messages[before]["tool_calls"])
        calls[-1] = dict(calls[-1], cache_control=EPHEMERAL)
        messages[before] = dict(messages[before], tool_calls=calls)
    body["messages"] = messages


def strip_cache_marks(messages: Any) -> Any:
    """The conversation without breakpoints, to compare with a recording."""
    if isinstance(messages, list):
        return [strip_cache_marks(m) for m in messages]
    if isinstance(messages, dict):
        return {k: strip_cache_marks(v) for k, v in messages.items() if k != "cache_control"}
    return messages


class OpenAIDialect(Dialect):
    """OpenAI and servers that mirror it (Azure, the Vercel AI Gateway, Groq, xAI …)."""

    name = "openai"

    def max_tokens_field(self, model: str) -> str:
        if self.token_field:
            return self.token_field
        base = model.rsplit("/", 1)[-1]
        return "max_completion_tokens" if _REASONING_MODEL.match(base) else "max_tokens"


class OpenRouterDialect(OpenAIDialect):
    name = "openrouter"
    reports_cost = True
    public_models = True

    def reasoning(self, effort: str) -> Dict[str, Any]:
        return {"reasoning": {"effort": effort}}

    def extras(self) -> Dict[str, Any]:
        return {"usage": {"include": True}}  # how OpenRouter is asked to report cost

    def mark_cache(self, body: Dict[str, Any], model: str) -> None:
        """OpenRouter documents a request-level `cache_control`: it puts the breakpoint on
        the last cacheable block itself, so every step's whole prefix is cached."""
        if needs_cache_marks(model):
            body["cache_control"] = dict(EPHEMERAL)


class VercelDialect(OpenAIDialect):
    """The Vercel AI Gateway: OpenAI's spelling, and breakpoints on whole messages for the
    models that need them (what recorded requests of other clients did, and were accepted)."""

    name = "vercel"
    reports_cost = True

    def mark_cache(self, body: Dict[str, Any], model: str) -> None:
        if needs_cache_marks(model):
            mark_messages(body)


DIALECTS = {d.name: d for d in (Dialect, OpenAIDialect, OpenRouterDialect, VercelDialect)}


def make_dialect(name: str, token_field: Optional[str] = None,
                 schema_mode: Optional[str] = None) -> Dialect:
    return DIALECTS[name](token_field, schema_mode or "response_format")


@dataclass
class Provider:
    name: str
    base_url: str
    api_key_env: Optional[str]  # None: the server needs no key
    dialect: Dialect
    headers: Dict[str, str] = field(default_factory=dict)
    cache: bool = True  # ask for prompt caching where the model needs it
    #: model -> USD per million tokens {prompt, completion, cached}, for providers that
    #: report no cost (what --max-cost and `cost` use then)
    prices: Dict[str, Dict[str, float]] = field(default_factory=dict)
    #: a file (mode 0600) holding the key, so it sits in no environment at all
    api_key_file: Optional[str] = None


#: Presets whose servers take json_schema only on some models or not at all: --schema is
#: asked for with a forced tool there.
TOOL_SCHEMA = {"groq", "xai", "deepseek"}

#: name -> (base URL, key variable, dialect)
PRESETS = {
    "openai": ("https://api.openai.com/v1", "OPENAI_API_KEY", "openai"),
    "openrouter": ("https://openrouter.ai/api/v1", "OPENROUTER_API_KEY", "openrouter"),
    "vercel": ("https://ai-gateway.vercel.sh/v1", "AI_GATEWAY_API_KEY", "vercel"),
    "groq": ("https://api.groq.com/openai/v1", "GROQ_API_KEY", "openai"),
    "xai": ("https://api.x.ai/v1", "XAI_API_KEY", "openai"),
    "deepseek": ("https://api.deepseek.com/v1", "DEEPSEEK_API_KEY", "generic"),
    "together": ("https://api.together.xyz/v1", "TOGETHER_API_KEY", "generic"),
    "ollama": ("http://localhost:11434/v1", None, "generic"),
    "llamacpp": ("http://localhost:8080/v1", None, "generic"),
}

#: The model a preset uses when none is named anywhere (the first run, `-p openai` alone).
DEFAULT_MODELS = {"openai": "gpt-4o-mini", "openrouter": "openai/gpt-5.4-nano",
                  "vercel": "anthropic/claude-sonnet-4", "groq": "llama-3.3-70b-versatile",
                  "xai": "grok-4-fast-non-reasoning", "deepseek": "deepseek-chat",
                  "together": "meta-llama/Llama-3.3-70B-Instruct-Turbo"}

#: The name a plain `--base-url` without `-p` runs under.
GENERIC = "generic"


def preset(name: str) -> Optional[Provider]:
    entry = PRESETS.get(name)
    if entry is None:
        return None
    base_url, key_env, dialect = entry
    mode = "tool" if name in TOOL_SCHEMA else None
    return Provider(name, base_url, key_env, make_dialect(dialect, schema_mode=mode))


def provider_for_url(url: str) -> Optional[str]:
    """The preset whose API root a URL belongs to (used to read recorded cassettes)."""
    for name, (base_url, _, _) in PRESETS.items():
        if url.startswith(base_url):
            return name
    return None

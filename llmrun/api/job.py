"""Job files (`llmrun run JOB.yaml`): what a cron line would otherwise spell out, in one file
that documents itself — a prompt template, the run's settings, and the vars it takes.

Read with the safe YAML loader (base/yamlfile.py); every problem is a ConfigError naming
the file and line (exit 3), a key that is not one of ours included, so a typo is never
ignored. A missing or unknown `--var` is a UsageError (exit 2). Paths in the file are relative
to the file. The template is filled in one pass: a value is never read as a template, an
`@FILE` or anything else.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from llmrun.base.errors import ConfigError, UsageError

#: The keys a job file may have, and no others.
KEYS = ("prompt", "system", "provider", "model", "tools", "mcp", "approve", "schema", "attach",
        "max_steps", "max_cost", "deadline", "max_tool_calls", "vars")
VAR_KEYS = ("default", "required", "description")
#: The settings that are lists: one given on the command line replaces the file's.
LISTS = ("tools", "mcp", "approve", "attach")
TEXTS = ("system", "provider", "model")
NUMBERS = ("max_steps", "max_cost", "deadline", "max_tool_calls")
MAX_JOB_FILE = 1024 * 1024  # a job file is a page of settings, not data

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
#: `{{ name }}` (spaces optional); any other `{{` is a mistake, reported with its line.
_REFERENCE = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
_OPEN = re.compile(r"\{\{")


@dataclass
class Var:
    name: str
    required: bool = False
    default: Optional[str] = None
    description: str = ""

    def describe(self) -> str:
        how = "required" if self.required else f"default: {self.default}"
        return f"{self.description} ({how})" if self.description else f"({how})"


@dataclass
class Job:
    path: str
    prompt: str
    settings: Dict[str, Any] = field(default_factory=dict)  # RunOptions names -> values
    vars: Dict[str, Var] = field(default_factory=dict)

    def values(self, given: Sequence[str]) -> Dict[str, str]:
        """The vars from `--var NAME=VALUE` (the last of a name wins) and the defaults."""
        pairs: Dict[str, str] = {}
        for item in given:
            name, sep, value = item.partition("=")
            if not sep or not name:
                raise UsageError(f"--var {item!r}: write it as NAME=VALUE")
            pairs[name] = value
        return self.fill(pairs, "--var ")

    def fill(self, given: Mapping[str, Any], how: str = "") -> Dict[str, str]:
        """Every var's value: the one given (a text, or a number written as text), else its
        default; an unknown name or a missing required var is a UsageError naming it."""
        values: Dict[str, str] = {}
        for name, value in given.items():
            if name not in self.vars:
                known = ", ".join(self.vars) or "none"
                raise UsageError(f"{how}{name}: {self.path} declares no var {name!r} "
                                 f"(its vars: {known})")
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise UsageError(f"{how}{name}: a var's value is a text or a number")
            values[name] = value if isinstance(value, str) else str(value)
        for var in self.vars.values():
            if var.name not in values:
                if var.required:
                    raise UsageError(f"{how}{var.name}=… is required by {self.path}"
                                     f"{': ' + var.description if var.description else ''}")
                values[var.name] = var.default or ""
        return values

    def render(self, values: Mapping[str, str]) -> str:
        """The prompt: each `{{ name }}` replaced by its value, in one pass (a value is never
        read again); the block's final newline dropped, as standard input's is."""
        return _REFERENCE.sub(lambda m: values[m.group(1)], self.prompt).rstrip("\n")

    def apply(self, target: Any, given: Callable[[str], bool]) -> None:
        """Set the file's settings on `target` (AskOptions) where the command line gave
        none (`given(name)` says whether it did)."""
        for name, value in self.settings.items():
            if not given(name):
                setattr(target, name, list(value) if isinstance(value, list) else value)


def load_job(path: str) -> Job:
    """Read and check a job file; every problem is a ConfigError with file and line."""
    from llmrun.base.yamlfile import load_yaml
    from llmrun.loop.attachments import read_limited

    try:
        raw = read_limited(path, MAX_JOB_FILE, f"job file {path}")
    except UsageError as exc:
        raise ConfigError(exc.message) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    data, lines = load_yaml(text, path)
    return _parse(data, lines, path, text)


def _parse(data: Any, lines: Any, path: str, text: str) -> Job:
    def fail(where: tuple, problem: str) -> ConfigError:
        return ConfigError(f"{path}:{lines.at(*where)}: {problem}")

    if not isinstance(data, dict):
        raise fail((), "a job file is a mapping of settings (prompt:, model:, vars: …)")
    for key in data:
        if key not in KEYS:
            raise fail((key,), f"unknown key {key!r}{_did_you_mean(key, KEYS)} (a job file "
                       f"takes: {', '.join(KEYS)})")
    prompt = data.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise fail(("prompt",), "prompt: the job's prompt (a text, with {{ name }} for vars) "
                   "is missing or empty")
    job = Job(path, prompt, vars=_vars(data.get("vars"), fail))
    base = os.path.dirname(os.path.abspath(path))
    for key in TEXTS:
        if key in data:
            if not isinstance(data[key], str):
                raise fail((key,), f"{key}: must be a text")
            job.settings[key] = data[key]
    for key in LISTS:
        if key in data:
            job.settings[key] = _paths(key, data[key], base, fail)
    for key in NUMBERS:
        if key in data:
            job.settings[key] = _number(key, data[key], fail)
    if "schema" in data:
        if not isinstance(data["schema"], dict):
            raise fail(("schema",), "schema: must be a JSON Schema written inline (a mapping)")
        import json

        job.settings["schema"] = json.dumps(data["schema"])
    _check_template(job, lines, text, fail)
    return job


def _did_you_mean(key: Any, known: Sequence[str]) -> str:
    import difflib

    close = difflib.get_close_matches(str(key), known, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _vars(raw: Any, fail: Callable[..., ConfigError]) -> Dict[str, Var]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise fail(("vars",), "vars: a mapping of NAME: {default: …} or {required: true}")
    out: Dict[str, Var] = {}
    for name, spec in raw.items():
        where = ("vars", name)
        if not isinstance(name, str) or not _NAME.match(name):
            raise fail(where, f"vars: {name!r} is not a var name (letters, digits and _)")
        if not isinstance(spec, dict):
            raise fail(where, f"vars: {name}: a mapping with default: or required: true, "
                       "and description:")
        for key in spec:
            if key not in VAR_KEYS:
                raise fail(where + (key,), f"vars: {name}: unknown key {key!r}"
                           f"{_did_you_mean(key, VAR_KEYS)} (a var takes: {', '.join(VAR_KEYS)})")
        required = spec.get("required", False)
        if not isinstance(required, bool):
            raise fail(where + ("required",), f"vars: {name}: required must be true or false")
        description = spec.get("description", "")
        if not isinstance(description, str):
            raise fail(where + ("description",), f"vars: {name}: description must be a text")
        has_default = "default" in spec
        if required == has_default:
            raise fail(where, f"vars: {name}: give it either a default or required: true")
        default = spec.get("default")
        if has_default:
            if isinstance(default, bool) or not isinstance(default, (str, int, float)):
                raise fail(where + ("default",), f"vars: {name}: default must be a text or "
                           "a number")
            default = str(default)
        out[name] = Var(name, required, default, description)
    return out


def _paths(key: str, value: Any, base: str, fail: Callable[..., ConfigError]) -> List[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise fail((key,), f"{key}: must be a list of texts")
    if key == "approve":
        return list(value)
    return [_relative(key, v, base) for v in value]


def _relative(key: str, value: str, base: str) -> str:
    """A path relative to the job file; an https: URL (attach) and an MCP server's NAME
    from the config (a word that is no file next to the job) stay as written."""
    if key == "attach" and ("://" in value[:12] or value == "-"):
        return value  # a URL, or standard input
    full = os.path.expanduser(value)
    if not os.path.isabs(full):
        full = os.path.normpath(os.path.join(base, full))
    if key == "mcp" and "/" not in value and not os.path.exists(full):
        return value
    return full


def _number(key: str, value: Any, fail: Callable[..., ConfigError]) -> Any:
    from llmrun.api.options import _CHECKS

    try:
        return _CHECKS[key](key, value)
    except (TypeError, UsageError) as exc:
        problem = str(exc).replace(f"--{key.replace('_', '-')} ", "")
        problem = problem[len(key) + 1:] if problem.startswith(key + " ") else problem
        raise fail((key,), f"{key}: {problem}") from None


def _check_template(job: Job, lines: Any, text: str, fail: Callable[..., ConfigError]) -> None:
    """Every `{{` opens a reference to a declared var; the line of a bad one is found."""
    first = lines.at("prompt")
    source = text.splitlines()
    block = first <= len(source) and source[first - 1].rstrip().endswith(("|", ">", "|-",
                                                                            ">-", "|+", ">+"))
    for match in _OPEN.finditer(job.prompt):
        line = first + job.prompt.count("\n", 0, match.start()) + (1 if block else 0)
        ref = _REFERENCE.match(job.prompt, match.start())
        where = f"{job.path}:{line}"
        if ref is None:
            raise ConfigError(f"{where}: prompt: '{{{{' starts no {{{{ name }}}} reference "
                              "(a var name between {{ and }})")
        if ref.group(1) not in job.vars:
            raise ConfigError(f"{where}: prompt: the template uses {{{{ {ref.group(1)} }}}}, "
                              "which vars: does not declare")

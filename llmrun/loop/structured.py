"""`--schema`: a final answer that is JSON valid against a JSON Schema, checked locally.

Two ways to ask for it, chosen per provider (llmrun.settings.providers): `response_format` (OpenAI's
json_schema, `strict` only when the schema meets the strict rules) or `tool` (one extra
function whose parameters are the schema, forced with tool_choice: for servers without
json_schema support). Tools run first as usual. An invalid answer gets one repair turn that
says exactly what is wrong; still invalid is exit 8. jsonschema is imported only here.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any, Dict, List, Optional

from llmrun.base.errors import ConfigError, SchemaError

ANSWER_TOOL = "final_answer"  # the answer's name when the schema has no title
_NOT_IN_NAME = re.compile(r"[^A-Za-z0-9_-]")
_ANSWER_WORDS = "Give the final answer: call this once, when you are done, with the answer " \
    "as its arguments."


def answer_name(schema: Dict[str, Any]) -> str:
    """The json_schema `name` and the answer tool's name: the schema's `title` (cut to 64
    characters, anything but letters, digits, `_` and `-` made `_`), else final_answer."""
    title = schema.get("title")
    if not isinstance(title, str) or not title.strip():
        return ANSWER_TOOL
    return _NOT_IN_NAME.sub("_", title.strip()[:64])


def load_schema(spec: str) -> Dict[str, Any]:
    """SCHEMA: an inline JSON object, or a JSON/YAML file; checked as a JSON Schema.

    One rule for every problem, inline or in a file: the schema is configuration the run
    depends on, like a tool file, so it is exit 3 (ConfigError), the message naming where."""
    if spec.lstrip().startswith("{"):
        try:
            schema = json.loads(spec)
        except ValueError as exc:
            raise ConfigError(f"--schema: the inline schema is not valid JSON ({exc})") from None
        where = "the inline schema"
    else:
        schema, where = _schema_file(spec), spec
    if not isinstance(schema, dict):
        raise ConfigError(f"--schema: {where} must hold a JSON object (a JSON Schema)")
    from jsonschema import validators
    from jsonschema.exceptions import SchemaError as BadSchema

    from llmrun.tools.schemaguard import describe, hazard

    found = hazard(schema)  # checked first: the meta-check itself trips on some of these
    if found is not None:
        raise ConfigError(f"--schema: {where} cannot be used: {found[1]} ({describe(found[0])})")
    try:
        validators.validator_for(schema).check_schema(schema)
    except BadSchema as exc:
        raise ConfigError(f"--schema: {where} is not a valid JSON Schema: {exc.message}") from None
    return schema


def _schema_file(path: str) -> Any:
    from llmrun.base.yamlfile import load_yaml

    from llmrun.base.files import read_text

    try:
        text = read_text(os.path.expanduser(path), "--schema: the schema file")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"--schema: cannot read {path}: {getattr(exc, 'strerror', exc)}")
    return load_yaml(text, path)[0]  # JSON is YAML; safe loading, no alias bombs


def is_strict(schema: Any) -> bool:
    """Whether OpenAI's strict mode accepts the schema: every object closed
    (additionalProperties: false) with every property required, within the supported subset."""
    if isinstance(schema, list):
        return all(is_strict(s) for s in schema)
    if not isinstance(schema, dict):
        return True
    if set(schema) & {"patternProperties", "if", "then", "else", "not", "dependentRequired",
                      "dependentSchemas", "unevaluatedProperties", "contains"}:
        return False
    if schema.get("type") == "object" or "properties" in schema:
        props = schema.get("properties") or {}
        if schema.get("additionalProperties") is not False:
            return False
        if set(schema.get("required") or ()) != set(props):
            return False
    for key in ("properties", "$defs", "definitions"):
        if not all(is_strict(s) for s in (schema.get(key) or {}).values()):
            return False
    return all(is_strict(schema[k]) for k in ("items", "anyOf") if k in schema)


class StructuredAnswer:
    """The schema of one run, how it is asked for, and the answer's check."""

    def __init__(self, schema: Dict[str, Any], mode: str) -> None:
        self.schema = schema
        self.mode = mode  # response_format | tool
        self.name = answer_name(schema)
        description = schema.get("description")
        self.description = description.strip() if isinstance(description, str) else ""
        self.force = False  # tool mode: the next request must call the answer tool
        self.data: Any = None
        self.repaired = False
        from llmrun.tools.checker import warm_up

        warm_up([schema])  # with patterns, answers are checked in a worker: start it now

    def shape(self, body: Dict[str, Any], has_tools: bool) -> None:
        """Put the request for structured output into a request body."""
        if self.mode == "response_format":
            spec = {"name": self.name, "schema": self.schema, "strict": is_strict(self.schema)}
            if self.description:
                spec["description"] = self.description
            body["response_format"] = {"type": "json_schema", "json_schema": spec}
            return
        offered = list(body.get("tools") or [])
        if any((t.get("function") or {}).get("name") == self.name for t in offered):
            raise ConfigError(f"--schema: the answer tool is named '{self.name}' (the schema's "
                              "title), and a tool of that name is offered already; change the "
                              "title or leave that tool out (--tool, exclude_tools)")
        words = f"{self.description}\n\n{_ANSWER_WORDS}" if self.description else _ANSWER_WORDS
        tool = {"type": "function", "function": {
            "name": self.name, "description": words, "parameters": self.schema}}
        body["tools"] = offered + [tool]
        if self.force or not has_tools:
            body["tool_choice"] = {"type": "function", "function": {"name": self.name}}
        else:  # other tools may still run first, but some call is due: tools or the answer
            body["tool_choice"] = "required"

    def answer_call(self, step: Any) -> Optional[Any]:
        """Tool mode: the call that carries the answer, if the step made one."""
        if self.mode != "tool":
            return None
        return next((c for c in step.tool_calls if c.name == self.name), None)

    def check(self, text: str) -> Optional[str]:
        """None when `text` is JSON valid against the schema (kept in `data`); else what is
        wrong, naming the failing path."""
        from llmrun.base.jsonsafe import model_json
        from llmrun.base.safetext import MAX_DEPTH, too_deep

        try:  # strict and finite, the key redacted after decoding: `data` is output too
            value = model_json(_unfenced(text))
        except RecursionError:
            return f"the answer is nested more than {MAX_DEPTH} levels deep"
        except ValueError as exc:
            return f"the answer is not valid JSON ({exc})"
        if too_deep(value):
            return f"the answer is nested more than {MAX_DEPTH} levels deep"
        from llmrun.tools.checker import CheckFailed, problems

        try:  # with patterns, in a worker that --deadline can stop (llmrun.tools.checker)
            errors = problems(self.schema, value)
        except CheckFailed as exc:
            return f"the answer could not be checked: {exc}"
        if not errors:
            self.data = value
            return None
        shown = [f"at {_path(path)}: {message}" for path, message in errors[:5]]
        return "; ".join(shown) + ("; …" if len(errors) > 5 else "")

    def repair(self, step: Any, text: str, problem: str) -> List[Dict[str, Any]]:
        """The messages of the one repair turn: the answer as given, and what is wrong."""
        from llmrun.loop.conversation import assistant_message, tool_message

        self.repaired = True
        words = (f"Your answer is not valid against the required JSON Schema: {problem}. ")
        call = self.answer_call(step)
        if call is not None:
            self.force = True
            message = assistant_message(step)
            message["tool_calls"] = [c for c in message["tool_calls"] if c["id"] == call.id]
            return [message, tool_message(call.id, "error: " + words +
                                          f"Call {self.name} again with corrected arguments.")]
        return [{"role": "assistant", "content": text},
                {"role": "user", "content": words + "Reply with only the corrected JSON."}]

    def fail(self, problem: str) -> SchemaError:
        return SchemaError(f"the final answer is not valid against --schema, even after a "
                           f"repair turn: {problem}")


def _unfenced(text: str) -> str:
    """A model that wraps its JSON in a ```json fence still gave JSON."""
    stripped = text.strip()
    if stripped.startswith("```") and stripped.endswith("```"):
        stripped = stripped[3:-3]
        if stripped.startswith("json"):
            stripped = stripped[4:]
    return stripped


def _path(parts: Any) -> str:
    out = "$"
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out

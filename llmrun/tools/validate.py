"""Checking what a model sends before anything runs, and what a tool author declares.

Messages are written for the model: they say what was wrong and what to send instead.
"""

from __future__ import annotations

from typing import Any, Dict, List, Optional, Tuple

from llmrun.base.safetext import MAX_DEPTH, too_deep
from llmrun.tools import schema as fast


class ArgumentError(Exception):
    """The call cannot run as sent; the message goes back to the model."""


def parse_arguments(tool_name: str, text: str) -> Dict[str, Any]:
    """The arguments string as streamed -> a dict; strict JSON (no NaN, no number beyond a
    double), an object, every string redacted after decoding (llmrun.base.jsonsafe)."""
    from llmrun.base.jsonsafe import model_json

    if not text.strip():
        return {}
    try:
        value = model_json(text)
    except RecursionError:
        raise ArgumentError(f"the arguments for tool '{tool_name}' are nested more than "
                            f"{MAX_DEPTH} levels deep; send a flatter JSON object") from None
    except ValueError as exc:
        raise ArgumentError(f"the arguments for tool '{tool_name}' are not valid JSON "
                            f"({exc}); send one JSON object that matches the tool's "
                            "parameters")
    if not isinstance(value, dict):
        raise ArgumentError(f"the arguments for tool '{tool_name}' must be a JSON object "
                            f"(got {type(value).__name__}: {text[:80]})")
    if too_deep(value, MAX_DEPTH):
        raise ArgumentError(f"the arguments for tool '{tool_name}' are nested more than "
                            f"{MAX_DEPTH} levels deep; send a flatter JSON object")
    return value


def check_arguments(tool: Any, args: Dict[str, Any]) -> None:
    """Raise ArgumentError listing how `args` break the tool's parameters schema."""
    from llmrun.tools.checker import CheckFailed

    if tool.simple_schema:
        problems = fast.errors(tool.parameters, args)
    else:
        try:
            problems = _jsonschema_errors(tool, args)
        except CheckFailed as exc:
            raise ArgumentError(f"the arguments for tool '{tool.name}' could not be checked: "
                                f"{exc}; the tool was not run. Send a shorter or simpler "
                                "value") from None
    if problems:
        shown = "; ".join(problems[:5]) + ("; …" if len(problems) > 5 else "")
        raise ArgumentError(f"the arguments for tool '{tool.name}' do not match its "
                            f"parameters schema: {shown}. Fix them and call the tool again")


def _jsonschema_errors(tool: Any, args: Dict[str, Any]) -> List[str]:
    """jsonschema's problems; a schema with patterns is checked in a worker that a deadline
    can stop (llmrun.tools.checker)."""
    from llmrun.tools.checker import has_patterns, problems

    validator = None if has_patterns(tool.parameters) else tool.validator()
    out = []
    for path, message in problems(tool.parameters, args, validator):
        where = ".".join(str(p) for p in path)
        out.append(f"at {where}: {message}" if where else message)
    return out


def make_validator(parameters: Dict[str, Any]) -> Any:
    """A jsonschema validator for schemas outside the fast subset ($schema respected)."""
    from jsonschema.validators import Draft202012Validator, validator_for

    cls = validator_for(parameters, default=Draft202012Validator)
    return cls(parameters)


def schema_problem(parameters: Any) -> Optional[Tuple[Tuple[Any, ...], str]]:
    """None when `parameters` is a usable schema for a tool, else (path inside it, problem)."""
    if not isinstance(parameters, dict):
        return (), "parameters must be a JSON Schema mapping with type: object"
    if parameters.get("type") != "object":
        return ("type",), "parameters must be a JSON Schema with type: object"
    from llmrun.tools.schemaguard import hazard

    found = hazard(parameters)  # what jsonschema's meta-check lets through but breaks a run
    if found is not None:
        return found[0], f"parameters cannot be used: {found[1]}"
    if fast.is_simple(parameters):
        return None
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import Draft202012Validator, validator_for

    cls = validator_for(parameters, default=Draft202012Validator)
    try:
        cls.check_schema(parameters)
    except SchemaError as exc:
        return tuple(exc.path), f"parameters is not a valid JSON Schema: {exc.message}"
    return None

"""A fast path for the JSON Schemas tool authors actually write.

Importing jsonschema costs ~75 ms (attrs, referencing, rpds), half of llmrun's whole start-up.
Most tool schemas use a small, well-understood subset (type, properties, required, enum, …),
so those are checked here with the same answers jsonschema gives (a hypothesis test compares
the two); any schema that steps outside the subset is handed to jsonschema itself.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List

_ANNOTATIONS = {"title", "description", "default", "examples", "$comment", "format",
                "deprecated", "readOnly", "writeOnly"}
_TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}
_COUNTS = {"minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties"}
_BOUNDS = {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}
_SHAPED = {"type", "properties", "required", "additionalProperties", "enum", "const", "items"}
SUBSET = _ANNOTATIONS | _COUNTS | _BOUNDS | _SHAPED
_ANNOTATION_TYPES: Dict[str, Callable[[Any], bool]] = {
    **{k: (lambda v: isinstance(v, str)) for k in ("title", "description", "$comment", "format")},
    **{k: (lambda v: isinstance(v, bool)) for k in ("deprecated", "readOnly", "writeOnly")},
    "examples": lambda v: isinstance(v, list),
}


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _count(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v >= 0


def _unique_strings(v: Any) -> bool:
    return isinstance(v, list) and all(isinstance(s, str) for s in v) and len(set(v)) == len(v)


def _type_ok(v: Any) -> bool:
    if isinstance(v, str):
        return v in _TYPES
    return bool(v) and _unique_strings(v) and all(t in _TYPES for t in v)


def is_simple(schema: Any) -> bool:
    """True when `schema` uses only the subset, well-formed (so it is a valid schema and
    `errors` below judges instances exactly as jsonschema would)."""
    if isinstance(schema, bool):
        return True
    if not isinstance(schema, dict) or not all(k in SUBSET for k in schema):
        return False
    checks: Dict[str, Callable[[Any], bool]] = {
        **_ANNOTATION_TYPES, "type": _type_ok, "required": _unique_strings, "enum": lambda v: isinstance(v, list),
        "properties": lambda v: isinstance(v, dict) and all(is_simple(s) for s in v.values()),
        "additionalProperties": is_simple, "items": is_simple,
    }
    for key, value in schema.items():
        if key in checks and not checks[key](value):
            return False
        if (key in _COUNTS and not _count(value)) or (key in _BOUNDS and not _number(value)):
            return False
    return True


def equal(a: Any, b: Any) -> bool:
    """JSON equality as jsonschema has it: true is not 1, but 1 is 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, dict, str)) or isinstance(b, (list, dict, str)):
        return type(a) is type(b) and a == b
    return a == b


def is_type(value: Any, name: str) -> bool:
    if name == "integer":
        return _number(value) and (isinstance(value, int) or value.is_integer())
    return {"object": isinstance(value, dict), "array": isinstance(value, list),
            "string": isinstance(value, str), "number": _number(value),
            "boolean": isinstance(value, bool), "null": value is None}[name]


def _show(value: Any) -> str:
    import json

    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= 60 else text[:57] + "..."


def errors(schema: Any, value: Any, path: str = "") -> List[str]:
    """Every way `value` breaks a simple `schema`, as 'path: problem' lines."""
    if schema is True:
        return []
    where = f"at {path}: " if path else ""
    if schema is False:
        return [f"{where}no value is allowed here"]
    problems = [where + p for p in _own_errors(schema, value)]
    if isinstance(value, dict):
        problems += _object_errors(schema, value, path)
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            problems += errors(schema["items"], item, f"{path}[{i}]")
    return problems


def _own_errors(schema: Dict[str, Any], value: Any) -> List[str]:
    out: List[str] = []
    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else types
        if not any(is_type(value, t) for t in names):
            out.append(f"{_show(value)} is not of type {' or '.join(names)}")
    if "enum" in schema and not any(equal(value, e) for e in schema["enum"]):
        out.append(f"{_show(value)} is not one of {_show(schema['enum'])}")
    if "const" in schema and not equal(value, schema["const"]):
        out.append(f"{_show(value)} must be {_show(schema['const'])}")
    out += _limit_errors(schema, value)
    return out


def _limit_errors(schema: Dict[str, Any], value: Any) -> List[str]:
    if _number(value):
        rules = [("minimum", lambda n: value >= n, "less than"),
                 ("maximum", lambda n: value <= n, "more than"),
                 ("exclusiveMinimum", lambda n: value > n, "not more than"),
                 ("exclusiveMaximum", lambda n: value < n, "not less than")]
        return [f"{_show(value)} is {word} {schema[key]}" for key, ok, word in rules
                if key in schema and not ok(schema[key])]
    sized = {str: ("minLength", "maxLength", "characters"), list: ("minItems", "maxItems",
             "items"), dict: ("minProperties", "maxProperties", "properties")}
    for kind, (low, high, unit) in sized.items():
        if isinstance(value, kind) and not isinstance(value, bool):
            out = []
            if low in schema and len(value) < schema[low]:
                out.append(f"has {len(value)} {unit}, fewer than the {schema[low]} required")
            if high in schema and len(value) > schema[high]:
                out.append(f"has {len(value)} {unit}, more than the {schema[high]} allowed")
            return out
    return []


def _object_errors(schema: Dict[str, Any], value: Dict[str, Any], path: str) -> List[str]:
    where = f"at {path}: " if path else ""
    out = [f"{where}{name!r} is a required property" for name in schema.get("required", ())
           if name not in value]
    props = schema.get("properties", {})
    extra = schema.get("additionalProperties", True)
    for key, item in value.items():
        sub = f"{path}.{key}" if path else key
        if key in props:
            out += errors(props[key], item, sub)
        elif extra is False:
            out.append(f"{where}unexpected property {key!r} (allowed: "
                       f"{', '.join(props) or 'none'})")
        elif extra is not True:
            out += errors(extra, item, sub)
    return out

"""What makes a JSON Schema hostile: refused before it is sent or used to check anything.

A schema comes from a tool file, an MCP server or `--schema`, and each of these can be
crafted. Some schemas pass jsonschema's own meta-check and still break a run: a number that
is not finite (`maximum: 1e999`, YAML `.nan`) cannot be sent as JSON; a `$ref` cycle that
never descends into the instance (`{"$ref": "#"}`) recurses without end on every value; a
`pattern` with a repetition count of 99999999999 is an OverflowError in `re`; nesting hundreds
of levels deep exhausts the stack of the meta-check itself. `hazard` finds each of these,
with the path inside the schema, without recursion and in time linear in the schema's size.
"""

from __future__ import annotations

import math
import re
from typing import Any, Dict, List, Optional, Set, Tuple
from urllib.parse import unquote

#: Most levels of nesting in a schema (the meta-check recurses about ten frames a level).
MAX_SCHEMA_DEPTH = 64
#: Most digits of an integer in a schema; more cannot be compared or printed cheaply.
MAX_DIGITS = 400
#: Keys whose values are instances, not schemas: their contents are data.
_DATA = {"enum", "const", "default", "examples"}
#: Keys whose schemas apply to the same instance as the schema that holds them: a cycle made
#: only of these (and $ref) never reaches a smaller piece of the value, so it never ends.
_SAME_ONE = ("not", "if", "then", "else")
_SAME_MANY = ("allOf", "anyOf", "oneOf")

Path = Tuple[Any, ...]


def hazard(schema: Any) -> Optional[Tuple[Path, str]]:
    """None when `schema` is safe to send and to check with, else (path inside it, problem)."""
    nodes: Dict[int, Path] = {}
    found = _walk(schema, nodes)
    if found is not None:
        return found
    return _ref_cycle(schema, nodes)


def _walk(schema: Any, nodes: Dict[int, Path]) -> Optional[Tuple[Path, str]]:
    """Numbers, patterns and depth, over every value of the schema (iteratively)."""
    stack: List[Tuple[Any, Path, bool]] = [(schema, (), False)]
    while stack:
        value, path, data = stack.pop()
        if len(path) > MAX_SCHEMA_DEPTH:
            return path[:MAX_SCHEMA_DEPTH], f"the schema is nested more than " \
                                            f"{MAX_SCHEMA_DEPTH} levels deep"
        if isinstance(value, float) and not math.isfinite(value):
            return path, "the schema holds a number that is not finite (NaN, infinity or " \
                         "beyond a double), which JSON cannot carry"
        if isinstance(value, int) and not isinstance(value, bool) and \
                abs(value) >= 10 ** MAX_DIGITS:
            return path, f"the schema holds an integer of more than {MAX_DIGITS} digits"
        if isinstance(value, dict):
            if not data:
                nodes[id(value)] = path
                problem = _patterns(value)
                if problem is not None:
                    return path + (problem[0],), problem[1]
            for key, item in value.items():
                stack.append((item, path + (key,), data or key in _DATA))
        elif isinstance(value, list):
            for i, item in enumerate(value):
                stack.append((item, path + (i,), data))
    return None


def _patterns(node: Dict[str, Any]) -> Optional[Tuple[str, str]]:
    """A `pattern` or `patternProperties` key that `re` cannot compile."""
    candidates = []
    if isinstance(node.get("pattern"), str):
        candidates.append(("pattern", node["pattern"]))
    if isinstance(node.get("patternProperties"), dict):
        candidates += [("patternProperties", p) for p in node["patternProperties"]
                       if isinstance(p, str)]
    for key, pattern in candidates:
        try:
            re.compile(pattern)
        except (re.error, OverflowError, ValueError, RecursionError, MemoryError) as exc:
            return key, f"pattern {pattern[:60]!r} is not a regular expression llmrun can use " \
                        f"({exc})"
    return None


def _ref_cycle(root: Any, nodes: Dict[int, Path]) -> Optional[Tuple[Path, str]]:
    """A cycle of $refs (through allOf, anyOf, oneOf, not, if/then/else) that applies the
    schema to the same value over and over; or a local $ref to nothing."""
    colour: Dict[int, int] = {}  # 1: on the current path, 2: done
    for start in [n for n in _dicts(root)]:
        if id(start) in colour:
            continue
        stack: List[Tuple[Any, List[Any]]] = [(start, _same_instance(start, root))]
        colour[id(start)] = 1
        while stack:
            node, todo = stack[-1]
            if isinstance(todo, str):  # a dangling reference
                return nodes.get(id(node), ()) + ("$ref",), todo
            if not todo:
                colour[id(node)] = 2
                stack.pop()
                continue
            nxt = todo.pop()
            state = colour.get(id(nxt))
            if state == 1:
                where = nodes.get(id(node), ())
                return where + ("$ref",), "the schema's $refs form a cycle that never " \
                                          "descends into the value (it would recurse without end)"
            if state is None:
                colour[id(nxt)] = 1
                stack.append((nxt, _same_instance(nxt, root)))
    return None


def _dicts(root: Any) -> List[Dict[str, Any]]:
    """Every schema object of the document (data under enum/const/… excluded)."""
    out, stack = [], [(root, False)]
    seen: Set[int] = set()
    while stack:
        value, data = stack.pop()
        if isinstance(value, dict):
            if not data and id(value) not in seen:
                seen.add(id(value))
                out.append(value)
            stack.extend((v, data or k in _DATA) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((v, data) for v in value)
    return out


def _same_instance(node: Dict[str, Any], root: Any) -> Any:
    """The schema objects `node` applies to the same value; a string when a $ref dangles."""
    out: List[Any] = []
    ref = node.get("$ref")
    if isinstance(ref, str) and ref.startswith("#"):
        target = _resolve(root, ref)
        if target is _MISSING:
            return f"$ref {ref[:80]!r} points at nothing in the schema"
        if isinstance(target, dict):
            out.append(target)
    for key in _SAME_ONE:
        if isinstance(node.get(key), dict):
            out.append(node[key])
    for key in _SAME_MANY:
        if isinstance(node.get(key), list):
            out.extend(s for s in node[key] if isinstance(s, dict))
    if isinstance(node.get("dependentSchemas"), dict):
        out.extend(s for s in node["dependentSchemas"].values() if isinstance(s, dict))
    return out


_MISSING = object()


def _resolve(root: Any, ref: str) -> Any:
    """A local JSON-pointer $ref (`#`, `#/$defs/a`); an anchor (`#name`) is left to
    jsonschema (None: not followed here)."""
    pointer = unquote(ref[1:])
    if pointer and not pointer.startswith("/"):
        return None
    value = root
    for part in pointer.split("/")[1:] if pointer else []:
        part = part.replace("~1", "/").replace("~0", "~")
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return _MISSING
    return value


def describe(path: Path) -> str:
    """A path inside a schema, as `at properties.x.maximum`."""
    return "at " + ".".join(str(p) for p in path) if path else "at its top"

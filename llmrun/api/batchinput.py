"""A batch's items: JSON lines (or `--text` lines) in, one Item each, with its id.

Ids follow the contract: an explicit `id` is a string (a number becomes its decimal string);
without one, the line number (1-based, every line counted) is the id. A line that is not
valid JSON, lacks a prompt, or repeats an id (an explicit id equal to another line's
implicit one included) is still an item: it carries its `problem` and fails as that item
(error type `input`), never the batch. Nothing of an item's text is expanded (`@FILE`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Dict, Iterable, List, Optional

#: The keys an item line may carry; any other is that item's input failure (a typo such as
#: "promt" would otherwise run an item with no prompt at all).
ITEM_KEYS = ("id", "prompt", "system", "model", "attach", "vars")
MAX_ID = 1024  # characters: an id is a key in the output, not a payload


@dataclass
class Item:
    """One line of the input, ready to run or already failed (`problem`)."""

    id: str
    line: int
    prompt: str = ""
    system: Optional[str] = None
    model: Optional[str] = None
    attach: List[str] = field(default_factory=list)
    vars: Dict[str, Any] = field(default_factory=dict)
    problem: Optional[str] = None  # why this line cannot run (error type `input`)


def read_items(data: bytes, text_mode: bool = False, job: Any = None) -> List[Item]:
    """Every item of the input, in line order, ids checked for repeats; with a `job`
    (api/job.py), an item without a prompt has the job's template filled from its vars."""
    items = []
    for number, raw in enumerate(_lines(data), start=1):
        if not raw.strip():
            continue  # a blank line is no item (it still counts for the line numbers)
        items.append(_text_item(raw, number) if text_mode else _json_item(raw, number, job))
    _mark_repeats(items)
    return items


def _lines(data: bytes) -> Iterable[bytes]:
    lines = data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()  # the newline that ends the last line starts no line of its own
    return (line[:-1] if line.endswith(b"\r") else line for line in lines)


def _decode(raw: bytes, number: int) -> Optional[str]:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text


def _text_item(raw: bytes, number: int) -> Item:
    text = _decode(raw, number)
    if text is None:
        return Item(str(number), number, problem=f"line {number} is not UTF-8 text")
    return Item(str(number), number, prompt=text)


def _json_item(raw: bytes, number: int, job: Any = None) -> Item:
    text = _decode(raw, number)
    if text is None:
        return Item(str(number), number, problem=f"line {number} is not UTF-8 text")
    try:
        obj = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as exc:
        return Item(str(number), number, problem=f"line {number} is not valid JSON: {exc}")
    if not isinstance(obj, dict):
        return Item(str(number), number, problem=f"line {number} is not a JSON object "
                                                  '(expected {"id": …, "prompt": …})')
    ident = _id(obj.get("id"), number)
    if ident is None:
        return Item(str(number), number, problem=f"line {number}: \"id\" must be a string or "
                                                  f"a number of at most {MAX_ID} characters")
    item = Item(ident, number)
    item.problem = _fill(item, obj, job)
    return item


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _id(value: Any, number: int) -> Optional[str]:
    """The item's id: the explicit one as a string, else the line number."""
    if value is None:
        return str(number)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = str(value)
    elif isinstance(value, float):
        if not math.isfinite(value):
            return None
        value = str(int(value)) if value.is_integer() else repr(value)
    if not isinstance(value, str) or not value or len(value) > MAX_ID or not _utf8(value):
        return None
    return value


def _utf8(text: str) -> bool:
    """Whether the text can be sent and written: JSON's `\\ud800` escapes make strings
    that UTF-8 cannot carry (lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _fill(item: Item, obj: Dict[str, Any], job: Any = None) -> Optional[str]:
    """Copy the item's fields from its line; the first problem found, if any."""
    where = f"line {item.line} (id {item.id!r})"
    unknown = [k for k in obj if k not in ITEM_KEYS]
    if unknown:
        return f"{where}: unknown key {unknown[0]!r} (an item has {', '.join(ITEM_KEYS)})"
    prompt = obj.get("prompt")
    if prompt is not None or job is None:  # with --job, the job's template is the prompt
        if not isinstance(prompt, str) or not prompt.strip():
            return f"{where} has no prompt (\"prompt\": a string that is not empty)"
        if not _utf8(prompt):
            return f"{where}: the prompt is not UTF-8 text (a lone surrogate escape)"
        item.prompt = prompt
    for key in ("system", "model"):
        value = obj.get(key)
        if value is not None and not (isinstance(value, str) and _utf8(value)):
            return f"{where}: \"{key}\" must be a string of UTF-8 text"
        setattr(item, key, value)
    attach = obj.get("attach")
    if attach is not None:
        if isinstance(attach, str):
            attach = [attach]
        if not isinstance(attach, list) or not all(isinstance(a, str) for a in attach):
            return f"{where}: \"attach\" must be a path or a list of paths"
        item.attach = attach
    variables = obj.get("vars")
    if variables is not None:
        if not isinstance(variables, dict):
            return f"{where}: \"vars\" must be an object"
        item.vars = variables
    return _inputs(item, where, job)


def _inputs(item: Item, where: str, job: Any) -> Optional[str]:
    """`attach` (files or https: URLs; standard input is the batch's) and `vars` (they fill
    the --job template, once: a value is never expanded again)."""
    if "-" in item.attach:
        return f"{where}: \"attach\" cannot be '-' (standard input is not an item's)"
    if job is None:
        return f"{where}: \"vars\" needs --job JOB.yaml (its template)" if item.vars else None
    if item.prompt:
        return f"{where}: \"vars\" fill the job's template; this item has its own prompt" \
            if item.vars else None
    from llmrun.base.errors import UsageError

    try:
        item.prompt = job.render(job.fill(item.vars, "vars: "))
    except UsageError as exc:
        return f"{where}: {exc.message}"
    return None


def _mark_repeats(items: List[Item]) -> None:
    """The first line with an id keeps it; every later line with the same id fails."""
    first: Dict[str, int] = {}
    for item in items:
        if item.id in first:
            if item.problem is None:
                item.problem = (f"line {item.line} repeats the id {item.id!r} of line "
                                f"{first[item.id]} (ids must be unique; a line without an id "
                                "has its line number as id)")
        else:
            first[item.id] = item.line

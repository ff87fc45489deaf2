"""A JSON document read with the line of each of its values, the way yamlfile.load_yaml reads
YAML: an MCP server file or a schema is usually JSON, and reading it as YAML costs a run the
import of PyYAML and its pure-Python parser, about 20 ms before its servers can start.

Only plain JSON is read here. Whatever the YAML path would judge (a syntax error, a key twice
in one object, NaN, a number too long, a document too deep or too big) makes `read_json`
answer None, and the caller reads the text as YAML, which says what is wrong as it always did.
"""

from __future__ import annotations

import bisect
import json
import re
from typing import Any, Dict, List, Optional, Tuple

#: Deeper than this, the YAML path decides (its own limits and errors apply).
MAX_DEPTH = 100
_SPACE = " \t\n\r"
_WHITESPACE = json.decoder.WHITESPACE.match  # type: ignore[attr-defined]
#: What YAML reads otherwise than JSON does: characters it refuses unescaped and JSON takes
#: (DEL, C1 controls such as CSI, U+FFFE; JSON refuses the other controls itself), and line
#: breaks JSON does not count (NEL, U+2028, U+2029, a CR alone). Such a document goes the YAML
#: way, which refuses it or counts its lines as it always did. (YAML's own pattern of what it
#: accepts costs 20 ms to compile.)
_NOT_PLAIN = re.compile("[\x7f-\x9f\ud800-\udfff\ufffe\uffff\u2028\u2029]|\r(?!\n)")


class _NotPlain(Exception):
    """Not a document this reader takes: the YAML path reads it instead."""


def read_json(text: str, max_nodes: int, max_digits: int
              ) -> Optional[Tuple[Any, Dict[Tuple[Any, ...], int]]]:
    """(data, lines by path) of a JSON document, or None to read it as YAML."""
    if text.lstrip(_SPACE)[:1] not in ("{", "[") or _NOT_PLAIN.search(text):
        return None
    reader = _Reader(text, max_nodes, max_digits)
    try:
        data, end = reader.value(reader.skip(0), (), 0)
        if reader.skip(end) != len(text):
            return None  # something after the document: YAML may take it, or say why not
    except (_NotPlain, ValueError, IndexError, RecursionError):
        return None
    return data, reader.table


class _Reader:
    def __init__(self, text: str, max_nodes: int, max_digits: int) -> None:
        self.text, self.max_nodes, self.max_digits = text, max_nodes, max_digits
        self.nodes = 0
        self.table: Dict[Tuple[Any, ...], int] = {}
        self._newlines: List[int] = []
        at = text.find("\n")
        while at >= 0:
            self._newlines.append(at)
            at = text.find("\n", at + 1)
        decoder = json.JSONDecoder(parse_constant=self._constant, parse_int=self._int)
        self._scalar = decoder.scan_once
        self._string = json.decoder.scanstring

    def _constant(self, name: str) -> Any:
        raise _NotPlain(name)  # NaN, Infinity: not JSON, and not what YAML makes of them

    def _int(self, digits: str) -> int:
        if len(digits.lstrip("-")) > self.max_digits:
            raise _NotPlain("a number too long")
        return int(digits)

    def line(self, at: int) -> int:
        return bisect.bisect_right(self._newlines, at - 1) + 1

    def skip(self, at: int) -> int:
        return _WHITESPACE(self.text, at).end()

    def value(self, at: int, path: Tuple[Any, ...], depth: int) -> Tuple[Any, int]:
        self.nodes += 1
        if depth > MAX_DEPTH or self.nodes > self.max_nodes:
            raise _NotPlain("too deep or too big")
        self.table[path] = self.line(at)
        first = self.text[at]
        if first == "{":
            return self._object(at + 1, path, depth + 1)
        if first == "[":
            return self._array(at + 1, path, depth + 1)
        try:
            return self._scalar(self.text, at)
        except StopIteration:
            raise _NotPlain("not a JSON value") from None

    def _object(self, at: int, path: Tuple[Any, ...], depth: int) -> Tuple[Any, int]:
        out: Dict[str, Any] = {}
        at = self.skip(at)
        if self.text[at] == "}":
            return out, at + 1
        while True:
            if self.text[at] != '"':
                raise _NotPlain("a key that is not a string")
            key_line = self.line(at)
            key, at = self._string(self.text, at + 1)
            if key in out:
                raise _NotPlain("a key twice")  # YAML names it, and its line
            at = self.skip(at)
            if self.text[at] != ":":
                raise _NotPlain("no colon")
            out[key], at = self.value(self.skip(at + 1), path + (key,), depth)
            self.table[path + (key,)] = key_line  # a key's path is the key's line, as in YAML
            ended, at = self._after_item(at, "}")
            if ended:
                return out, at

    def _array(self, at: int, path: Tuple[Any, ...], depth: int) -> Tuple[Any, int]:
        out: List[Any] = []
        at = self.skip(at)
        if self.text[at] == "]":
            return out, at + 1
        while True:
            item, at = self.value(at, path + (len(out),), depth)
            out.append(item)
            ended, at = self._after_item(at, "]")
            if ended:
                return out, at

    def _after_item(self, at: int, close: str) -> Tuple[bool, int]:
        """After a member or an element: whether its container ended, and where to go on."""
        at = self.skip(at)
        if self.text[at] == close:
            return True, at + 1
        if self.text[at] != ",":
            raise _NotPlain("no comma")
        return False, self.skip(at + 1)

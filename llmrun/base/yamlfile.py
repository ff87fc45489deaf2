"""YAML loading that remembers where each value stood, so errors can name file and line."""

from __future__ import annotations

from typing import Any, Dict, Tuple

from llmrun.base.errors import ConfigError


class Lines:
    """Line numbers (1-based) of the values in a loaded document, by path of keys/indexes."""

    def __init__(self, table: Dict[Tuple[Any, ...], int]) -> None:
        self._table = table

    def at(self, *path: Any) -> int:
        """The line of the deepest part of `path` that exists in the document."""
        while path and path not in self._table:
            path = path[:-1]
        return self._table.get(path, 1)

    @property
    def root(self) -> int:
        return self.at()

    def key(self, *path: Any) -> int:
        return self.at(*path)

    def item(self, *path: Any) -> int:
        return self.at(*path)


#: Most nodes a document may expand to through its aliases. Tool files and configs share a
#: few schema fragments with anchors; an alias bomb (a billion laughs in 850 bytes) or an
#: alias to itself is refused before anything walks or prints it.
MAX_EXPANDED_NODES = 100_000
#: Longest integer a file may write: Python refuses to read one of more than 4,300 digits
#: (a ValueError inside the YAML loader), and no setting needs more than a few.
MAX_INT_DIGITS = 400


def load_yaml(text: str, path: str) -> Tuple[Any, Lines]:
    """Parse one YAML document; a syntax error is a ConfigError with file and line. A JSON
    document (JSON is YAML too) is read without PyYAML, with the same lines."""
    from llmrun.base.jsonfile import read_json

    plain = read_json(text, MAX_EXPANDED_NODES, MAX_INT_DIGITS)
    if plain is not None:
        return plain[0], Lines(plain[1])
    import yaml

    node, data = safe_load(text, path, yaml.SafeLoader, aliases=True)
    table: Dict[Tuple[Any, ...], int] = {}
    if node is not None:
        try:
            _walk(node, (), table)
        except DuplicateKey as dup:
            raise ConfigError(f"{path}:{dup.line}: key '{dup.key}' appears twice in the same "
                              "mapping")
    return data, Lines(table)


def safe_load(stream: Any, path: str, loader: Any, aliases: bool) -> Tuple[Any, Any]:
    """(node, data) of one document, composed once and checked before it is constructed:
    no alias at all unless `aliases`, and never more than MAX_EXPANDED_NODES once expanded."""
    import yaml

    parser = loader(stream)
    try:
        node = parser.get_single_node()
        if node is not None:
            _check_expansion(node, path, aliases)
        data = parser.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}:{line}: invalid YAML: {problem}")
    finally:
        parser.dispose()
    return node, data


def _check_expansion(root: Any, path: str, aliases: bool) -> None:
    """Count the nodes the document expands to, each shared node once per use, without
    expanding anything: linear in the nodes actually written."""
    sizes: Dict[int, int] = {}
    open_nodes: set = set()
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        children = _children(node)
        if not children and node.tag.endswith(":int") and len(node.value) > MAX_INT_DIGITS:
            raise ConfigError(f"{path}:{node.start_mark.line + 1}: a number of more than "
                              f"{MAX_INT_DIGITS} digits is no setting llmrun can use")
        if done:
            open_nodes.discard(key)
            sizes[key] = 1 + sum(sizes[id(c)] for c in children)
            if sizes[key] > MAX_EXPANDED_NODES:
                raise ConfigError(f"{path}:{node.start_mark.line + 1}: YAML aliases expand to "
                                  f"more than {MAX_EXPANDED_NODES} values (an alias bomb?)")
            continue
        if key in sizes:  # written once, used again: that is an alias
            if not aliases:
                raise ConfigError(f"{path}:{node.start_mark.line + 1}: YAML aliases (*name) are "
                                  "not allowed in this file")
            continue
        if key in open_nodes:
            raise ConfigError(f"{path}:{node.start_mark.line + 1}: a YAML alias refers to a value "
                              "that contains it (a self-reference)")
        open_nodes.add(key)
        stack.append((node, True))
        for child in children:
            if id(child) in open_nodes:
                raise ConfigError(f"{path}:{child.start_mark.line + 1}: a YAML alias refers to "
                                  "a value that contains it (a self-reference)")
            if id(child) in sizes:
                if not aliases:
                    raise ConfigError(f"{path}:{child.start_mark.line + 1}: YAML aliases (*name) "
                                      "are not allowed in this file")
                continue
            stack.append((child, False))


def _children(node: Any) -> list:
    import yaml

    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


class DuplicateKey(Exception):
    def __init__(self, key: str, line: int) -> None:
        super().__init__(key)
        self.key, self.line = key, line


def _walk(node: Any, path: Tuple[Any, ...], table: Dict[Tuple[Any, ...], int]) -> None:
    import yaml

    table[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = getattr(key_node, "value", None)
            if path + (key,) in table and isinstance(key, str):
                raise DuplicateKey(key, key_node.start_mark.line + 1)
            _walk(value_node, path + (key,), table)
            table[path + (key,)] = key_node.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, path + (i,), table)

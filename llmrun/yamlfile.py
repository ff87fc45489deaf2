"""YAML loading that remembers where each value stood, so errors can name file and line."""

from __future__ import annotations

from typing import Any, Dict, Tuple

from llmrun.errors import ConfigError


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


def load_yaml(text: str, path: str) -> Tuple[Any, Lines]:
    """Parse one YAML document; a syntax error is a ConfigError with file and line."""
    import yaml

    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.load(text, Loader=yaml.SafeLoader) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}:{line}: invalid YAML: {problem}")
    table: Dict[Tuple[Any, ...], int] = {}
    if node is not None:
        try:
            _walk(node, (), table)
        except DuplicateKey as dup:
            raise ConfigError(f"{path}:{dup.line}: key '{dup.key}' appears twice in the same "
                              "mapping")
    return data, Lines(table)


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

"""YAML for contracts: a key given twice in one mapping is an error, not "the last one wins"."""

from __future__ import annotations

from typing import Any

import yaml


class DuplicateKeyError(yaml.YAMLError):
    """A mapping repeats a key; ``field`` is its dotted path in the document."""

    def __init__(self, field: str, line: int, first_line: int) -> None:
        self.field = field
        self.reason = f"is given twice (lines {first_line} and {line}); the first would be silently lost"
        super().__init__(f"{field}: {self.reason}")


def _path(parent: str, part: str | int) -> str:
    if isinstance(part, int):
        return f"{parent}[{part}]"
    return f"{parent}.{part}" if parent else str(part)


def _check(node: yaml.Node, field: str) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else repr(key_node)
            line = key_node.start_mark.line + 1
            if key in seen:
                raise DuplicateKeyError(_path(field, key), line, seen[key])
            seen[key] = line
            _check(value_node, _path(field, key))
    elif isinstance(node, yaml.SequenceNode):
        for position, item in enumerate(node.value):
            _check(item, _path(field, position))


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` that refuses duplicate keys (raises DuplicateKeyError naming the field)."""
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    if node is not None:
        _check(node, "")
    return yaml.safe_load(text)

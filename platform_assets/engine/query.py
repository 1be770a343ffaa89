"""What one SQL query on the engine returns, or why it cannot: shared by plain and governed SQL."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


class QueryError(RuntimeError):
    """A query that cannot run; the message is one line."""


@dataclass
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]
    truncated: bool  # more rows than the limit exist


def one_line(exc: BaseException) -> str:
    """The first meaningful line of an engine error (Spark's carry plans and JVM stacks below it)."""
    text = str(exc).strip()
    for line in text.splitlines():
        line = line.strip()
        if line:
            return line[:500]
    return type(exc).__name__

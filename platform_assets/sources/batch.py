"""What a source reader hands the bronze ingestion: the records after the committed position.

Readers (``sources/*``) return a ``SourceBatch``; the bronze factory (``layers/bronze/incremental_asset.py``)
gives them the ``Committed`` positions to resume from and types the records by the contract. A payload
that is not a record at all is a ``RawRecord``, kept whole for the dead-letter table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SourceBatch:
    """What a source returned after the committed position, and the position after it."""

    records: list[tuple[str, Any]]  # (position label, raw record)
    # only the positions that moved: structured ({"Account": watermark json}) and integer offsets
    positions: dict[str, Any] = field(default_factory=dict)
    offsets: dict[str, int] = field(default_factory=dict)  # e.g. {"orders.events-0": 41}
    acknowledge: Callable[[], None] | None = None  # tell the source, after the commit


@dataclass(frozen=True)
class Committed:
    """The positions stored in the bronze table, for the reader to resume from."""

    positions: dict[str, Any]
    offset_of: Callable[[str], int | None]


@dataclass(frozen=True)
class RawRecord:
    """A payload that is not a record (malformed JSON, binary garbage) and where it came from.

    It goes to the dead-letter table with its exact bytes and its context (a Kafka key, say), so a
    replay or an investigation has everything the source sent.
    """

    payload: bytes | str | None
    context: dict[str, Any] = field(default_factory=dict)

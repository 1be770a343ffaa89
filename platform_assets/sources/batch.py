"""What a source reader hands the bronze ingestion: the records after the committed position.

Readers (``sources/*``) return a ``SourceBatch``; the bronze factory (``layers/bronze/incremental_asset.py``)
gives them the ``Committed`` positions to resume from and types the records by the contract. A payload
that is not a record at all is a ``RawRecord``, kept whole for the dead-letter table.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class SourceBatch:
    """What a source returned after the committed position, and the position after it."""

    # (position label, raw record) pairs; a source that receives JSON bytes (Kafka) gives them as
    # ``JsonPayloads``, a sequence of the same pairs that bronze types from the bytes, a batch at a time
    records: Sequence[tuple[str, Any]]
    # only the positions that moved: structured ({"Account": watermark json}) and integer offsets
    positions: dict[str, Any] = field(default_factory=dict)
    offsets: dict[str, int] = field(default_factory=dict)  # e.g. {"orders.events-0": 41}
    acknowledge: Callable[[], None] | None = None  # tell the source, after the commit
    # the records already typed by the contract where they were read (bronze on the engine,
    # layers/bronze/engine_kafka.py): a ``Conformed``; None when bronze types ``records`` itself
    conformed: Any = None
    # the source held more than this batch took (a reader's per-batch bound): read on at once
    more: bool = False


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


@dataclass
class JsonPayloads:
    """Records received as JSON bytes, plus the columns the source itself supplies (Kafka coordinates).

    ``record(i)`` is payload ``i`` as the per-record path receives it (a dict with the supplied
    columns, or a ``RawRecord`` when it is not a JSON object); it is called only for the records the
    fast path leaves to that path.
    """

    positions: Sequence[str]  # a list, or an Arrow string array
    values: list[bytes | None]
    supplied: dict[str, Sequence[Any]]  # lists, or Arrow arrays
    record: Callable[[int], Any]

    def __len__(self) -> int:
        return len(self.positions)

    def __getitem__(self, i: int) -> tuple[str, Any]:  # the (position, record) pairs of the per-record path
        position = self.positions[i]
        return position if isinstance(position, str) else position.as_py(), self.record(i)

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        return (self[i] for i in range(len(self)))

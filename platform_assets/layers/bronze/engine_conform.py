"""Bronze on the engine, the part every source shares: typing on the executors, merging on the driver.

A source's engine reader (``engine_kafka.py``, ``engine_dms.py``) plans its batch exactly as its process
path does and hands Spark a DataFrame of what to read; a task function on the executors turns its rows
into received records and types them with the process path's code (``conform_by_contract``: the
contract's columns, field checks and shapes, ``batch_conform.conform_batch``). Each task sends back
*pieces*: one typed ``Conformed`` per ordered run of records (a topic-partition's range, a file), with
an order (major, minor) and the source's own notes (``info``: a last offset, a file-level error). The
driver puts the pieces in order and merges them (``merge_conformed``) into the one ``Conformed`` the
bronze factory commits with the positions, exactly as it commits the process path's.
"""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from platform_assets.layers.bronze.batch_conform import TableRows
from platform_assets.layers.bronze.conform import Conformed

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

PIECE_SCHEMA = "piece_major long, piece_minor long, piece_info string, conformed binary"
_PIECE_ARROW = pa.schema(
    [
        ("piece_major", pa.int64()),
        ("piece_minor", pa.int64()),
        ("piece_info", pa.string()),
        ("conformed", pa.binary()),
    ]
)
Task = Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]]


@dataclass
class Piece:
    """One ordered run of records typed on an executor."""

    major: int
    minor: int
    conformed: Conformed | None
    info: dict[str, Any] = field(default_factory=dict)


def piece_batch(pieces: list[Piece]) -> pa.RecordBatch:
    """The executor side: a task's pieces as the Arrow batch ``mapInArrow`` sends back."""
    for piece in pieces:
        if piece.conformed is not None:
            piece.conformed.rows = []  # a view of its ``table``; rebuilt by the driver after merging
    return pa.RecordBatch.from_pydict(
        {
            "piece_major": [p.major for p in pieces],
            "piece_minor": [p.minor for p in pieces],
            "piece_info": [json.dumps(p.info) for p in pieces],
            "conformed": [pickle.dumps(p.conformed, protocol=pickle.HIGHEST_PROTOCOL) for p in pieces],
        },
        schema=_PIECE_ARROW,
    )


def ordered_pieces(table: pa.Table) -> list[Piece]:
    """The driver side: the tasks' pieces, in (major, minor) order."""
    table = table.sort_by([("piece_major", "ascending"), ("piece_minor", "ascending")])
    return [
        Piece(major, minor, pickle.loads(blob), json.loads(info))
        for major, minor, info, blob in zip(
            *(table.column(n).to_pylist() for n in ("piece_major", "piece_minor", "piece_info", "conformed")),
            strict=True,
        )
    ]


def run_on_executors(frame: DataFrame, task: Task) -> list[Piece]:
    """``task`` over ``frame``'s partitions on the executors; the pieces back on the driver, in order."""
    return ordered_pieces(frame.mapInArrow(task, PIECE_SCHEMA).toArrow())


def merge_conformed(pieces: list[Conformed]) -> Conformed:
    """The tasks' results as one batch's: rows and dead letters in order, counts summed, drift unioned."""
    out = Conformed()
    tables: list[pa.Table] = []
    for piece in pieces:
        out.dead_letters.extend(piece.dead_letters)
        out.new_fields.extend(n for n in piece.new_fields if n not in out.new_fields)
        for name, count in piece.failures_by_field.items():
            out.failures_by_field[name] = out.failures_by_field.get(name, 0) + count
        for name, count in piece.present_by_field.items():
            out.present_by_field[name] = out.present_by_field.get(name, 0) + count
        out.received += piece.received
        out.typed_per_record += piece.typed_per_record
        if piece.table is not None:
            tables.append(piece.table)
    if tables:
        aligned = []
        for table in tables:  # a drift field some tasks did not see: text, null in their rows
            for name in out.new_fields:
                if name not in table.column_names:
                    table = table.append_column(name, pa.nulls(table.num_rows, pa.string()))
            aligned.append(table)
        head = [n for n in aligned[0].column_names if n not in out.new_fields and n != "_position"]
        order = [*head, *out.new_fields, "_position"]
        out.table = pa.concat_tables([t.select(order) for t in aligned])
    out.rows = TableRows(out)  # type: ignore[assignment]
    return out

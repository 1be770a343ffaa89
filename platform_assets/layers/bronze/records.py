"""Turn received records into a bronze Arrow table: values kept as received, plus batch metadata."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pyarrow as pa

from platform_assets.contracts.model import Contract

METADATA_COLUMNS = ("_proc_date", "_ingested_at", "_source", "_batch_id", "_position")


@dataclass(frozen=True)
class Batch:
    """Who wrote a bronze batch, when, and from where."""

    proc_date: date
    ingested_at: datetime
    source: str
    batch_id: str


def metadata_arrays(batch: Batch, positions: list[str] | pa.Array | pa.ChunkedArray) -> dict[str, pa.Array]:
    """The bronze metadata columns (``METADATA_COLUMNS``) for rows at ``positions`` of one batch."""
    count = len(positions)
    return {
        "_proc_date": pa.repeat(pa.scalar(batch.proc_date, pa.date32()), count),
        "_ingested_at": pa.repeat(pa.scalar(batch.ingested_at, pa.timestamp("us", tz="UTC")), count),
        "_source": pa.repeat(pa.scalar(batch.source, pa.string()), count),
        "_batch_id": pa.repeat(pa.scalar(batch.batch_id, pa.string()), count),
        "_position": positions if not isinstance(positions, list) else pa.array(positions, pa.string()),
    }


def json_text(value: Any) -> str:
    """A nested value as bronze stores it: compact JSON, keys sorted. Compact because producers send it
    so: a batch whose nested text already has the canonical shape is stored without rewriting it
    (``field_checks.number_objects_shape``)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def as_received(value: Any) -> str | None:
    """The received value as text: JSON scalars unchanged in meaning, nested values as JSON."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return json_text(value)


def source_columns(contract: Contract) -> list[str]:
    return [c for c in contract.column_names if c not in METADATA_COLUMNS]


def to_bronze_table(
    contract: Contract, records: Iterable[tuple[str, dict[str, Any]]], batch: Batch
) -> tuple[pa.Table, list[str]]:
    """Arrow rows for (position, record) pairs; returns the table and any fields new to the contract.

    A field the contract does not know is kept as a new nullable text column (additive drift).
    """
    known = source_columns(contract)
    rows: list[dict[str, Any]] = []
    extra: list[str] = []
    for position, record in records:
        if not isinstance(record, dict):
            raise ValueError(
                f"{contract.dataset}: record at {position} is not a JSON object: {record!r:.200}"
            )
        for name in record:
            if name not in known and name not in extra:
                extra.append(name)
        row = {name: as_received(record.get(name)) for name in [*known, *extra]}
        row["_position"] = position
        rows.append(row)
    columns = [*known, *extra]
    arrays: dict[str, pa.Array] = {
        name: pa.array([r.get(name) for r in rows], pa.string()) for name in columns
    }
    arrays.update(metadata_arrays(batch, [r["_position"] for r in rows]))
    ordered = [*columns, *METADATA_COLUMNS]
    return pa.table({name: arrays[name] for name in ordered}), extra

"""The erasure suppression list, ``ops/erasure_suppression``: people erased from the lake, so that a
source re-sending them is filtered at bronze. It keeps the customer id and a SHA-256 of the
lower-cased email (never the email itself); governance/erasure.py adds to it."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa
from deltalake import QueryBuilder, write_deltalake

from platform_assets.lake.delta_tables import open_table
from platform_assets.lake.location import Lake

SUPPRESSION_TABLE = "ops/erasure_suppression"
SCHEMA = pa.schema(
    [("customer_id", pa.int64()), ("email_sha256", pa.string()), ("erased_at", pa.timestamp("us", tz="UTC"))]
)


def suppression_uri(lake: Lake) -> str:
    return f"{lake.root.rstrip('/')}/{SUPPRESSION_TABLE}"


def email_digest(email: str) -> str:
    return hashlib.sha256(email.strip().lower().encode()).hexdigest()


def add(lake: Lake, ids: Sequence[int], emails: Sequence[str]) -> None:
    now = datetime.now(UTC)
    rows = [(i, None) for i in ids] + [(None, email_digest(e)) for e in emails]
    table = pa.table(
        {
            "customer_id": [r[0] for r in rows],
            "email_sha256": [r[1] for r in rows],
            "erased_at": [now] * len(rows),
        },
        schema=SCHEMA,
    )
    write_deltalake(suppression_uri(lake), table, mode="append", storage_options=lake.storage_options or None)


def suppressed(lake: Lake) -> tuple[set[int], set[str]]:
    """The erased ids and email digests (a small table: one row per erased identifier)."""
    table = open_table(suppression_uri(lake), lake.storage_options)
    if table is None:
        return set(), set()
    rows = pa.RecordBatchReader.from_stream(QueryBuilder().register("t", table).execute("SELECT * FROM t"))
    found = rows.read_all()
    ids = {v for v in found.column("customer_id").to_pylist() if v is not None}
    return ids, {v for v in found.column("email_sha256").to_pylist() if v}


def is_suppressed(row: dict[str, Any], ids: set[int], digests: set[str], id_columns: Iterable[str]) -> bool:
    for column in id_columns:
        value = row.get(column)
        if value is not None and str(value).lstrip("-").isdigit() and int(value) in ids:
            return True
    email = row.get("email")
    return isinstance(email, str) and email_digest(email) in digests


SUBJECT_ID_COLUMNS = ("customer_id", "Customer_Id__c")  # as governance/subjects.yaml's id_columns


def drop_suppressed(lake: Lake, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``rows`` without the erased people (bronze calls this before it appends a batch)."""
    if not rows:
        return rows
    ids, digests = suppressed(lake)
    if not ids and not digests:
        return rows
    return [r for r in rows if not is_suppressed(r, ids, digests, SUBJECT_ID_COLUMNS)]


def drop_suppressed_table(lake: Lake, table: pa.Table) -> pa.Table:
    """``drop_suppressed`` for typed rows held as Arrow (the batch path of bronze conformance)."""
    if not table.num_rows:
        return table
    ids, digests = suppressed(lake)
    if not ids and not digests:
        return table
    columns = [c for c in (*SUBJECT_ID_COLUMNS, "email") if c in table.column_names]
    rows = table.select(columns).to_pylist()
    keep = [not is_suppressed(r, ids, digests, SUBJECT_ID_COLUMNS) for r in rows]
    return table.filter(pa.array(keep, pa.bool_()))

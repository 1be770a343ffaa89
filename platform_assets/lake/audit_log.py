"""``ops/audit_log``: one row per governed read (allowed or denied) and per write: materializations
(layers/materialization.py, right after each commit), erasure, retention deletes, restores and policy
changes.

It lives in the lake layer because writers on every floor append to it: the layer assets, operations
(restore, retention) and governance (reads, erasure, policies).

A row is appended (one Delta commit) before the result is handed back, so a read nobody audited is
never returned: if the audit write fails, the caller gets the error, not the rows.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import pyarrow as pa
from deltalake import write_deltalake

from platform_assets.lake.location import Lake

AUDIT_TABLE = "ops/audit_log"
SCHEMA = pa.schema(
    [
        ("at", pa.timestamp("us", tz="UTC")),
        ("user", pa.string()),
        ("role", pa.string()),
        ("action", pa.string()),  # read|serve|report|erase|materialize|retention|restore|policy_change
        ("allowed", pa.bool_()),
        ("datasets", pa.list_(pa.string())),
        ("statement", pa.string()),  # the query, or what was erased
        ("columns_masked", pa.list_(pa.string())),  # dataset.column:method
        ("row_filters", pa.list_(pa.string())),  # dataset: predicate
        ("row_count", pa.int64()),
        ("reason", pa.string()),  # why a request was denied, or what a write did
    ]
)


def audit_uri(lake: Lake) -> str:
    return f"{lake.root.rstrip('/')}/{AUDIT_TABLE}"


def current_user() -> str:
    """The person behind a command: PLATFORM_USER when set (a service passes it on), else the login."""
    return os.environ.get("PLATFORM_USER") or getpass.getuser()


@dataclass
class AuditEvent:
    user: str
    role: str
    action: str
    allowed: bool
    datasets: Sequence[str] = ()
    statement: str = ""
    columns_masked: Sequence[str] = ()
    row_filters: Sequence[str] = ()
    row_count: int | None = None
    reason: str = ""
    at: datetime = field(default_factory=lambda: datetime.now(UTC))


def record(lake: Lake, events: Sequence[AuditEvent]) -> None:
    """Append the events in one commit."""
    rows = {name: [getattr(e, name) for e in events] for name in SCHEMA.names}
    rows["datasets"] = [list(e.datasets) for e in events]
    rows["columns_masked"] = [list(e.columns_masked) for e in events]
    rows["row_filters"] = [list(e.row_filters) for e in events]
    write_deltalake(
        audit_uri(lake),
        pa.table(rows, schema=SCHEMA),
        mode="append",
        storage_options=lake.storage_options or None,
    )


def audit_write(
    lake: Lake,
    action: str,
    *,
    role: str,
    datasets: Sequence[str] = (),
    statement: str = "",
    user: str | None = None,
    allowed: bool = True,
    columns_masked: Sequence[str] = (),
    row_filters: Sequence[str] = (),
    row_count: int | None = None,
    reason: str = "",
) -> AuditEvent:
    """Append one audit row (its own commit) and return it; ``user`` defaults to the caller's."""
    event = AuditEvent(
        user=user or current_user(),
        role=role,
        action=action,
        allowed=allowed,
        datasets=list(datasets),
        statement=statement,
        columns_masked=list(columns_masked),
        row_filters=list(row_filters),
        row_count=row_count,
        reason=reason,
    )
    record(lake, [event])
    return event

"""Retention from a contract: delete the rows older than ``retention.days`` (delta-rs DELETE).

Age is read from ``retention.column`` or, by default, the partition column (bronze ``_proc_date``,
silver/gold business dates): a row whose date is before ``today - days`` goes. A table with neither
(current-state tables such as dimensions) keeps its rows: what it holds is live by definition, and
erasure (governance/erasure.py) is how a person leaves it.

The DELETE only removes rows from the current version; the files that held them stay readable by time
travel until the maintenance vacuum removes them past the table's time-travel window
(``maintenance.vacuum_retention``), which the maintenance asset runs right after (maintenance.py).

The rows a dataset's writes held back have a retention of their own (``retention.held_days``, default
by layer): its quarantine table (``quarantine/<layer>_<table>``, aged by ``_quarantined_at``) and, for
a bronze dataset, its dead letters (``bronze/<table>_dlq``, aged by the ingestion day ``_proc_date``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

from deltalake import DeltaTable

from platform_assets.contracts.model import Contract
from platform_assets.lake.delta_tables import open_table
from platform_assets.lake.location import Lake
from platform_assets.layers.bronze.incremental_asset import dlq_dataset

QUARANTINED_AT = "_quarantined_at"  # quality/gate.py stamps every quarantined row
DEAD_LETTER_DAY = "_proc_date"  # the ingestion day a dead letter arrived on (its partition)


@dataclass(frozen=True)
class RetentionReport:
    table: str
    column: str | None
    cutoff: date | None  # rows dated before this are deleted
    rows_deleted: int
    predicate: str = ""
    skipped: str = ""  # why nothing was looked at

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _before(column: str, is_timestamp: bool, cutoff: date) -> str:
    """DataFusion SQL selecting the expired rows (a timestamp counts from midnight UTC of the cutoff)."""
    if is_timestamp:
        return f"\"{column}\" < '{cutoff.isoformat()}T00:00:00Z'"
    return f"\"{column}\" < CAST('{cutoff.isoformat()}' AS DATE)"


def retention_predicate(contract: Contract, cutoff: date) -> str:
    column = contract.retention_column
    assert column is not None
    return _before(column, contract.column(column).type == "timestamp", cutoff)


def enforce_retention(
    uri: str, contract: Contract, today: date, storage_options: dict[str, str] | None = None
) -> RetentionReport:
    """Delete the rows of ``contract``'s table at ``uri`` that are older than its retention."""
    column = contract.retention_column
    if column is None:
        return RetentionReport(
            contract.dataset, None, None, 0, skipped="no retention column (current-state table)"
        )
    cutoff = today - timedelta(days=contract.retention.days)
    table = DeltaTable(uri, storage_options=storage_options or None)
    if column not in {f.name for f in table.schema().fields}:
        return RetentionReport(contract.dataset, column, cutoff, 0, skipped=f"table has no column {column}")
    predicate = retention_predicate(contract, cutoff)
    metrics = table.delete(predicate)
    return RetentionReport(
        contract.dataset, column, cutoff, int(metrics.get("num_deleted_rows", 0)), predicate
    )


def held_tables(lake: Lake, contract: Contract) -> list[tuple[str, str, str, bool]]:
    """(name, uri, age column, is a timestamp) of the held-back tables of ``contract`` that exist."""
    candidates = [
        (
            f"quarantine/{contract.ref.layer}_{contract.ref.table}",
            lake.quarantine_uri(contract.ref),
            QUARANTINED_AT,
            True,
        )
    ]
    if contract.ref.layer == "bronze":
        candidates.append((dlq_dataset(contract), lake.uri(dlq_dataset(contract)), DEAD_LETTER_DAY, False))
    return [c for c in candidates if open_table(c[1], lake.storage_options) is not None]


def enforce_held_retention(lake: Lake, contract: Contract, today: date) -> list[RetentionReport]:
    """Delete the quarantine rows and dead letters of ``contract`` older than its held retention."""
    cutoff = today - timedelta(days=contract.held_retention_days)
    reports = []
    for name, uri, column, is_timestamp in held_tables(lake, contract):
        predicate = _before(column, is_timestamp, cutoff)
        metrics = DeltaTable(uri, storage_options=lake.storage_options or None).delete(predicate)
        reports.append(
            RetentionReport(name, column, cutoff, int(metrics.get("num_deleted_rows", 0)), predicate)
        )
    return reports

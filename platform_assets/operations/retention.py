"""Retention from a contract: delete the rows older than ``retention.days`` (delta-rs DELETE).

Age is read from ``retention.column`` or, by default, the partition column (bronze ``_proc_date``,
silver/gold business dates): a row whose date is before ``today - days`` goes. A table with neither
(current-state tables such as dimensions) keeps its rows: what it holds is live by definition, and
erasure (governance/erasure.py) is how a person leaves it.

The DELETE only removes rows from the current version; the files that held them stay readable by time
travel until the maintenance vacuum removes them past the table's time-travel window
(``maintenance.vacuum_retention``), which the maintenance asset runs right after (maintenance.py).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

from deltalake import DeltaTable

from platform_assets.contracts.model import Contract


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


def retention_predicate(contract: Contract, cutoff: date) -> str:
    """DataFusion SQL selecting the expired rows (a timestamp counts from midnight UTC of the cutoff)."""
    column = contract.retention_column
    assert column is not None
    if contract.column(column).type == "timestamp":
        return f"\"{column}\" < '{cutoff.isoformat()}T00:00:00Z'"
    return f"\"{column}\" < CAST('{cutoff.isoformat()}' AS DATE)"


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

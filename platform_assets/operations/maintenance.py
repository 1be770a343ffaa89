"""Table maintenance with delta-rs, driven by a contract's ``maintenance:`` policy.

For one table: compact only the partitions that hold small files (incremental), Z-order them where the
contract declares columns (one partition at a time: delta-rs holds a partition in memory to Z-order it),
checkpoint the log every ``checkpoint_interval`` commits and clean up expired log entries, then vacuum
files removed longer ago than the time-travel window. Vacuum is checked against a listing of storage:
delta-rs' lite vacuum can report deletions it did not make (delta-rs #4646, escaped partition folder
names), so a reported file still present is deleted here and counted.

A concurrent writer makes a compaction commit fail delta-rs' conflict check; the compaction of that
partition is then retried on the new snapshot (``COMPACT_ATTEMPTS``), and the writer's commit is never
lost. In Dagster the run tag ``platform/dataset`` serializes maintenance with the table's writers.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import unquote

import pyarrow as pa
from deltalake import DeltaTable
from deltalake.exceptions import CommitFailedError

from platform_assets.contracts.model import Maintenance, parse_duration
from platform_assets.lake.storage import filesystem, list_files, read_bytes

COMPACT_ATTEMPTS = 3
LOG_DIR = "_delta_log"


class MaintenanceError(RuntimeError):
    pass


@dataclass
class MaintenanceReport:
    table: str
    files_before: int = 0
    bytes_before: int = 0
    files_after: int = 0
    bytes_after: int = 0
    partitions_compacted: list[str] = field(default_factory=list)
    files_compacted: int = 0
    files_written: int = 0
    z_ordered_partitions: int = 0
    compaction_retries: int = 0
    checkpoint_version: int | None = None
    vacuumed_files: int = 0
    vacuum_fixed_up: int = 0  # reported by delta-rs but still in storage: deleted here
    storage_files_before: int = 0
    storage_files_after: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _files(table: DeltaTable) -> pa.Table:
    return pa.table(table.get_add_actions(flatten=True))


def _partition_column(table: DeltaTable) -> str | None:
    columns = table.metadata().partition_columns
    if len(columns) > 1:
        raise MaintenanceError(f"{table.table_uri}: maintenance supports one partition column, not {columns}")
    return columns[0] if columns else None


def partitions_with_small_files(table: DeltaTable, target_bytes: int) -> list[str | None]:
    """Partition values (strings as in the log; None for an unpartitioned table) holding >= 2 small files."""
    files = _files(table)
    column = _partition_column(table)
    values = files.column(f"partition.{column}").to_pylist() if column else [None] * files.num_rows
    small: dict[str | None, int] = {}
    for value, size in zip(values, files.column("size_bytes").to_pylist(), strict=True):
        if size < target_bytes:
            key = None if value is None else str(value)
            small[key] = small.get(key, 0) + 1
    return sorted((v for v, n in small.items() if n >= 2), key=lambda v: (v is None, v or ""))


def _filters(column: str | None, value: str | None) -> list[tuple[str, str, Any]] | None:
    return None if column is None else [(column, "=", value)]


def _compact_partition(
    uri: str,
    storage_options: dict[str, str] | None,
    column: str | None,
    value: str | None,
    policy: Maintenance,
    report: MaintenanceReport,
) -> None:
    target = int(policy.target_file_size_mb or 128) * 1024 * 1024
    for attempt in range(1, COMPACT_ATTEMPTS + 1):
        table = DeltaTable(uri, storage_options=storage_options or None)
        try:
            if policy.z_order:
                metrics = table.optimize.z_order(
                    policy.z_order, partition_filters=_filters(column, value), target_size=target
                )
                report.z_ordered_partitions += 1
            else:
                metrics = table.optimize.compact(
                    partition_filters=_filters(column, value), target_size=target
                )
        except CommitFailedError as exc:  # a writer committed first: retry on its snapshot
            if attempt == COMPACT_ATTEMPTS:
                raise MaintenanceError(
                    f"{uri}: compaction of partition {column}={value} conflicted with concurrent writes "
                    f"{COMPACT_ATTEMPTS} times; nothing was changed by it ({exc})"
                ) from exc
            report.compaction_retries += 1
            continue
        report.files_compacted += int(metrics.get("numFilesRemoved", 0))
        report.files_written += int(metrics.get("numFilesAdded", 0))
        return


def _last_checkpoint(uri: str, storage_options: dict[str, str] | None) -> int | None:
    try:
        return int(json.loads(read_bytes(uri, f"{LOG_DIR}/_last_checkpoint", storage_options))["version"])
    except (FileNotFoundError, OSError):
        return None


def data_files(uri: str, storage_options: dict[str, str] | None = None) -> dict[str, int]:
    """Every file of the table in storage outside the log, with its size (what vacuum can delete)."""
    return {
        path: info.size
        for path, info in list_files(uri, storage_options).items()
        if not path.startswith(f"{LOG_DIR}/")
    }


def vacuum_verified(
    uri: str, retention_hours: int, storage_options: dict[str, str] | None = None
) -> tuple[set[str], int]:
    """Vacuum (for real) and check by listing storage; returns the paths gone and how many were fixed up."""
    table = DeltaTable(uri, storage_options=storage_options or None)
    before = set(data_files(uri, storage_options))
    reported = {
        unquote(p)
        for p in table.vacuum(
            retention_hours=retention_hours, dry_run=False, enforce_retention_duration=False
        )
    }
    still_there = reported & set(data_files(uri, storage_options))
    if still_there:  # expired tombstones delta-rs did not remove (#4646): remove them as reported
        fs, base = filesystem(uri, storage_options)
        for path in sorted(still_there):
            fs.delete_file(f"{base}/{path}")
    after = set(data_files(uri, storage_options))
    return before - after, len(still_there)


def maintain_table(
    uri: str, policy: Maintenance, storage_options: dict[str, str] | None = None, name: str | None = None
) -> MaintenanceReport:
    """Compact, Z-order, checkpoint, clean up and vacuum one table; files and bytes before/after."""
    started = time.monotonic()
    report = MaintenanceReport(table=name or uri)
    table = DeltaTable(uri, storage_options=storage_options or None)
    files = _files(table)
    report.files_before, report.bytes_before = (
        files.num_rows,
        int(sum(files.column("size_bytes").to_pylist())),
    )
    report.storage_files_before = len(data_files(uri, storage_options))
    column = _partition_column(table)
    target = int(policy.target_file_size_mb or 128) * 1024 * 1024
    for value in partitions_with_small_files(table, target):
        _compact_partition(uri, storage_options, column, value, policy, report)
        report.partitions_compacted.append("" if value is None else value)
    table = DeltaTable(uri, storage_options=storage_options or None)
    last = _last_checkpoint(uri, storage_options)
    interval = policy.checkpoint_interval or 10
    if last is None or table.version() - last >= interval:
        table.create_checkpoint()
        report.checkpoint_version = table.version()
    table.cleanup_metadata()
    retention = int(parse_duration(policy.vacuum_retention or "7d").total_seconds() // 3600)
    gone, fixed = vacuum_verified(uri, retention, storage_options)
    report.vacuumed_files, report.vacuum_fixed_up = len(gone), fixed
    files = _files(DeltaTable(uri, storage_options=storage_options or None))
    report.files_after, report.bytes_after = files.num_rows, int(sum(files.column("size_bytes").to_pylist()))
    report.storage_files_after = len(data_files(uri, storage_options))
    report.seconds = round(time.monotonic() - started, 3)
    return report

"""The DR drill: restore the replica into a scratch root, validate it, measure RTO and RPO.

RTO is the wall time from the start of the restore to a validated lake every table of which the engine
reads; RPO is the largest replication RPO over the tables at the start (see ``dr.replication_rpo``).
Validation compares, per table, the row count and content checksum of the restored table with the
source at the same version. The report is appended to ``<root>/ops/dr_drills``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime

import pyarrow as pa

from platform_assets.lake.positions import append_with_positions
from platform_assets.lake.storage import delete_tree, table_uris
from platform_assets.operations.checksum import table_checksum
from platform_assets.operations.dr import committed_version, replicate_table, replication_rpo

RTO_TARGET_SECONDS = 4 * 3600  # the seed's targets
RPO_TARGET_SECONDS = 3600
DRILLS_TABLE = "ops/dr_drills"

EngineCount = Callable[[str], int]  # reads a table with the engine, returns its row count


@dataclass
class TableValidation:
    table: str
    version: int
    rows: int
    source_rows: int
    checksum: str
    source_checksum: str
    engine_rows: int | None
    valid: bool
    error: str | None = None


@dataclass
class DrillReport:
    drilled_at: datetime
    scratch_root: str
    tables: int
    tables_valid: int
    rto_seconds: float
    rpo_seconds: float
    rto_target_seconds: float = RTO_TARGET_SECONDS
    rpo_target_seconds: float = RPO_TARGET_SECONDS
    details: list[TableValidation] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return (
            self.tables_valid == self.tables
            and self.rto_seconds <= self.rto_target_seconds
            and self.rpo_seconds <= self.rpo_target_seconds
        )

    def as_row(self) -> dict:
        return {
            "drilled_at": self.drilled_at,
            "scratch_root": self.scratch_root,
            "tables": self.tables,
            "tables_valid": self.tables_valid,
            "rto_seconds": self.rto_seconds,
            "rpo_seconds": self.rpo_seconds,
            "rto_target_seconds": float(self.rto_target_seconds),
            "rpo_target_seconds": float(self.rpo_target_seconds),
            "passed": self.passed,
            "details": json.dumps([asdict(d) for d in self.details], default=str),
        }


_SCHEMA = pa.schema(
    [
        ("drilled_at", pa.timestamp("us", tz="UTC")),
        ("scratch_root", pa.string()),
        ("tables", pa.int64()),
        ("tables_valid", pa.int64()),
        ("rto_seconds", pa.float64()),
        ("rpo_seconds", pa.float64()),
        ("rto_target_seconds", pa.float64()),
        ("rpo_target_seconds", pa.float64()),
        ("passed", pa.bool_()),
        ("details", pa.string()),
    ]
)


def _validate(
    table: str,
    source_uri: str,
    restored_uri: str,
    source_options: dict[str, str] | None,
    engine_count: EngineCount | None,
) -> TableValidation:
    version = committed_version(restored_uri)
    try:
        restored = table_checksum(restored_uri, version)
        source = table_checksum(source_uri, version, source_options)
        engine_rows = engine_count(restored_uri) if engine_count else None
    except Exception as exc:  # a table that cannot be read is a failed validation, not a crash
        return TableValidation(table, version, -1, -1, "", "", None, False, f"{type(exc).__name__}: {exc}")
    valid = restored == source and (engine_rows is None or engine_rows == restored.rows)
    return TableValidation(
        table, version, restored.rows, source.rows, restored.digest, source.digest, engine_rows, valid
    )


def run_drill(
    source_root: str,
    replica_root: str,
    scratch_root: str,
    *,
    source_options: dict[str, str] | None = None,
    replica_options: dict[str, str] | None = None,
    engine_count: EngineCount | None = None,
    record: bool = True,
) -> DrillReport:
    """Restore ``replica_root`` into the (local) ``scratch_root``, validate, measure; append the report."""
    drilled_at = datetime.now(UTC)
    tables = table_uris(replica_root, replica_options)
    rpo = 0.0
    for table in tables:  # what a loss of the primary now would lose
        replica_version = committed_version(f"{replica_root.rstrip('/')}/{table}", replica_options)
        _, age = replication_rpo(
            f"{source_root.rstrip('/')}/{table}", replica_version, source_options, drilled_at
        )
        rpo = max(rpo, age)
    started = time.monotonic()
    delete_tree(scratch_root)
    details = []
    for table in tables:
        restored = f"{scratch_root.rstrip('/')}/{table}"
        replicate_table(f"{replica_root.rstrip('/')}/{table}", restored, replica_options, None, name=table)
        details.append(
            _validate(table, f"{source_root.rstrip('/')}/{table}", restored, source_options, engine_count)
        )
    rto = round(time.monotonic() - started, 3)
    report = DrillReport(
        drilled_at,
        scratch_root,
        len(tables),
        sum(d.valid for d in details),
        rto,
        round(rpo, 3),
        details=details,
    )
    if record:
        append_with_positions(
            f"{source_root.rstrip('/')}/{DRILLS_TABLE}",
            pa.Table.from_pylist([report.as_row()], schema=_SCHEMA),
            storage_options=source_options,
        )
    return report


def spark_row_count(spark: object) -> EngineCount:
    """The engine check: the restored table read with the platform's Spark session (Sail by default)."""

    def count(uri: str) -> int:
        return int(spark.read.format("delta").load(uri).count())  # type: ignore[attr-defined]

    return count

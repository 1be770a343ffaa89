"""Retention enforced by the maintenance asset: expired rows deleted (exact counts), the files that held
them vacuumed once past the time-travel window (checked by listing storage), the deletion audited."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable, QueryBuilder, write_deltalake

from platform_assets.contracts.model import Contract
from platform_assets.lake.audit_log import audit_uri
from platform_assets.lake.location import Lake
from platform_assets.lake.resource import LakeResource
from platform_assets.operations.maintenance import data_files
from platform_assets.operations.maintenance_assets import maintenance_definitions
from platform_assets.operations.retention import enforce_retention

TODAY = datetime.now(UTC).date()
# rows per day; with 7 days' retention the days 20 and 9 days ago expire, 7 days ago is the cutoff (kept)
PLANTED = {TODAY - timedelta(days=20): 30, TODAY - timedelta(days=9): 12, TODAY - timedelta(days=7): 5}
PLANTED[TODAY - timedelta(days=1)] = 8


def _contract(vacuum: str, days: int = 7, **extra: object) -> Contract:
    return Contract.model_validate(
        {
            "dataset": "bronze/events",
            "description": "Test events",
            "owners": ["team:data-platform"],
            "domain": "sales",
            "schema": [
                {"name": "id", "type": "long", "description": "id"},
                {"name": "email", "type": "string", "description": "email", "classification": "pii"},
                {"name": "seen_at", "type": "timestamp", "description": "when"},
                {"name": "_proc_date", "type": "date", "description": "ingestion day"},
            ],
            "partitioning": {"column": "_proc_date", "start": "2026-01-01"},
            "retention": {"days": days, **extra},
            "maintenance": {"vacuum_retention": vacuum},
        }
    )


def _plant(uri: str) -> None:
    start = 0
    for day, n in sorted(PLANTED.items()):  # one append (one file) per day
        write_deltalake(
            uri,
            pa.table(
                {
                    "id": pa.array(range(start, start + n), pa.int64()),
                    "email": [f"p{i}@example.com" for i in range(start, start + n)],
                    "seen_at": pa.array(
                        [datetime.combine(day, datetime.min.time(), UTC)] * n, pa.timestamp("us", tz="UTC")
                    ),
                    "_proc_date": pa.array([day] * n, pa.date32()),
                }
            ),
            mode="append",
            partition_by=["_proc_date"],
        )
        start += n


def _count(uri: str, version: int | None = None) -> int:
    """Rows read from the data files (a filter on a value, so statistics alone cannot answer)."""
    table = DeltaTable(uri, version=version)
    reader = QueryBuilder().register("t", table).execute("SELECT id FROM t WHERE email LIKE 'p%'")
    return pa.RecordBatchReader.from_stream(reader).read_all().num_rows


def _materialize(lake_root: Path, contract: Contract) -> dg.MaterializeResult:
    defs = maintenance_definitions({contract.dataset: contract}, [])
    result = dg.materialize(
        list(defs.assets or []),
        resources={"lake": LakeResource(root=str(lake_root), storage_options={})},
    )
    assert result.success
    return result


def _audit_rows(lake: Lake) -> list[dict]:
    reader = (
        QueryBuilder()
        .register("t", DeltaTable(audit_uri(lake)))
        .execute("SELECT * FROM t WHERE action = 'retention'")
    )
    return pa.RecordBatchReader.from_stream(reader).read_all().to_pylist()


def test_maintenance_asset_deletes_expired_rows_and_keeps_them_for_time_travel(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    uri = lake.uri("bronze/events")
    _plant(uri)
    files_before = set(data_files(uri))
    assert len(files_before) == 4 and _count(uri) == 55

    result = _materialize(tmp_path, _contract(vacuum="7d"))

    metadata = result.asset_materializations_for_node(result.all_node_events[0].node_name)[0].metadata
    assert metadata["retention_rows_deleted"].value == 42  # 30 + 12: older than 7 days
    assert metadata["retention_cutoff"].value == str(TODAY - timedelta(days=7))
    assert _count(uri) == 13  # 5 + 8
    # within the time-travel window the removed files stay: storage still lists all four
    assert set(data_files(uri)) >= files_before
    assert _count(uri, version=3) == 55
    rows = _audit_rows(lake)
    assert [(r["datasets"], r["row_count"], r["role"]) for r in rows] == [(["bronze/events"], 42, "pipeline")]

    # a second run finds nothing more to delete and audits nothing
    again = _materialize(tmp_path, _contract(vacuum="7d"))
    metadata = again.asset_materializations_for_node(again.all_node_events[0].node_name)[0].metadata
    assert metadata["retention_rows_deleted"].value == 0
    assert len(_audit_rows(lake)) == 1


def test_files_past_the_time_travel_window_are_gone_from_storage(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    uri = lake.uri("bronze/events")
    _plant(uri)
    expired_days = {str(d) for d in PLANTED if d < TODAY - timedelta(days=7)}
    expired_files = {p for p in data_files(uri) if any(f"_proc_date={d}" in p for d in expired_days)}
    assert len(expired_files) == 2

    _materialize(tmp_path, _contract(vacuum="0h"))  # a zero window: removed files are vacuumed now

    listed = set(data_files(uri))
    assert not listed & expired_files  # listed on storage, not taken from vacuum's report
    assert len(listed) == 2 and _count(uri) == 13
    with pytest.raises(ValueError, match="not found"):  # the version before the deletion is unreadable
        _count(uri, version=3)


def test_retention_by_a_timestamp_column_and_tables_without_one(tmp_path: Path) -> None:
    uri = str(tmp_path / "events")
    _plant(uri)
    report = enforce_retention(uri, _contract(vacuum="7d", days=8, column="seen_at"), TODAY)
    assert (report.column, report.rows_deleted) == ("seen_at", 42)  # days 20 and 9 before 8 days ago
    assert _count(uri) == 13

    current_state = _contract(vacuum="7d").model_copy(update={"partitioning": None})
    kept = enforce_retention(uri, current_state, TODAY)
    assert kept.rows_deleted == 0 and kept.skipped.startswith("no retention column")
    assert _count(uri) == 13


def test_retention_column_must_be_a_date_of_the_schema() -> None:
    with pytest.raises(ValueError, match=r"retention\.column"):
        _contract(vacuum="7d", column="email")


def _plant_held(lake: Lake) -> tuple[str, str]:
    """quarantine/bronze_events: rows quarantined 40, 31, 29 and 1 day(s) ago (one file each);
    bronze/events_dlq: 3 dead letters that arrived 45 days ago and 2 that arrived 2 days ago."""
    quarantine, dlq = lake.quarantine_uri("bronze/events"), lake.uri("bronze/events_dlq")
    for age, n in ((40, 4), (31, 3), (29, 2), (1, 1)):
        at = datetime.combine(TODAY - timedelta(days=age), datetime.min.time(), UTC) + timedelta(hours=6)
        write_deltalake(
            quarantine,
            pa.table(
                {
                    "email": [f"q{age}-{i}@example.com" for i in range(n)],
                    "_failed_rules": ["id_not_null"] * n,
                    "_quarantined_at": pa.array([at] * n, pa.timestamp("us", tz="UTC")),
                }
            ),
            mode="append",
        )
    for age, n in ((45, 3), (2, 2)):
        write_deltalake(
            dlq,
            pa.table(
                {
                    "_position": [f"{age}:{i}" for i in range(n)],
                    "_raw": [f'{{"email": "d{age}-{i}@example.com"}}' for i in range(n)],
                    "_proc_date": pa.array([TODAY - timedelta(days=age)] * n, pa.date32()),
                }
            ),
            mode="append",
            partition_by=["_proc_date"],
        )
    return quarantine, dlq


def _rows(uri: str, column: str) -> list:
    reader = QueryBuilder().register("t", DeltaTable(uri)).execute(f"SELECT {column} FROM t ORDER BY 1")
    return pa.RecordBatchReader.from_stream(reader).read_all().column(0).to_pylist()


def test_quarantine_and_dead_letters_past_their_retention_leave_storage(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    _plant(lake.uri("bronze/events"))
    quarantine, dlq = _plant_held(lake)
    old_letters = {p for p in data_files(dlq) if f"_proc_date={TODAY - timedelta(days=45)}" in p}
    assert len(old_letters) == 1 and len(data_files(quarantine)) == 4

    result = _materialize(tmp_path, _contract(vacuum="0h"))  # bronze: held rows kept 30 days

    metadata = result.asset_materializations_for_node(result.all_node_events[0].node_name)[0].metadata
    assert metadata["held_rows_deleted"].value == {"quarantine/bronze_events": 7, "bronze/events_dlq": 3}
    assert _rows(quarantine, "email") == ["q1-0@example.com", "q29-0@example.com", "q29-1@example.com"]
    assert _rows(dlq, "_position") == ["2:0", "2:1"]
    # vacuumed: the files that held them are gone from storage (listed, not vacuum's report)
    assert not set(data_files(dlq)) & old_letters and len(data_files(dlq)) == 1
    stored = {
        e for p in data_files(quarantine) for e in pq.read_table(Path(quarantine) / p)["email"].to_pylist()
    }
    assert stored == {"q1-0@example.com", "q29-0@example.com", "q29-1@example.com"}
    rows = sorted((r["datasets"][0], r["row_count"]) for r in _audit_rows(lake))
    assert rows == [("bronze/events", 42), ("bronze/events_dlq", 3), ("quarantine/bronze_events", 7)]


def test_held_retention_is_a_contract_setting_with_a_layer_default(tmp_path: Path) -> None:
    from platform_assets.operations.retention import enforce_held_retention

    lake = Lake(str(tmp_path))
    _plant_held(lake)
    assert _contract(vacuum="7d").held_retention_days == 30
    reports = enforce_held_retention(lake, _contract(vacuum="7d", held_days=30 * 2), TODAY)
    assert [(r.table, r.rows_deleted) for r in reports] == [
        ("quarantine/bronze_events", 0),
        ("bronze/events_dlq", 0),
    ]
    reports = enforce_held_retention(lake, _contract(vacuum="7d", held_days=10), TODAY)
    assert [(r.table, r.rows_deleted) for r in reports] == [
        ("quarantine/bronze_events", 9),
        ("bronze/events_dlq", 3),
    ]

"""Table maintenance on real Delta tables: compaction, Z-order, checkpoints, vacuum (listing storage)."""

from __future__ import annotations

import json
import threading
import time
from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake
from deltalake.exceptions import CommitFailedError

from platform_assets.contracts.model import Maintenance
from platform_assets.lake.delta_tables import merge_latest, read_table
from platform_assets.operations.checksum import table_checksum
from platform_assets.operations.maintenance import (
    MaintenanceError,
    data_files,
    maintain_table,
    partitions_with_small_files,
    vacuum_verified,
)

DAYS = [date(2026, 11, 1), date(2026, 11, 2), date(2026, 11, 3)]


def _batch(day: date, start: int, n: int) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(start, start + n), pa.int64()),
            "amount": pa.array([float(i % 97) for i in range(start, start + n)]),
            "_proc_date": pa.array([day] * n, pa.date32()),
        }
    )


def _planted(uri: str) -> None:
    """Days 1 and 2 get 6 small appends each; day 3 a single file (nothing to compact there)."""
    start = 0
    for day in DAYS[:2]:
        for _ in range(6):
            write_deltalake(uri, _batch(day, start, 50), mode="append", partition_by=["_proc_date"])
            start += 50
    write_deltalake(uri, _batch(DAYS[2], start, 50), mode="append", partition_by=["_proc_date"])


def test_compaction_reduces_files_and_keeps_contents(tmp_path: Path) -> None:
    uri = str(tmp_path / "bronze" / "events")
    _planted(uri)
    table = DeltaTable(uri)
    assert len(table.file_uris()) == 13
    assert partitions_with_small_files(table, 128 * 1024 * 1024) == ["2026-11-01", "2026-11-02"]
    before = table_checksum(uri)

    policy = Maintenance(target_file_size_mb=128, z_order=[], vacuum_retention="7d", checkpoint_interval=10)
    report = maintain_table(uri, policy, name="bronze/events")

    assert (report.files_before, report.files_after) == (13, 3)  # one file per day
    assert report.partitions_compacted == ["2026-11-01", "2026-11-02"]
    assert (report.files_compacted, report.files_written) == (12, 2)
    assert report.checkpoint_version == DeltaTable(uri).version()
    assert report.vacuumed_files == 0  # the compacted files are inside the 7-day time-travel window
    assert report.storage_files_after == 15  # 12 tombstoned files still in storage + 3 live
    assert table_checksum(uri) == before and before.rows == 650
    # a second pass finds nothing small left: incremental, no rewrite
    again = maintain_table(uri, policy)
    assert again.partitions_compacted == [] and again.files_after == 3


def test_z_order_per_partition_keeps_contents(tmp_path: Path) -> None:
    uri = str(tmp_path / "silver" / "events")
    _planted(uri)
    before = table_checksum(uri)
    policy = Maintenance(target_file_size_mb=64, z_order=["id"], vacuum_retention="7d", checkpoint_interval=5)
    report = maintain_table(uri, policy)
    assert report.z_ordered_partitions == 2 and report.files_after == 3
    assert table_checksum(uri) == before


def _backdate_removals(uri: str, version: int, hours: float) -> None:
    """Plant an old removal: the tombstones of ``version`` as if written ``hours`` ago."""
    log = Path(uri) / "_delta_log" / f"{version:020d}.json"
    then = int((time.time() - hours * 3600) * 1000)
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    for action in lines:
        if "remove" in action:
            action["remove"]["deletionTimestamp"] = then
    log.write_text("\n".join(json.dumps(a) for a in lines) + "\n")


def test_vacuum_removes_exactly_the_expired_files(tmp_path: Path) -> None:
    uri = str(tmp_path / "silver" / "snap")
    write_deltalake(uri, _batch(DAYS[0], 0, 10), mode="append", partition_by=["_proc_date"])
    write_deltalake(uri, _batch(DAYS[1], 10, 10), mode="append", partition_by=["_proc_date"])
    first = set(data_files(uri))
    day1 = predicate = "_proc_date = '2026-11-01'"
    write_deltalake(
        uri, _batch(DAYS[0], 100, 5), mode="overwrite", predicate=day1, partition_by=["_proc_date"]
    )
    _backdate_removals(uri, 2, hours=3)  # removed 3 h ago: outside a 2 h window
    predicate = "_proc_date = '2026-11-02'"
    write_deltalake(
        uri, _batch(DAYS[1], 200, 5), mode="overwrite", predicate=predicate, partition_by=["_proc_date"]
    )
    expired = {p for p in first if "2026-11-01" in p}
    in_window = {p for p in first if "2026-11-02" in p}
    assert len(expired) == 1 and len(in_window) == 1
    listed_before = set(data_files(uri))

    gone, fixed = vacuum_verified(uri, retention_hours=2)

    assert gone == expired and fixed == 0
    assert set(data_files(uri)) == listed_before - expired  # the in-window removal and live files stay
    assert in_window <= set(data_files(uri))
    ids = read_table(uri, columns=["id"], order_by=["id"]).column("id").to_pylist()
    assert ids == [*range(100, 105), *range(200, 205)]


def test_merge_and_compaction_at_once_lose_nothing(tmp_path: Path) -> None:
    """Without the run limit: a merge writer and compactions race; conflicts fail cleanly, rows stay."""
    uri = str(tmp_path / "silver" / "current")

    def rows(ids: list[int], v: int) -> pa.Table:
        return pa.table({"id": pa.array(ids, pa.int64()), "v": pa.array([v] * len(ids), pa.int64())})

    for chunk in range(8):  # many small files
        write_deltalake(uri, rows(list(range(chunk * 10, chunk * 10 + 10)), 0), mode="append")
    policy = Maintenance(target_file_size_mb=64, z_order=[], vacuum_retention="7d", checkpoint_interval=100)
    outcomes: list[str] = []

    def writer() -> None:
        for round_ in range(1, 9):
            ids = list(range(round_ * 10 - 10, round_ * 10 + 5))  # updates + 5 inserts
            for _ in range(20):  # the writer retries a conflicting commit, as its run retry would
                try:
                    merge_latest(uri, rows(ids, round_), ["id"], ["v"])
                    break
                except CommitFailedError:
                    outcomes.append("writer retried")
            else:
                raise AssertionError("merge never committed")

    def maintainer() -> None:
        for _ in range(4):
            try:
                report = maintain_table(uri, policy)
                outcomes.append(f"compacted {report.files_compacted} (retries {report.compaction_retries})")
            except MaintenanceError as exc:
                outcomes.append(f"maintenance failed cleanly: {exc}")

    threads = [threading.Thread(target=writer), threading.Thread(target=maintainer)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    final = read_table(uri, order_by=["id"]).to_pylist()
    expected: dict[int, int] = {i: 0 for i in range(80)}
    for round_ in range(1, 9):
        for i in range(round_ * 10 - 10, round_ * 10 + 5):
            expected[i] = max(expected.get(i, 0), round_)
    assert {r["id"]: r["v"] for r in final} == expected
    assert len(final) == 85, outcomes
    assert any(o.startswith("compacted") for o in outcomes), outcomes


def test_contract_policy_takes_layer_defaults() -> None:
    from platform_assets.contracts import load_contracts

    contracts = load_contracts()
    bronze = contracts["bronze/order_events"].maintenance_policy
    assert bronze.vacuum_retention == "30d" and bronze.target_file_size_mb == 128
    assert contracts["silver/orders"].maintenance_policy.vacuum_retention == "7d"


def test_bad_z_order_column_names_the_field(tmp_path: Path) -> None:
    import yaml

    from platform_assets.contracts import load_contracts
    from platform_assets.contracts.loader import CONTRACTS_DIR

    target = tmp_path / "datasets"
    for path in CONTRACTS_DIR.rglob("*.yaml"):
        dest = target / path.relative_to(CONTRACTS_DIR)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(path.read_text())
    contract = target / "silver" / "orders.yaml"
    data = yaml.safe_load(contract.read_text())
    data["maintenance"] = {"z_order": ["no_such_column"]}
    contract.write_text(yaml.safe_dump(data))
    with pytest.raises(
        Exception,
        match=r"orders\.yaml: field 'maintenance.z_order': 'no_such_column' must be a schema column",
    ):
        load_contracts(target)


def test_maintenance_assets_share_their_writers_run_tag_and_record_metadata(tmp_path: Path) -> None:
    import dagster as dg

    from platform_assets.definitions import build_definitions
    from platform_assets.lake.resource import LakeResource
    from platform_assets.settings import PlatformSettings

    settings = PlatformSettings(lake_root=str(tmp_path / "lake"))
    defs = build_definitions(settings)
    jobs = {j.name: j for j in defs.jobs}
    fx_tag = jobs["fx_rates_job"].tags["platform/dataset"]
    assert jobs["maintenance_fx_rates"].tags == {"platform/dataset": fx_tag}
    job = defs.resolve_job_def("maintenance_fx_rates")
    keys = {k.to_user_string() for k in job.asset_layer.selected_asset_keys}
    assert keys == {
        "ops/maintenance/bronze/fx_rates",
        "ops/maintenance/silver/fx_rates",
        "ops/maintenance/gold/dim_currency",
    }
    assert {s.cron_schedule for s in defs.schedules if s.name.startswith("maintenance_")} == {"0 3 * * *"}

    _planted(str(tmp_path / "lake" / "bronze" / "fx_rates"))
    asset = next(
        a
        for a in defs.assets
        if getattr(a, "key", None) == dg.AssetKey(["ops", "maintenance", "bronze", "fx_rates"])
    )
    result = dg.materialize([asset], resources={"lake": LakeResource(root=str(tmp_path / "lake"))})
    metadata = result.asset_materializations_for_node(asset.op.name)[0].metadata
    assert metadata["files_before"].value == 13 and metadata["files_after"].value == 3
    assert metadata["partitions_compacted"].value == ["2026-11-01", "2026-11-02"]
    assert metadata["seconds"].value > 0

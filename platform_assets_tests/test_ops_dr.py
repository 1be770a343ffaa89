"""DR: incremental replication to a second root, consistent at every step; the drill measures RTO/RPO."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable, write_deltalake

from platform_assets.contracts.model import Maintenance
from platform_assets.engine import SparkEngine
from platform_assets.lake.delta_tables import merge_latest, read_table
from platform_assets.lake.positions import append_with_positions, committed_offset
from platform_assets.lake.storage import list_files
from platform_assets.operations import dr
from platform_assets.operations.checksum import table_checksum
from platform_assets.operations.dr import committed_version, replicate_lake, replicate_table, replication_rpo
from platform_assets.operations.dr_drill import run_drill, spark_row_count
from platform_assets.operations.maintenance import maintain_table
from platform_assets_tests.test_lake_s3 import BUCKET, s3_endpoint  # noqa: F401 (the moto_server fixture)


def _events(start: int, n: int, day: str) -> pa.Table:
    return pa.table(
        {
            "id": pa.array(range(start, start + n), pa.int64()),
            "_proc_date": pa.array([day] * n, pa.string()),
        }
    )


def _state(key_start: int, n: int, v: int) -> pa.Table:
    ids = list(range(key_start, key_start + n))
    return pa.table({"id": pa.array(ids, pa.int64()), "v": pa.array([v] * n, pa.int64())})


def _lake(root: Path) -> str:
    """Bronze appends with positions (partitioned), silver merges, compacted + checkpointed + vacuumed."""
    bronze, silver = str(root / "bronze" / "events"), str(root / "silver" / "state")
    for i in range(6):
        append_with_positions(
            bronze,
            _events(i * 10, 10, f"2026-11-0{1 + i % 2}"),
            partition_by=["_proc_date"],
            offsets={"topic-0": i * 10 + 9},
        )
        merge_latest(silver, _state(i * 5, 10, i), ["id"], ["v"])
    policy = Maintenance(target_file_size_mb=64, z_order=[], vacuum_retention="7d", checkpoint_interval=2)
    maintain_table(bronze, policy)
    return str(root)


def _same_at_replica_version(source_root: str, replica_root: str, table: str) -> int:
    version = committed_version(f"{replica_root}/{table}")
    assert table_checksum(f"{replica_root}/{table}") == table_checksum(f"{source_root}/{table}", version)
    return version


def test_replica_equals_the_source_at_its_version_and_copies_incrementally(tmp_path: Path) -> None:
    source = _lake(tmp_path / "primary")
    replica = str(tmp_path / "replica")

    first = {r.table: r for r in replicate_lake(source, replica)}

    assert set(first) == {"bronze/events", "silver/state"}
    for table, outcome in first.items():
        assert outcome.replica_version == DeltaTable(f"{source}/{table}").version()
        assert (outcome.lag_versions, outcome.rpo_seconds) == (0, 0.0)
        _same_at_replica_version(source, replica, table)
    assert committed_offset(f"{replica}/bronze/events", "topic-0") == 59  # positions travel with the log

    # one new commit: only its data file and its log entry are copied
    append_with_positions(
        f"{source}/bronze/events", _events(60, 10, "2026-11-03"), partition_by=["_proc_date"]
    )
    lag, rpo = replication_rpo(f"{source}/bronze/events", first["bronze/events"].replica_version)
    assert lag == 1 and rpo >= 0.0
    second = replicate_table(f"{source}/bronze/events", f"{replica}/bronze/events")
    assert (second.files_copied, second.lag_versions) == (2, 0)
    assert (
        _same_at_replica_version(source, replica, "bronze/events")
        == first["bronze/events"].replica_version + 1
    )
    assert read_table(f"{replica}/bronze/events").num_rows == 70


def test_an_interrupted_replication_leaves_a_consistent_replica(tmp_path: Path, monkeypatch) -> None:
    source = _lake(tmp_path / "primary")
    replica = str(tmp_path / "replica")
    replicate_lake(source, replica)
    before = committed_version(f"{replica}/silver/state")
    merge_latest(f"{source}/silver/state", _state(100, 5, 9), ["id"], ["v"])
    copy = dr.copy_file

    def fail_on_log(source_uri, target_uri, relative, *args):  # the primary is lost mid-replication
        if relative.startswith("_delta_log/"):
            raise OSError("primary unreachable")
        return copy(source_uri, target_uri, relative, *args)

    monkeypatch.setattr(dr, "copy_file", fail_on_log)
    with pytest.raises(OSError):
        replicate_table(f"{source}/silver/state", f"{replica}/silver/state")
    # the new data file is there, its log entry is not: the replica is the table at the old version
    assert committed_version(f"{replica}/silver/state") == before
    _same_at_replica_version(source, replica, "silver/state")
    monkeypatch.setattr(dr, "copy_file", copy)
    assert replicate_table(f"{source}/silver/state", f"{replica}/silver/state").replica_version == before + 1


def test_drill_restores_validates_and_reports_rto_rpo(tmp_path: Path) -> None:
    source = _lake(tmp_path / "primary")
    replica, scratch = str(tmp_path / "replica"), str(tmp_path / "scratch")
    replicate_lake(source, replica)
    merge_latest(f"{source}/silver/state", _state(200, 3, 1), ["id"], ["v"])  # not replicated yet
    _backdate_commit(f"{source}/silver/state", committed_version(f"{source}/silver/state"), hours=0.05)
    spark = SparkEngine().get_session()

    report = run_drill(source, replica, scratch, engine_count=spark_row_count(spark))

    assert report.tables == report.tables_valid == 2
    assert {d.table: d.rows for d in report.details} == {"bronze/events": 60, "silver/state": 35}
    assert all(d.engine_rows == d.rows and d.checksum == d.source_checksum for d in report.details)
    assert 0 < report.rto_seconds < 60
    assert 180 <= report.rpo_seconds < 240  # the unreplicated merge was committed 3 minutes ago
    assert report.passed
    drills = read_table(f"{source}/ops/dr_drills").to_pylist()
    assert len(drills) == 1 and drills[0]["passed"] and drills[0]["rto_seconds"] == report.rto_seconds
    assert "bronze/events/_delta_log/00000000000000000000.json" in list_files(scratch)


def test_drill_detects_a_corrupted_replica(tmp_path: Path) -> None:
    source = _lake(tmp_path / "primary")
    replica, scratch = str(tmp_path / "replica"), str(tmp_path / "scratch")
    replicate_lake(source, replica)
    # tamper with the replica: a data file rewritten with other rows, same log
    table = DeltaTable(f"{replica}/silver/state")
    victim = table.file_uris()[0]
    write_deltalake(str(tmp_path / "junk"), _state(900, 1, 1))
    junk = DeltaTable(str(tmp_path / "junk")).file_uris()[0]
    Path(victim).write_bytes(Path(junk).read_bytes())

    report = run_drill(source, replica, scratch, record=False)

    assert report.tables_valid == 1 and not report.passed
    bad = next(d for d in report.details if d.table == "silver/state")
    assert not bad.valid


def _backdate_commit(uri: str, version: int, hours: float) -> None:
    """Plant an old commit: its commitInfo timestamp ``hours`` ago."""
    log = Path(uri) / "_delta_log" / f"{version:020d}.json"
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    for action in lines:
        if "commitInfo" in action:
            action["commitInfo"]["timestamp"] = int((time.time() - hours * 3600) * 1000)
    log.write_text("\n".join(json.dumps(a) for a in lines) + "\n")


def test_dr_assets_replicate_drill_and_alert_when_rpo_is_missed(tmp_path: Path) -> None:
    import dagster as dg

    from platform_assets.lake.resource import LakeResource
    from platform_assets.operations.dr_assets import DrResource, dr_drills, dr_replication

    source = _lake(tmp_path / "primary")
    resources = {
        "lake": LakeResource(root=source),
        "dr": DrResource(replica_root=str(tmp_path / "replica"), scratch_root=str(tmp_path / "scratch")),
        "spark": SparkEngine(),
    }
    replicated = dg.materialize([dr_replication], resources=resources)
    metadata = replicated.asset_materializations_for_node("ops__dr_replication")[0].metadata
    assert metadata["tables"].value == 2 and metadata["max_rpo_seconds"].value == 0.0
    # a commit made two hours ago that never reached the replica: the RPO target (1 h) is missed
    merge_latest(f"{source}/silver/state", _state(300, 2, 1), ["id"], ["v"])
    _backdate_commit(f"{source}/silver/state", committed_version(f"{source}/silver/state"), hours=2)

    drilled = dg.materialize([dr_drills], resources=resources)

    metadata = drilled.asset_materializations_for_node("ops__dr_drills")[0].metadata
    assert metadata["rpo_seconds"].value > 7000 and metadata["tables_valid"].value == 2
    assert metadata["passed"].value is False and metadata["alerts"].value == 1
    alerts = read_table(f"{source}/ops/alerts").to_pylist()
    assert [(a["kind"], a["severity"]) for a in alerts] == [("dr", "ERROR")]
    assert "RPO" in alerts[0]["message"] and "exceeds the target 3600 s" in alerts[0]["message"]


def test_replication_to_another_s3_endpoint_and_a_drill_from_it(tmp_path: Path, s3_endpoint: str) -> None:  # noqa: F811
    options = {
        "AWS_ENDPOINT_URL": s3_endpoint,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
    }
    source = _lake(tmp_path / "primary")
    replica = f"s3://{BUCKET}/dr-replica"

    outcomes = replicate_lake(source, replica, None, options)

    assert {o.table: o.lag_versions for o in outcomes} == {"bronze/events": 0, "silver/state": 0}
    for table in ("bronze/events", "silver/state"):
        version = committed_version(f"{replica}/{table}", options)
        replica_sum = table_checksum(f"{replica}/{table}", storage_options=options)
        assert replica_sum == table_checksum(f"{source}/{table}", version)
    report = run_drill(source, replica, str(tmp_path / "scratch"), replica_options=options, record=False)
    assert report.tables_valid == 2 and report.passed

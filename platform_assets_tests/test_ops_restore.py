"""Point-in-time recovery: data, integer positions (app transactions) and structured positions together."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import DeltaTable

from platform_assets.lake.delta_tables import read_table
from platform_assets.lake.positions import append_with_positions, committed_offset, committed_positions
from platform_assets.operations.restore import restore_all, restore_table

APP = "orders.events-0"


def _rows(start: int, n: int) -> pa.Table:
    return pa.table({"offset": pa.array(range(start, start + n), pa.int64())})


def _ingest(uri: str, start: int, n: int, watermark: str) -> None:
    append_with_positions(
        uri, _rows(start, n), offsets={APP: start + n - 1}, positions={"watermark": watermark}
    )
    time.sleep(0.02)  # distinct commit timestamps (milliseconds)


def _commit_time(uri: str, version: int) -> datetime:
    commit = next(c for c in DeltaTable(uri).history() if c["version"] == version)
    return datetime.fromtimestamp(commit["timestamp"] / 1000, UTC)


def test_restore_to_a_time_before_a_bad_write_brings_back_the_good_state(tmp_path: Path) -> None:
    uri = str(tmp_path / "bronze" / "order_events")
    _ingest(uri, 0, 10, "w1")
    _ingest(uri, 10, 10, "w2")  # version 1: the last good state
    good_time = _commit_time(uri, 1)
    time.sleep(0.02)
    _ingest(uri, 20, 5, "w-bad")  # a bad write: wrong rows, and it moved the positions on
    assert committed_offset(uri, APP) == 24

    outcome = restore_table(uri, to_time=good_time)

    assert (outcome.from_version, outcome.to_version, outcome.new_version) == (2, 1, 3)
    assert outcome.positions_reset == {APP: 19}
    assert read_table(uri, order_by=["offset"]).column("offset").to_pylist() == list(range(20))
    assert committed_offset(uri, APP) == 19
    assert committed_positions(uri) == {"watermark": "w2"}
    # ingestion resumes right after the good state: offset 20 is accepted, nothing is lost or doubled
    _ingest(uri, 20, 5, "w3")
    assert read_table(uri, order_by=["offset"]).column("offset").to_pylist() == list(range(25))


def test_restore_to_version_and_app_ids_that_did_not_exist_then(tmp_path: Path) -> None:
    uri = str(tmp_path / "bronze" / "t")
    append_with_positions(uri, _rows(0, 3))  # version 0: no position yet
    _ingest(uri, 3, 3, "w1")
    outcome = restore_table(uri, to_version=0)
    assert outcome.positions_reset == {APP: -1}  # "before offset 0": the reader starts at the beginning
    assert committed_offset(uri, APP) == -1 and committed_positions(uri) == {}
    assert read_table(uri).num_rows == 3
    with pytest.raises(ValueError, match="version 9 is not between 0 and the current version 2"):
        restore_table(uri, to_version=9)


def test_restore_all_brings_every_table_to_its_state_at_t(tmp_path: Path) -> None:
    root = str(tmp_path / "lake")
    bronze, silver = f"{root}/bronze/events", f"{root}/silver/events"
    _ingest(bronze, 0, 5, "a")
    append_with_positions(silver, _rows(0, 5))
    time.sleep(0.02)
    cutoff = datetime.now(UTC)
    time.sleep(0.02)
    _ingest(bronze, 5, 5, "b")
    append_with_positions(silver, _rows(5, 5))
    append_with_positions(f"{root}/gold/late", _rows(0, 1))  # created after the cutoff

    outcomes = {o.table: o for o in restore_all(root, cutoff)}

    assert read_table(bronze).num_rows == 5 and read_table(silver).num_rows == 5
    assert committed_offset(bronze, APP) == 4 and committed_positions(bronze) == {"watermark": "a"}
    assert outcomes["gold/late"].to_version is None  # younger than T: reported, left as it is
    assert outcomes["bronze/events"].to_version == 0 and outcomes["silver/events"].new_version == 2


def test_platform_restore_and_dr_commands(tmp_path: Path, monkeypatch, capsys) -> None:
    from platform_assets.cli import main

    root = tmp_path / "lake"
    uri = str(root / "bronze" / "order_events")
    _ingest(uri, 0, 10, "w1")
    _ingest(uri, 10, 5, "w-bad")
    monkeypatch.setenv("PLATFORM_LAKE_ROOT", str(root))
    monkeypatch.setenv("PLATFORM_DR_ROOT", str(tmp_path / "replica"))

    assert main(["restore", "bronze/order_events", "--to-version", "0"]) == 0
    assert capsys.readouterr().out == (
        "bronze/order_events: restored to version 0 (was 1; new version 2); positions reset: orders.events-0=9\n"
    )
    assert read_table(uri).num_rows == 10
    assert main(["dr", "replicate"]) == 0
    assert capsys.readouterr().out == (  # the restore's audit row is a lake table too, replicated
        "bronze/order_events: replica at version 2, 5 file(s) copied, lag 0\n"
        "ops/audit_log: replica at version 0, 2 file(s) copied, lag 0\n"
    )
    assert main(["restore", "--to-version", "1"]) == 2  # neither a table nor --all

"""DMS file discovery: processed files tracked by identity, read in DMS order, never skipped.

Real files in a landing folder with hand-set LastModified stamps (one-second resolution, as S3 has),
read through the bronze reader and committed through the real incremental protocol.
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from platform_assets.contracts import load_contracts
from platform_assets.lake.delta_tables import read_table
from platform_assets.lake.location import Lake
from platform_assets.layers.bronze import rds_customers
from platform_assets.layers.bronze.incremental_asset import ingest_increment
from platform_assets.layers.bronze.records import Batch
from platform_assets.sources.dms.discovery import ProcessedFiles, dms_order
from platform_assets.sources.dms.reader import list_files
from platform_assets_tests.dms_files import cdc_name, commit_ts, customer, write_file

CONTRACT = load_contracts()["bronze/rds_customers_cdc"]
NOW = 1_800_000_000  # a LastModified in whole seconds


def _ingest(lake: Lake, landing: Path, n: int) -> int:
    """One bronze run; returns how many changes it appended."""
    meta = Batch(
        date(2026, 11, 2), datetime(2026, 11, 2, 12, tzinfo=UTC), "rds_dms:public.customers", f"r{n}"
    )
    _, conformed, _ = ingest_increment(
        lake, CONTRACT, meta, lambda committed: rds_customers.read_dms_batch(landing, committed)
    )
    return len(conformed.rows)


def _positions(lake: Lake) -> list[str]:
    rows = read_table(lake.uri(CONTRACT.ref), columns=["_position"]).column("_position").to_pylist()
    return sorted(rows)


def test_a_file_landing_with_an_older_or_equal_timestamp_is_still_read(tmp_path: Path) -> None:
    lake, landing = Lake(str(tmp_path / "lake")), tmp_path / "landing"
    write_file(landing, cdc_name(2), [["U", commit_ts(2), *customer(1, "b")]], cdc=True, mtime=NOW)
    assert _ingest(lake, landing, 0) == 1
    # same second as the file already read, and a name that sorts before it
    write_file(landing, cdc_name(1), [["U", commit_ts(1), *customer(1, "a")]], cdc=True, mtime=NOW)
    # a listing that missed a file stamped a second earlier (multipart uploads are stamped at start)
    write_file(landing, cdc_name(3), [["U", commit_ts(3), *customer(1, "c")]], cdc=True, mtime=NOW - 1)
    assert _ingest(lake, landing, 1) == 2
    assert _ingest(lake, landing, 2) == 0
    assert _positions(lake) == sorted(f"{cdc_name(s)}:1" for s in (1, 2, 3))


def test_a_backlog_larger_than_a_batch_with_a_late_full_load_skips_no_cdc_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rds_customers, "MAX_FILES_PER_RUN", 3)
    lake, landing = Lake(str(tmp_path / "lake")), tmp_path / "landing"
    for s in range(1, 6):
        write_file(
            landing, cdc_name(s), [["U", commit_ts(s), *customer(1, f"v{s}")]], cdc=True, mtime=NOW + s
        )
    # the full load lands last, with the newest LastModified
    write_file(landing, "LOAD00000001.csv", [[commit_ts(0), *customer(1, "v0")]], cdc=False, mtime=NOW + 9)
    appended = [_ingest(lake, landing, n) for n in range(3)]
    assert appended == [3, 3, 0]
    assert _positions(lake) == sorted(["LOAD00000001.csv:1", *(f"{cdc_name(s)}:1" for s in range(1, 6))])
    first_batch = read_table(lake.uri(CONTRACT.ref), where="_batch_id = 'r0'", columns=["_dms_file"])
    assert sorted(first_batch.column("_dms_file").to_pylist()) == sorted(
        ["LOAD00000001.csv", cdc_name(1), cdc_name(2)]
    )  # DMS order: the full load first, then CDC by name


def test_a_redelivered_file_is_not_read_again(tmp_path: Path) -> None:
    lake, landing = Lake(str(tmp_path / "lake")), tmp_path / "landing"
    rows = [["U", commit_ts(1), *customer(1, "a")]]
    write_file(landing, cdc_name(1), rows, cdc=True, mtime=NOW)
    assert _ingest(lake, landing, 0) == 1
    write_file(landing, cdc_name(1), rows, cdc=True, mtime=NOW + 30)  # same object again, new stamp
    assert _ingest(lake, landing, 1) == 0
    assert _positions(lake) == [f"{cdc_name(1)}:1"]


@st.composite
def deliveries(draw: st.DrawFn) -> list[tuple[str, int, bool]]:
    """(file, LastModified second, re-delivery?) in arrival order: a full load and CDC files, shuffled,
    stamped with one-second resolution, some older than files already landed, some landed twice."""
    names = ["LOAD00000001.csv", *(cdc_name(s) for s in range(draw(st.integers(3, 12))))]
    order = draw(st.permutations(names))
    out, second, landed = [], 0, []
    for name in order:
        second += draw(st.sampled_from([0, 0, 1]))
        out.append((name, second - draw(st.sampled_from([0, 0, 0, 2])), False))
        landed.append(name)
        if draw(st.booleans()) and draw(st.booleans()):
            out.append((draw(st.sampled_from(landed)), second + 1, True))
    return out


@settings(max_examples=40, derandomize=True, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    arrivals=deliveries(), batch=st.integers(1, 4), polls=st.lists(st.booleans(), min_size=30, max_size=30)
)
def test_random_deliveries_read_every_file_once_in_dms_order(
    arrivals: list[tuple[str, int, bool]], batch: int, polls: list[bool]
) -> None:
    """The discovery state round-trips through JSON between runs, as it does through the commit."""
    with tempfile.TemporaryDirectory() as folder:
        landing, state, read = Path(folder), None, []

        def run() -> None:
            nonlocal state
            processed = ProcessedFiles.from_json(state)
            listed = list_files(landing)
            chosen = processed.pending(listed)[:batch]
            assert chosen == sorted(chosen, key=dms_order)
            read.extend(f.name for f in chosen)
            state = json.loads(json.dumps(processed.after_reading(chosen, listed).to_json()))

        for index, (name, second, _) in enumerate(arrivals):
            is_cdc = name != "LOAD00000001.csv"
            row = (["U"] if is_cdc else []) + [commit_ts(0), *customer(1, name)]
            write_file(landing, name, [row], cdc=is_cdc, mtime=NOW + second)
            if polls[index % len(polls)]:
                run()
        for _ in range(len(arrivals)):
            run()
        assert sorted(read) == sorted({name for name, _, _ in arrivals})  # each file once, none lost

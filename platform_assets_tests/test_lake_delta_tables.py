"""The lake module on real Delta tables: partition replace, SCD1 merge, reads, history."""

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from platform_assets.lake import delta_tables as lake_io
from platform_assets.lake.location import Lake

D1, D2 = date(2026, 11, 1), date(2026, 11, 2)


def _rows(day: date, *values: str) -> pa.Table:
    return pa.table({"_proc_date": pa.array([day] * len(values), pa.date32()), "v": list(values)})


def test_locations_follow_root_layer_table() -> None:
    lake = Lake("s3://bucket/lake/", {"AWS_REGION": "us-east-1"})
    assert lake.uri("silver/fx_rates") == "s3://bucket/lake/silver/fx_rates"
    assert lake.quarantine_uri("silver/fx_rates") == "s3://bucket/lake/quarantine/silver_fx_rates"
    assert lake.is_remote and not Lake("/tmp/lake").is_remote


def test_replacing_a_partition_twice_does_not_duplicate(tmp_path: Path) -> None:
    uri = str(tmp_path / "t")
    lake_io.replace_partitions(uri, _rows(D1, "a", "b"), "_proc_date", [D1])
    lake_io.replace_partitions(uri, _rows(D2, "c"), "_proc_date", [D2])
    version = lake_io.replace_partitions(
        uri, _rows(D1, "a", "b"), "_proc_date", [D1], commit_metadata={"run_id": "r2"}
    )
    assert version == 2
    assert lake_io.read_table(uri, order_by=["v"]).column("v").to_pylist() == ["a", "b", "c"]
    assert lake_io.row_count(uri) == 3
    assert lake_io.row_count(uri, where="_proc_date = '2026-11-02'") == 1
    newest = lake_io.history(uri)[0]
    assert newest["run_id"] == "r2" and newest["operation"] == "WRITE"


def test_replace_adds_new_columns_and_refuses_rows_outside_its_partitions(tmp_path: Path) -> None:
    uri = str(tmp_path / "t")
    lake_io.replace_partitions(uri, _rows(D1, "a"), "_proc_date", [D1])
    drifted = _rows(D2, "b").append_column("new_field", pa.array(["x"]))
    lake_io.replace_partitions(uri, drifted, "_proc_date", [D2])
    rows = lake_io.read_table(uri, order_by=["v"]).to_pylist()
    assert [(r["v"], r["new_field"]) for r in rows] == [("a", None), ("b", "x")]
    with pytest.raises(ValueError, match=r"rows for partitions \['2026-11-02'\] outside"):
        lake_io.replace_partitions(uri, _rows(D2, "z"), "_proc_date", [D1])
    assert lake_io.row_count(uri) == 2  # nothing was written by the refused call


def test_an_empty_replace_clears_the_partition(tmp_path: Path) -> None:
    uri = str(tmp_path / "t")
    lake_io.replace_partitions(uri, _rows(D1, "a"), "_proc_date", [D1])
    lake_io.replace_partitions(uri, _rows(D1), "_proc_date", [D1])
    assert lake_io.row_count(uri) == 0


def test_merge_latest_keeps_the_highest_sequence_per_key(tmp_path: Path) -> None:
    uri = str(tmp_path / "m")
    first = pa.table({"k": [1, 2], "ts": [5, 5], "rev": [1, 1], "v": ["a", "b"]})
    assert lake_io.merge_latest(uri, first, ["k"], ["ts", "rev"])["num_target_rows_inserted"] == 2
    changes = pa.table(
        {"k": [1, 2, 3], "ts": [4, 5, 1], "rev": [9, 2, 1], "v": ["older", "newer-rev", "inserted"]}
    )
    lake_io.merge_latest(uri, changes, ["k"], ["ts", "rev"])
    lake_io.merge_latest(uri, changes, ["k"], ["ts", "rev"])  # the same batch again changes nothing
    rows = lake_io.read_table(uri, order_by=["k"]).to_pylist()
    assert [(r["k"], r["ts"], r["rev"], r["v"]) for r in rows] == [
        (1, 5, 1, "a"),  # ts 4 < 5: an older change never wins
        (2, 5, 2, "newer-rev"),  # same ts, higher revision wins
        (3, 1, 1, "inserted"),
    ]


def test_merge_refuses_a_source_with_duplicate_keys(tmp_path: Path) -> None:
    duplicated = pa.table({"k": [1, 1], "ts": [1, 2], "v": ["a", "b"]})
    with pytest.raises(ValueError, match="several rows for one key"):
        lake_io.merge_latest(str(tmp_path / "m"), duplicated, ["k"], ["ts"])


def test_reading_a_missing_table_names_it(tmp_path: Path) -> None:
    missing = str(tmp_path / "nothing")
    with pytest.raises(FileNotFoundError, match=f"no Delta table at {missing}"):
        lake_io.read_table(missing)
    assert lake_io.row_count(missing) == 0 and lake_io.history(missing) == []


def test_in_predicate_quotes_values() -> None:
    assert lake_io.in_predicate("d", [D2, D1, D1]) == "d IN ('2026-11-01', '2026-11-02')"
    assert lake_io.in_predicate("s", ["o'brien"]) == "s IN ('o''brien')"


def _append(uri: str, day: date, ingested_at: datetime, business: datetime, value: str) -> None:
    rows = pa.table(
        {
            "_proc_date": pa.array([day], pa.date32()),
            "_ingested_at": pa.array([ingested_at], pa.timestamp("us", tz="UTC")),
            "business": pa.array([business], pa.timestamp("us", tz="UTC")),
            "v": [value],
        }
    )
    write_deltalake(uri, rows, mode="append", partition_by=["_proc_date"])


def test_new_rows_are_found_by_file_statistics_whatever_their_ingestion_day(tmp_path: Path) -> None:
    """A run queued over midnight writes yesterday's partition with today's _ingested_at: pruning by the
    cursor's date would miss it, the file statistics (kept in milliseconds) do not."""
    uri = str(tmp_path / "bronze")
    cursor = datetime(2026, 11, 3, 0, 0, 1, 500_100, tzinfo=UTC)
    queued_at = cursor.replace(microsecond=500_400)  # the same millisecond as the cursor
    _append(uri, D1, datetime(2026, 11, 1, 9, tzinfo=UTC), datetime(2026, 11, 1, 8, tzinfo=UTC), "old")
    _append(uri, D2, cursor, datetime(2026, 11, 2, 8, tzinfo=UTC), "at the cursor")
    _append(uri, D2 - timedelta(days=1), queued_at, datetime(2026, 10, 31, 8, tzinfo=UTC), "queued")
    # the at-the-cursor file may hold later rows as far as its millisecond statistics tell
    assert lake_io.partitions_with_values_after(uri, "_proc_date", "_ingested_at", cursor) == [D1, D2]
    assert lake_io.dates_ingested_after(uri, "business", cursor) == ([date(2026, 10, 31)], queued_at)
    everything, newest = lake_io.dates_ingested_after(uri, "business", None)
    assert everything == [date(2026, 10, 31), date(2026, 11, 1), date(2026, 11, 2)] and newest == queued_at
    assert lake_io.dates_ingested_after(uri, "business", queued_at) == ([], None)

"""The lake module on real Delta tables: partition replace, SCD1 merge, reads, history."""

from datetime import date
from pathlib import Path

import pyarrow as pa
import pytest

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

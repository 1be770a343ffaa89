"""Source positions ride in the same Delta commit as the rows: a crash can lose or repeat neither."""

import subprocess
import sys
import textwrap
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from deltalake import DeltaTable

from platform_assets.lake.delta_tables import read_table, row_count
from platform_assets.lake.positions import append_with_positions, committed_offset, committed_positions


def _rows(*offsets: int) -> pa.Table:
    return pa.table({"offset": pa.array(offsets, pa.int64()), "value": [f"m{o}" for o in offsets]})


def test_offsets_and_watermarks_are_committed_with_the_rows(tmp_path: Path) -> None:
    uri = str(tmp_path / "t")
    assert committed_offset(uri, "orders-0") is None and committed_positions(uri) == {}
    append_with_positions(uri, _rows(0, 1, 2), offsets={"orders-0": 2}, positions={"salesforce": {"ts": "a"}})
    append_with_positions(uri, _rows(3), offsets={"orders-0": 3, "orders-1": 0}, positions={"snowflake": 5})
    assert committed_offset(uri, "orders-0") == 3 and committed_offset(uri, "orders-1") == 0
    # a later commit keeps the structured positions of the other sources
    assert committed_positions(uri) == {"salesforce": {"ts": "a"}, "snowflake": 5}
    assert row_count(uri) == 4


def test_a_position_never_moves_backwards(tmp_path: Path) -> None:
    uri = str(tmp_path / "t")
    append_with_positions(uri, _rows(0, 1), offsets={"orders-0": 1})
    with pytest.raises(ValueError, match="position orders-0=1 is not after the committed 1"):
        append_with_positions(uri, _rows(1), offsets={"orders-0": 1})
    assert row_count(uri) == 2


def test_a_crash_between_data_write_and_commit_loses_and_repeats_nothing(tmp_path: Path) -> None:
    """A writer dies after writing its data files into the table, before the log entry exists.

    delta-rs writes files and commits inside one call, so the crash is staged faithfully from the
    outside: a separate process writes the batch's Parquet file where a writer would, then exits hard.
    """
    uri = str(tmp_path / "t")
    append_with_positions(uri, _rows(0, 1), offsets={"orders-0": 1})
    crash = textwrap.dedent(
        f"""
        import os, pyarrow as pa, pyarrow.parquet as pq
        batch = pa.table({{"offset": pa.array([2, 3], pa.int64()), "value": ["m2", "m3"]}})
        pq.write_table(batch, os.path.join({uri!r}, "part-00000-crashed-writer.parquet"))
        os._exit(9)  # killed before committing rows and position to the log
        """
    )
    result = subprocess.run([sys.executable, "-c", crash], capture_output=True, text=True, timeout=120)
    assert result.returncode == 9, result.stderr[-2000:]
    assert (tmp_path / "t" / "part-00000-crashed-writer.parquet").exists()
    # the orphan file is not part of the table, and the position did not move
    assert committed_offset(uri, "orders-0") == 1 and row_count(uri) == 2
    # the retry resumes from the committed position: offsets 2 and 3 land exactly once
    resume_from = (committed_offset(uri, "orders-0") or 0) + 1
    append_with_positions(uri, _rows(*range(resume_from, 4)), offsets={"orders-0": 3})
    assert row_count(uri) == 4 and committed_offset(uri, "orders-0") == 3
    offsets = read_table(uri, columns=["offset"], order_by=["offset"]).column("offset").to_pylist()
    assert offsets == [0, 1, 2, 3]


def _commits_without_positions(uri: str, count: int) -> None:
    """Commits another tool makes (table maintenance, properties) that carry no positions."""

    for n in range(count):
        DeltaTable(uri).alter.set_table_properties({"delta.checkpointInterval": str(100 + n)})


def test_positions_do_not_depend_on_a_bounded_history_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from platform_assets.lake import positions

    monkeypatch.setattr(positions, "HISTORY_SCAN_LIMIT", 3, raising=False)  # was 1000
    uri = str(tmp_path / "t")
    append_with_positions(uri, _rows(0), positions={"salesforce": {"ts": "a"}})
    _commits_without_positions(uri, 5)
    assert committed_positions(uri) == {"salesforce": {"ts": "a"}}
    append_with_positions(uri, _rows(1), positions={"snowflake": 5})
    assert committed_positions(uri) == {"salesforce": {"ts": "a"}, "snowflake": 5}


def test_a_commit_fails_when_positions_moved_after_they_were_read(tmp_path: Path) -> None:
    from platform_assets.lake.positions import PositionConflict, read_positions

    uri = str(tmp_path / "t")
    append_with_positions(uri, _rows(0), offsets={"orders-0": 0})
    stale = read_positions(uri)
    append_with_positions(uri, _rows(1), positions={"dms": ["f1"]})  # another writer, after the read
    with pytest.raises(PositionConflict, match="another writer committed positions after version 0"):
        append_with_positions(uri, _rows(1), positions={"dms": ["f1"]}, read=stale)

    fresh = read_positions(uri)
    assert DeltaTable(uri).optimize.compact()["numFilesRemoved"] == 2  # maintenance does not conflict
    append_with_positions(uri, _rows(2), positions={"dms": ["f1", "f2"]}, read=fresh)
    assert row_count(uri) == 3 and committed_positions(uri) == {"dms": ["f1", "f2"]}


def test_appends_are_written_plain_and_snappy_with_their_statistics(tmp_path: Path) -> None:
    """Positioned appends skip dictionary encoding (about half the write time of an ingest batch) but
    keep snappy and the chunk and page statistics readers prune with."""
    uri = str(tmp_path / "t")
    append_with_positions(uri, _rows(*range(1000)), offsets={"orders-0": 999})
    (path,) = DeltaTable(uri).file_uris()
    parquet = pq.ParquetFile(path)
    for i in range(parquet.metadata.num_columns):
        chunk = parquet.metadata.row_group(0).column(i)
        assert not chunk.has_dictionary_page, chunk.path_in_schema
        assert not any("DICTIONARY" in e for e in chunk.encodings), (chunk.path_in_schema, chunk.encodings)
        assert chunk.compression == "SNAPPY"
        assert chunk.statistics is not None and chunk.statistics.has_min_max
        assert chunk.has_column_index, chunk.path_in_schema  # page statistics
    value = parquet.metadata.row_group(0).column(1).statistics
    assert (value.min, value.max) == ("m0", "m999")
    assert pa.table(DeltaTable(uri).get_add_actions(flatten=True)).column("num_records").to_pylist() == [1000]

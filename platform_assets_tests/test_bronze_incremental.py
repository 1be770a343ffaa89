"""The incremental bronze protocol: positions committed with the rows, dead letters once, crashes safe.

The source here is an ordered log of (offset, record) held in the test (the protocol under test is the
platform's; the real sources have their own tests). Every record is checked by its exact position.
"""

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from platform_assets.contracts.model import Contract
from platform_assets.lake.delta_tables import read_table, row_count
from platform_assets.lake.location import Lake
from platform_assets.lake.positions import committed_offset
from platform_assets.layers.bronze import incremental_asset as incremental
from platform_assets.layers.bronze.incremental_asset import ingest_increment
from platform_assets.layers.bronze.records import Batch
from platform_assets.sources.batch import Committed, SourceBatch

CONTRACT = Contract.model_validate(
    {
        "dataset": "bronze/order_events",
        "description": "order events",
        "owners": ["team:data-platform"],
        "domain": "sales",
        "schema": [
            {"name": "order_id", "type": "string", "nullable": False, "description": "order"},
            {"name": "quantity", "type": "long", "description": "units"},
            *[
                {"name": n, "type": t, "description": n, "nullable": False}
                for n, t in [
                    ("_proc_date", "date"),
                    ("_ingested_at", "timestamp"),
                    ("_source", "string"),
                    ("_batch_id", "string"),
                    ("_position", "string"),
                ]
            ],
        ],
        "partitioning": {"column": "_proc_date", "start": "2026-01-01"},
        "retention": {"days": 7},
    }
)
LOG = [
    {"order_id": "o1", "quantity": 1},
    {"order_id": "o2", "quantity": "two"},  # breaks the contract: dead letter
    {"order_id": "o3", "quantity": 3},
    {"order_id": "o4", "quantity": 4, "channel": "web"},  # a new field: additive drift
    {"order_id": "o5", "quantity": 5},
]
APP = "orders.events-0"


class Crash(RuntimeError):
    pass


def _reader(batch_size: int, acknowledged: list[int], crash_on_ack: bool = False):
    def read(committed: Committed) -> SourceBatch:
        start = (committed.offset_of(APP) if committed.offset_of(APP) is not None else -1) + 1
        chosen = list(enumerate(LOG))[start : start + batch_size]
        if not chosen:
            return SourceBatch(records=[])
        last = chosen[-1][0]

        def ack() -> None:
            if crash_on_ack:
                raise Crash("process died after the commit, before acknowledging the source")
            acknowledged.append(last)

        return SourceBatch(
            records=[(f"{APP}@{o}", r) for o, r in chosen], offsets={APP: last}, acknowledge=ack
        )

    return read


def _run(lake: Lake, read, n: int) -> None:
    meta = Batch(date(2026, 11, 1), datetime(2026, 11, 1, 12, tzinfo=UTC), "kafka:orders.events", f"run{n}")
    ingest_increment(lake, CONTRACT, meta, read)


def test_batches_resume_from_the_committed_offset_and_dead_letter_once(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    acknowledged: list[int] = []
    for n in range(4):  # 2 + 2 + 1 records, then nothing new
        _run(lake, _reader(2, acknowledged), n)
    rows = read_table(lake.uri(CONTRACT.ref), order_by=["_position"]).to_pylist()
    assert [(r["order_id"], r["quantity"], r["_position"]) for r in rows] == [
        ("o1", 1, f"{APP}@0"),
        ("o3", 3, f"{APP}@2"),
        ("o4", 4, f"{APP}@3"),
        ("o5", 5, f"{APP}@4"),
    ]
    assert rows[2]["channel"] == "web" and rows[0]["channel"] is None
    assert committed_offset(lake.uri(CONTRACT.ref), APP) == 4 and acknowledged == [1, 3, 4]
    dead = read_table(lake.uri("bronze/order_events_dlq")).to_pylist()
    assert [(d["_position"], d["_error"]) for d in dead] == [
        (f"{APP}@1", "bronze/order_events: field 'quantity': expected an integer, got 'two'")
    ]


def test_a_crash_after_the_commit_neither_loses_nor_repeats(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    acknowledged: list[int] = []
    with pytest.raises(Crash):
        _run(lake, _reader(3, acknowledged, crash_on_ack=True), 0)
    # the rows and the offset were committed together; the source was never told
    assert committed_offset(lake.uri(CONTRACT.ref), APP) == 2 and acknowledged == []
    _run(lake, _reader(3, acknowledged), 1)  # the retry starts after the stored offset
    _run(lake, _reader(3, acknowledged), 2)
    assert row_count(lake.uri(CONTRACT.ref)) == 4
    assert row_count(lake.uri("bronze/order_events_dlq")) == 1
    assert acknowledged == [4]


def test_a_crash_before_the_commit_is_retried_without_duplicate_dead_letters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process dies after the dead letters were written, before the rows and offset commit."""
    lake = Lake(str(tmp_path))
    acknowledged: list[int] = []
    real_append = incremental.append_with_positions

    def dies_at_the_bronze_commit(uri: str, *args, **kwargs) -> int:
        if uri == lake.uri(CONTRACT.ref):
            raise Crash("process died before the bronze commit")
        return real_append(uri, *args, **kwargs)

    monkeypatch.setattr(incremental, "append_with_positions", dies_at_the_bronze_commit)
    with pytest.raises(Crash):
        _run(lake, _reader(3, acknowledged), 0)
    assert row_count(lake.uri(CONTRACT.ref)) == 0 and acknowledged == []
    assert row_count(lake.uri("bronze/order_events_dlq")) == 1
    monkeypatch.setattr(incremental, "append_with_positions", real_append)
    _run(lake, _reader(3, acknowledged), 1)  # same batch again: rows once, its dead letter not repeated
    assert row_count(lake.uri(CONTRACT.ref)) == 2 and acknowledged == [2]
    assert row_count(lake.uri("bronze/order_events_dlq")) == 1


def test_a_crash_between_the_dead_letters_and_the_rows_dead_letters_once_when_more_has_arrived(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The retry reads a bigger batch than the crashed attempt (more arrived): its dead letter,
    already in the DLQ, is identified by its position and not written again."""
    lake = Lake(str(tmp_path))
    acknowledged: list[int] = []
    real_append = incremental.append_with_positions

    def dies_at_the_bronze_commit(uri: str, *args, **kwargs) -> int:
        if uri == lake.uri(CONTRACT.ref):
            raise Crash("process died between the DLQ commit and the bronze commit")
        return real_append(uri, *args, **kwargs)

    monkeypatch.setattr(incremental, "append_with_positions", dies_at_the_bronze_commit)
    with pytest.raises(Crash):
        _run(lake, _reader(2, acknowledged), 0)  # o1 and the dead letter o2
    monkeypatch.setattr(incremental, "append_with_positions", real_append)
    _run(lake, _reader(5, acknowledged), 1)  # the whole log this time
    assert row_count(lake.uri(CONTRACT.ref)) == 4 and acknowledged == [4]
    dead = read_table(lake.uri("bronze/order_events_dlq"), columns=["_position"]).to_pylist()
    assert dead == [{"_position": f"{APP}@1"}]


def test_a_run_that_loses_a_commit_race_reads_again_and_commits_in_ingested_at_order(
    tmp_path: Path,
) -> None:
    """Run A stamped its batch first but commits second: it lost the race to run B, read again from
    B's offset, and its rows carry a later ``_ingested_at`` than B's (downstream cursors rely on it)."""
    lake = Lake(str(tmp_path))
    acknowledged: list[int] = []
    plain = _reader(5, acknowledged)
    calls: list[int] = []

    def read_while_b_commits(committed: Committed) -> SourceBatch:
        if not calls:  # A has read the positions; B commits offsets 0-1 before A can
            calls.append(1)
            meta_b = Batch(date(2026, 11, 1), datetime.now(UTC), "kafka:orders.events", "run-b")
            ingest_increment(lake, CONTRACT, meta_b, _reader(2, acknowledged))
        return plain(committed)

    meta_a = Batch(date(2026, 11, 1), datetime(2026, 11, 1, 12, tzinfo=UTC), "kafka:orders.events", "run-a")
    ingest_increment(lake, CONTRACT, meta_a, read_while_b_commits)
    rows = read_table(lake.uri(CONTRACT.ref), columns=["_position", "_batch_id", "_ingested_at"]).to_pylist()
    batches = {r["_position"]: r["_batch_id"] for r in rows}
    assert batches == {f"{APP}@0": "run-b", f"{APP}@2": "run-a", f"{APP}@3": "run-a", f"{APP}@4": "run-a"}
    b_time = max(r["_ingested_at"] for r in rows if r["_batch_id"] == "run-b")
    assert all(r["_ingested_at"] > b_time for r in rows if r["_batch_id"] == "run-a")
    assert acknowledged == [1, 4] and row_count(lake.uri("bronze/order_events_dlq")) == 1

"""A run drains a backlog in bounded commits, each batch read and typed while the one before is written.

``ingest_batches`` keeps the exactly-once protocol of ``test_bronze_incremental.py`` per commit; here:
the batches follow each other without gaps or repeats, the next one really is read while the previous
commit is in flight, a writer that commits between two batches makes the next one be read again, a
failed commit stops the run after the commits already made, the budget and a breaking type change
end a run, and the Kafka reader says when its bound held more (a real broker).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from platform_assets.contracts import load_contracts
from platform_assets.lake.delta_tables import open_table, read_table, row_count
from platform_assets.lake.location import Lake
from platform_assets.lake.positions import committed_offset
from platform_assets.layers.bronze import incremental_asset as incremental
from platform_assets.layers.bronze.incremental_asset import ingest_batches, ingest_increment
from platform_assets.layers.bronze.records import Batch
from platform_assets.sources.batch import Committed, SourceBatch
from platform_assets.sources.kafka.reader import KafkaTopic, read_batch
from platform_assets_tests.test_bronze_incremental import APP, CONTRACT, LOG, Crash
from sandbox.generator.order_stream import generate_order_events
from sandbox.services.kafka_broker import KafkaBroker
from sandbox.services.order_producer import produce_order_events

Reader = Callable[[Committed], SourceBatch]


def _meta(run: str) -> Batch:
    return Batch(date(2026, 11, 1), datetime.now(UTC), "kafka:orders.events", run)


def _reader(batch_size: int, reads: list[int], acknowledged: list[int]) -> Reader:
    """The test log after the committed offset, ``batch_size`` at a time; ``more`` while some is left.
    ``reads`` records the first offset of every read."""

    def read(committed: Committed) -> SourceBatch:
        stored = committed.offset_of(APP)
        start = 0 if stored is None else stored + 1
        reads.append(start)
        chosen = list(enumerate(LOG))[start : start + batch_size]
        if not chosen:
            return SourceBatch(records=[])
        last = chosen[-1][0]
        return SourceBatch(
            records=[(f"{APP}@{o}", r) for o, r in chosen],
            offsets={APP: last},
            acknowledge=lambda: acknowledged.append(last),
            more=last + 1 < len(LOG),
        )

    return read


def _ingest(lake: Lake, run: str, read: Reader, max_batches: int = 10) -> list[tuple[SourceBatch, Any, int]]:
    """``ingest_batches``, keeping every committed batch (as ``on_commit`` hands it over)."""
    landed: list[tuple[SourceBatch, Any, int]] = []
    commits = ingest_batches(lake, CONTRACT, _meta(run), read, max_batches, lambda *b: landed.append(b))
    assert commits == len(landed)
    return landed


def _bronze(lake: Lake) -> list[tuple[str, str]]:
    rows = read_table(lake.uri(CONTRACT.ref), columns=["_position", "_batch_id"], order_by=["_position"])
    return [(r["_position"], r["_batch_id"]) for r in rows.to_pylist()]


def _dead(lake: Lake) -> list[str]:
    return [r["_position"] for r in read_table(lake.uri("bronze/order_events_dlq")).to_pylist()]


def test_a_backlog_lands_in_bounded_commits_in_one_run_each_record_once(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    reads: list[int] = []
    acknowledged: list[int] = []
    done = _ingest(lake, "run-1", _reader(2, reads, acknowledged))
    # 2 + 2 + 1 records: three commits, each after the offset the one before left, nothing read twice
    assert reads == [0, 2, 4] and len(done) == 3
    assert [c.row_count for _, c, _ in done] == [1, 2, 1] and [d for _, _, d in done] == [1, 0, 0]
    assert _bronze(lake) == [(f"{APP}@{o}", "run-1") for o in (0, 2, 3, 4)]
    assert _dead(lake) == [f"{APP}@1"]
    table = open_table(lake.uri(CONTRACT.ref))
    assert table is not None and table.version() == 2  # one commit per batch
    assert committed_offset(lake.uri(CONTRACT.ref), APP) == 4
    assert acknowledged == [4]  # once, after the last commit: it covers the ones before


def test_the_next_batch_is_read_while_the_previous_commit_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first bronze commit waits until the second batch has been read: that can only happen if
    reading and typing overlap the commit (sequentially, the wait would time out)."""
    lake = Lake(str(tmp_path))
    reads: list[int] = []
    second_read = threading.Event()
    overlapped: list[bool] = []
    plain = _reader(2, reads, [])

    def read(committed: Committed) -> SourceBatch:
        batch = plain(committed)
        if len(reads) == 2:
            second_read.set()
        return batch

    real_append = incremental.append_with_positions

    def slow_first_commit(uri: str, *args, **kwargs) -> int:
        if uri == lake.uri(CONTRACT.ref) and not overlapped:
            overlapped.append(second_read.wait(timeout=30))
        return real_append(uri, *args, **kwargs)

    monkeypatch.setattr(incremental, "append_with_positions", slow_first_commit)
    _ingest(lake, "run-1", read)
    assert overlapped == [True] and reads == [0, 2, 4]
    assert [p for p, _ in _bronze(lake)] == [f"{APP}@{o}" for o in (0, 2, 3, 4)]


def test_a_writer_committing_between_two_batches_makes_the_next_batch_read_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run B commits offsets 2-3 right after run A's first commit, while A has already read 2-3 as its
    next batch: A drops that batch, reads again after B's offset, and every record lands once."""
    lake = Lake(str(tmp_path))
    reads: list[int] = []
    real_append = incremental.append_with_positions
    b_done: list[int] = []

    def then_b_commits(uri: str, *args, **kwargs) -> int:
        version = real_append(uri, *args, **kwargs)
        if uri == lake.uri(CONTRACT.ref) and not b_done:
            b_done.append(version)
            ingest_increment(lake, CONTRACT, _meta("run-b"), _reader(2, [], []))
        return version

    monkeypatch.setattr(incremental, "append_with_positions", then_b_commits)
    done = _ingest(lake, "run-a", _reader(2, reads, []))
    assert reads == [0, 2, 4]  # 2 was read in the pipeline, dropped, and the run went on after B's 3
    assert len(done) == 2
    assert _bronze(lake) == [
        (f"{APP}@0", "run-a"),
        (f"{APP}@2", "run-b"),
        (f"{APP}@3", "run-b"),
        (f"{APP}@4", "run-a"),
    ]
    assert _dead(lake) == [f"{APP}@1"] and committed_offset(lake.uri(CONTRACT.ref), APP) == 4


def test_a_failed_commit_stops_the_run_after_the_commits_already_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lake = Lake(str(tmp_path))
    real_append = incremental.append_with_positions
    bronze_commits: list[str] = []

    def dies_at_the_second_commit(uri: str, *args, **kwargs) -> int:
        if uri == lake.uri(CONTRACT.ref):
            bronze_commits.append(uri)
            if len(bronze_commits) == 2:
                raise Crash("process died at the second bronze commit")
        return real_append(uri, *args, **kwargs)

    monkeypatch.setattr(incremental, "append_with_positions", dies_at_the_second_commit)
    with pytest.raises(Crash):
        _ingest(lake, "run-1", _reader(2, [], []))
    assert [p for p, _ in _bronze(lake)] == [f"{APP}@0"]
    assert committed_offset(lake.uri(CONTRACT.ref), APP) == 1
    monkeypatch.setattr(incremental, "append_with_positions", real_append)
    reads: list[int] = []
    _ingest(lake, "run-2", _reader(2, reads, []))
    assert reads == [2, 4]  # the retry starts after the last commit made
    assert _bronze(lake) == [(f"{APP}@0", "run-1")] + [(f"{APP}@{o}", "run-2") for o in (2, 3, 4)]
    assert _dead(lake) == [f"{APP}@1"]


def test_the_budget_ends_a_run_and_the_next_run_goes_on(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path))
    reads: list[int] = []
    assert len(_ingest(lake, "run-1", _reader(1, reads, []), max_batches=2)) == 2
    assert reads == [0, 1] and committed_offset(lake.uri(CONTRACT.ref), APP) == 1
    _ingest(lake, "run-2", _reader(1, reads, []), max_batches=2)
    assert reads == [0, 1, 2, 3] and committed_offset(lake.uri(CONTRACT.ref), APP) == 3
    assert row_count(lake.uri(CONTRACT.ref)) == 3 and _dead(lake) == [f"{APP}@1"]  # o1, o3, o4


def test_a_breaking_type_change_ends_the_run_at_its_batch(tmp_path: Path) -> None:
    """Every record of the first batch sends ``quantity`` as text: the run stops after committing that
    batch (its records are in the DLQ), so the asset fails on it before reading on."""
    lake = Lake(str(tmp_path))
    changed = [{"order_id": f"c{i}", "quantity": f"{i} units"} for i in range(3)] + LOG
    reads: list[int] = []

    def read(committed: Committed) -> SourceBatch:
        stored = committed.offset_of(APP)
        start = 0 if stored is None else stored + 1
        reads.append(start)
        chosen = list(enumerate(changed))[start : start + 3]
        return SourceBatch(
            records=[(f"{APP}@{o}", r) for o, r in chosen],
            offsets={APP: chosen[-1][0]},
            more=chosen[-1][0] + 1 < len(changed),
        )

    done = _ingest(lake, "run-1", read)
    assert reads == [0] and len(done) == 1 and done[0][1].breaking_fields() == ["quantity"]
    assert _dead(lake) == [f"{APP}@{o}" for o in range(3)]


@pytest.fixture(scope="module")
def broker() -> Iterator[KafkaBroker]:
    with KafkaBroker() as running:
        yield running


def test_a_kafka_backlog_beyond_the_batch_bound_lands_in_one_run(broker: KafkaBroker, tmp_path: Path) -> None:
    """The sandbox stream (248 messages) on a real broker, read 20 messages per partition and batch: one
    run commits as many batches as the fullest partition needs, every valid message lands once and
    every bad one is dead-lettered once; a budget of 2 batches stops at 40 messages per partition."""
    topic = "orders.backlog"
    broker.create_topic(topic)
    dataset = generate_order_events()
    counts = produce_order_events(broker.bootstrap_servers, topic, dataset, security=broker.security)
    bounded = KafkaTopic(broker.bootstrap_servers, topic, "bronze-backlog", 20, security=broker.security)
    contract = load_contracts()["bronze/order_events"]
    app = {p: f"{topic}-{p}" for p in counts}

    budgeted = Lake(str(tmp_path / "budget"))
    assert ingest_batches(budgeted, contract, _meta("run-1"), lambda c: read_batch(bounded, c), 2) == 2
    stored = {p: committed_offset(budgeted.uri(contract.ref), app[p]) for p in counts}
    assert stored == {p: min(n, 40) - 1 for p, n in counts.items()}

    lake = Lake(str(tmp_path / "drained"))
    more: list[bool] = []
    commits = ingest_batches(
        lake,
        contract,
        _meta("run-1"),
        lambda c: read_batch(bounded, c),
        100,
        lambda b, *_: more.append(b.more),
    )
    assert commits == -(-max(counts.values()) // 20) > 2
    assert more == [True] * (commits - 1) + [False]
    assert {p: committed_offset(lake.uri(contract.ref), app[p]) for p in counts} == {
        p: n - 1 for p, n in counts.items()
    }
    valid = sum(m.valid for m in dataset.messages)
    positions = read_table(lake.uri(contract.ref), columns=["_position"]).column("_position").to_pylist()
    dead = read_table(lake.uri("bronze/order_events_dlq"), columns=["_position"]).column("_position")
    assert len(positions) == len(set(positions)) == valid
    assert len(dead) == len(set(dead.to_pylist())) == len(dataset.messages) - valid

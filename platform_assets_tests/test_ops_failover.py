"""Fault test: the primary lake is lost mid-ingestion; fail over to the DR replica and resume.

The order stream (sandbox generator, planted defects included) is ingested into bronze in chunks, as the
Kafka asset does (offsets committed with the rows); the source keeps every message (Kafka retention).
After the primary folder is deleted, ingestion continues on the replica from the offsets the replica
holds: every valid message ends up in bronze exactly once, every invalid one in the DLQ once.
"""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from platform_assets.contracts import load_contracts
from platform_assets.lake.delta_tables import read_table
from platform_assets.lake.location import Lake
from platform_assets.layers.bronze.incremental_asset import ingest_increment
from platform_assets.layers.bronze.records import Batch
from platform_assets.operations.dr import replicate_lake
from platform_assets.sources.batch import Committed, SourceBatch
from platform_assets.sources.kafka.reader import app_id, parse_message, position_label
from sandbox.generator.order_stream import generate_order_events

TOPIC, CHUNK = "orders.events", 40


def _ingest_next(lake: Lake, messages: list) -> int:
    """One bronze run: the messages after the committed offset, at most CHUNK; returns how many."""
    contract = load_contracts()["bronze/order_events"]
    count = 0

    def read(committed: Committed) -> SourceBatch:
        nonlocal count
        stored = committed.offset_of(app_id(TOPIC, 0))
        first = 0 if stored is None or stored < 0 else stored + 1
        chunk = messages[first : first + CHUNK]
        count = len(chunk)
        records = [
            (position_label(TOPIC, 0, m.position), parse_message(TOPIC, 0, m.position, m.key, m.value))
            for m in chunk
        ]
        offsets = {app_id(TOPIC, 0): first + len(chunk) - 1} if chunk else {}
        return SourceBatch(records=records, offsets=offsets)

    now = datetime.now(UTC)
    ingest_increment(
        lake, contract, Batch(now.date(), now, f"kafka:{TOPIC}", f"test:{now.isoformat()}"), read
    )
    return count


def test_failover_to_the_replica_resumes_without_loss_or_duplicates(tmp_path: Path) -> None:
    dataset = generate_order_events(seed=7, days=3, scale=1)
    messages = dataset.messages
    assert [m.position for m in messages] == list(range(len(messages)))
    primary = Lake(str(tmp_path / "primary"))
    replica_root = str(tmp_path / "replica")
    for _ in range(3):
        assert _ingest_next(primary, messages) == CHUNK
    replicate_lake(primary.root, replica_root)
    for _ in range(2):  # committed on the primary only: lost with it
        assert _ingest_next(primary, messages) == CHUNK

    shutil.rmtree(primary.root)  # the primary lake is gone
    replica = Lake(replica_root)  # fail over: PLATFORM_LAKE_ROOT=<replica root>
    while _ingest_next(replica, messages):
        pass

    events = (
        read_table(replica.uri("bronze/order_events"), columns=["event_id"]).column("event_id").to_pylist()
    )
    expected = [m.event["event_id"] for m in messages if m.valid]
    assert Counter(events) == Counter(expected)  # each valid message exactly once
    dead = read_table(f"{replica_root}/bronze/order_events_dlq", columns=["_position"]).column("_position")
    invalid = [position_label(TOPIC, 0, m.position) for m in messages if not m.valid]
    assert sorted(dead.to_pylist()) == sorted(invalid)


def test_restore_all_to_a_time_then_ingestion_resumes_without_loss_or_duplicates(tmp_path: Path) -> None:
    """`platform restore --all --to-time T`: bronze and its DLQ go back to T with their offsets."""
    import time

    from platform_assets.operations.restore import restore_all

    messages = generate_order_events(seed=7, days=3, scale=1).messages
    lake = Lake(str(tmp_path / "lake"))
    for _ in range(3):
        assert _ingest_next(lake, messages) == CHUNK
    time.sleep(0.05)
    cutoff = datetime.now(UTC)
    time.sleep(0.05)
    for _ in range(2):  # written after T: undone by the restore, read again from the source after it
        assert _ingest_next(lake, messages) == CHUNK

    outcomes = {o.table: o for o in restore_all(lake.root, cutoff)}
    assert outcomes["bronze/order_events"].positions_reset == {app_id(TOPIC, 0): 3 * CHUNK - 1}
    while _ingest_next(lake, messages):
        pass

    events = read_table(lake.uri("bronze/order_events"), columns=["event_id"]).column("event_id").to_pylist()
    assert Counter(events) == Counter(m.event["event_id"] for m in messages if m.valid)
    dead = read_table(f"{lake.root}/bronze/order_events_dlq", columns=["_position"]).column("_position")
    assert sorted(dead.to_pylist()) == sorted(
        position_label(TOPIC, 0, m.position) for m in messages if not m.valid
    )

"""Two real processes ingest or replay into the same lake at the same moment: each change lands once.

Each worker reads the committed positions, then waits at a barrier until the other has read them too,
so both work from the same snapshot and race to commit (the case two CLI materializations or two
queued runs of the same bronze table hit). The commit is conditional on the positions read: one wins,
the other re-reads from the winner's positions and finds nothing left.
"""

from __future__ import annotations

import multiprocessing
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from platform_assets.contracts import load_contracts
from platform_assets.lake.audit_log import audit_uri
from platform_assets.lake.delta_tables import read_table, row_count
from platform_assets.lake.location import Lake
from platform_assets.lake.positions import committed_offset
from platform_assets.layers.bronze.incremental_asset import ingest_increment
from platform_assets.layers.bronze.records import Batch
from platform_assets.sources.batch import Committed, SourceBatch
from platform_assets_tests.dms_files import cdc_name, commit_ts, customer, write_file

DATASET = "bronze/rds_customers_cdc"
CHANGES = 80
APP = "orders.events-0"
NOW = 1_800_000_000


def _once_at(barrier: Any) -> Any:
    """Wait at the barrier the first time only (a retry after a lost race must not wait)."""
    waited = []

    def wait() -> None:
        if not waited:
            waited.append(True)
            barrier.wait(timeout=60)

    return wait


def _ingest_worker(kind: str, lake_root: str, landing: str, barrier: Any, results: Any) -> None:
    from platform_assets.layers.bronze import rds_customers

    contract = load_contracts()[DATASET]
    wait = _once_at(barrier)

    def read(committed: Committed) -> SourceBatch:
        if kind == "files":
            batch = rds_customers.read_dms_batch(Path(landing), committed)
        else:  # integer offsets, as Kafka's
            start = (committed.offset_of(APP) if committed.offset_of(APP) is not None else -1) + 1
            changes = [(o, ["I", commit_ts(o), *customer(o, f"n{o}")]) for o in range(start, CHANGES)]
            batch = SourceBatch(
                records=[(f"{APP}@{o}", _record(row)) for o, row in changes],
                offsets={APP: CHANGES - 1} if changes else {},
            )
        wait()
        return batch

    meta = Batch(
        date(2026, 11, 2), datetime.now(UTC), "test", f"worker-{multiprocessing.current_process().pid}"
    )
    _, conformed, _ = ingest_increment(Lake(lake_root), contract, meta, read)
    results.put(len(conformed.rows))


def _record(row: list[str]) -> dict[str, Any]:
    from platform_assets_tests.dms_files import VALUES

    values = dict(zip(VALUES, row[2:], strict=True))
    return {**values, "Op": row[0], "_dms_commit_ts": row[1], "_dms_file": "kafka", "_dms_row": 1}


def _race(target: Any, *args: Any) -> list[Any]:
    spawn = multiprocessing.get_context("spawn")  # no fork of delta-rs' runtime threads
    barrier, results = spawn.Barrier(2), spawn.Queue()
    workers = [spawn.Process(target=target, args=(*args, barrier, results)) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=180)
    assert [w.exitcode for w in workers] == [0, 0]
    return sorted(results.get(timeout=5) for _ in workers)


def test_two_processes_ingesting_the_same_dms_files_append_each_change_once(tmp_path: Path) -> None:
    landing, lake = tmp_path / "landing", Lake(str(tmp_path / "lake"))
    seed = write_file(landing, "LOAD00000001.csv", [[commit_ts(0), *customer(999, "seed")]], cdc=False)
    _ingest_in_this_process(lake, landing)  # the table exists: the race is between two appends
    for s in range(CHANGES // 10):
        rows = [["I", commit_ts(s), *customer(10 * s + i, f"n{i}")] for i in range(10)]
        write_file(landing, cdc_name(s), rows, cdc=True, mtime=NOW + s)
    assert _race(_ingest_worker, "files", lake.root, str(landing)) == [0, CHANGES]
    uri = lake.uri(DATASET)
    assert row_count(uri) == CHANGES + 1 and seed.exists()
    positions = read_table(uri, columns=["_position"]).column("_position").to_pylist()
    assert len(set(positions)) == CHANGES + 1


def _ingest_in_this_process(lake: Lake, landing: Path) -> None:
    from platform_assets.layers.bronze import rds_customers

    meta = Batch(date(2026, 11, 2), datetime.now(UTC), "test", "seed")
    ingest_increment(
        lake, load_contracts()[DATASET], meta, lambda c: rds_customers.read_dms_batch(landing, c)
    )


def test_two_processes_ingesting_the_same_offsets_append_each_message_once(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    assert _race(_ingest_worker, "offsets", lake.root, "") == [0, CHANGES]
    assert row_count(lake.uri(DATASET)) == CHANGES and committed_offset(lake.uri(DATASET), APP) == CHANGES - 1


def _replay_worker(lake_root: str, barrier: Any, results: Any) -> None:
    from platform_assets.layers.bronze import dlq_replay

    wait = _once_at(barrier)
    real = dlq_replay.conform_records

    def conform_then_wait(*args: Any, **kwargs: Any) -> Any:
        conformed = real(*args, **kwargs)
        wait()  # both replays have decided what is pending
        return conformed

    dlq_replay.conform_records = conform_then_wait
    outcome = dlq_replay.replay_dead_letters(Lake(lake_root), load_contracts()[DATASET])
    results.put(outcome.replayed)


def test_two_concurrent_replays_replay_each_dead_letter_once(tmp_path: Path) -> None:
    lake = Lake(str(tmp_path / "lake"))
    _dead_letters(lake, 5)
    assert _race(_replay_worker, lake.root) == [0, 5]
    assert row_count(lake.uri(DATASET)) == 5
    # the replay that committed audited its write; the one that lost the race and found nothing did not
    audit = read_table(audit_uri(lake), where="action = 'materialize'", columns=["datasets", "row_count"])
    assert audit.to_pylist() == [{"datasets": [DATASET], "row_count": 5}]


def _dead_letters(lake: Lake, count: int) -> None:
    """``count`` DMS changes in the DLQ that the contract accepts (as after a contract fix)."""
    import json

    from deltalake import write_deltalake

    raws = [json.dumps(_record(["U", commit_ts(i), *customer(i, f"r{i}")])) for i in range(count)]
    write_deltalake(
        lake.uri(f"{DATASET}_dlq"),
        pa.table(
            {
                "_dataset": [DATASET] * count,
                "_position": [f"{cdc_name(i)}:1" for i in range(count)],
                "_error": ["field 'customer_id': expected an integer"] * count,
                "_raw": raws,
                "_proc_date": pa.array([date(2026, 11, 2)] * count, pa.date32()),
            }
        ),
        partition_by=["_proc_date"],
    )


def test_replay_state_outlives_any_number_of_commits(tmp_path: Path, monkeypatch: Any) -> None:
    from deltalake import DeltaTable

    from platform_assets.lake import positions
    from platform_assets.layers.bronze.dlq_replay import replay_dead_letters

    monkeypatch.setattr(positions, "HISTORY_SCAN_LIMIT", 3, raising=False)  # was 1000
    lake, contract = Lake(str(tmp_path / "lake")), load_contracts()[DATASET]
    _dead_letters(lake, 5)
    assert replay_dead_letters(lake, contract).replayed == 5
    for n in range(5):  # maintenance commits after the replay
        DeltaTable(lake.uri(DATASET)).alter.set_table_properties({"delta.checkpointInterval": str(100 + n)})
    again = replay_dead_letters(lake, contract)
    assert (again.replayed, again.already_replayed) == (0, 5)
    assert row_count(lake.uri(DATASET)) == 5

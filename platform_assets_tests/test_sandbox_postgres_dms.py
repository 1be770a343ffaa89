"""RDS PostgreSQL via DMS, end to end: a real PostgreSQL, the DMS-like task, and the platform's reader."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from platform_assets.layers.bronze import rds_customers
from platform_assets.sources.batch import Committed
from platform_assets.sources.dms import DmsFile, DmsFileError, ProcessedFiles, list_new_files, read_changes
from platform_assets.sources.dms.s3_store import S3FileStore
from sandbox.generator.customers import (
    ChangeBatch,
    Customer,
    CustomersDataset,
    apply_batch,
    generate_customers,
    load_initial,
)
from sandbox.services.dms_task import DmsTask
from sandbox.services.postgres import CUSTOMERS_PUBLICATION, PostgresServer
from sandbox.services.seaweedfs import SeaweedS3

TABLE_DIR = Path("public") / "customers"
META = ("op", "commit_ts", "_file", "_row")


@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


@pytest.fixture
def dataset(pg: PostgresServer) -> Iterator[CustomersDataset]:
    """An empty customers table, then the generator's initial population (slots dropped afterwards)."""
    conn = psycopg2.connect(pg.dsn)
    with conn, conn.cursor() as cur:
        cur.execute("TRUNCATE public.customers")
    data = generate_customers(seed=11, scale=1, batches=4)
    load_initial(conn, data)
    yield data
    conn.close()
    _drop_slots(pg)


def _drop_slots(pg: PostgresServer) -> None:
    with psycopg2.connect(pg.dsn) as conn, conn.cursor() as cur:
        deadline = time.monotonic() + 10
        while True:
            cur.execute("SELECT slot_name, active FROM pg_replication_slots")
            slots = cur.fetchall()
            if not slots:
                return
            for name, active in slots:
                if not active:
                    cur.execute("SELECT pg_drop_replication_slot(%s)", (name,))
            if time.monotonic() > deadline:
                raise AssertionError(f"replication slots still active: {slots}")
            time.sleep(0.05)  # a closed walsender takes a moment to release its slot


def _apply(pg: PostgresServer, batch: ChangeBatch) -> None:
    with contextlib.closing(psycopg2.connect(pg.dsn)) as conn:
        apply_batch(conn, batch)


def _columns(record: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in record.items() if k not in META}


def _expected(batch: ChangeBatch) -> list[tuple[str, dict[str, str | None]]]:
    return [(c.op, c.image.as_text()) for c in batch.changes]


def _got(records: list[dict[str, object]]) -> list[tuple[object, dict[str, object]]]:
    return [(r["op"], _columns(r)) for r in records]


def _read_files(files: list[DmsFile]) -> list[dict[str, object]]:
    return [record for f in files for record in read_changes(f)]


def _as_text(state: dict[int, Customer]) -> dict[str, dict[str, str | None]]:
    return {str(k): v.as_text() for k, v in state.items()}


def test_server_starts_and_stops_leaving_nothing() -> None:
    server = PostgresServer(create_shop=False)
    server.start()
    base, pid, dsn = server.base_dir, server.postmaster_pid, server.dsn_for("postgres")
    assert base is not None and pid is not None
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SHOW wal_level")
        assert cur.fetchone() == ("logical",)
    server.stop()
    assert not base.exists()
    assert not server.is_running()
    with pytest.raises(psycopg2.OperationalError):
        psycopg2.connect(dsn, connect_timeout=2)
    # The postmaster is gone (a zombie awaiting its reaper counts as gone: it holds no resources).
    status = Path(f"/proc/{pid}/status")
    assert not status.exists() or "State:\tZ" in status.read_text()


def test_full_load_and_cdc_give_each_batch_in_commit_order(
    pg: PostgresServer, dataset: CustomersDataset, tmp_path: Path
) -> None:
    task = DmsTask(pg.dsn, "dms_e2e", CUSTOMERS_PUBLICATION, tmp_path)
    first, *later = dataset.batches
    # Batch 1 commits after the slot exists but before the copy: it must be in CDC only, not in the load.
    load_files = task.full_load(on_slot_created=lambda: _apply(pg, first))
    assert [p.relative_to(tmp_path) for p in load_files] == [TABLE_DIR / "LOAD00000001.csv"]
    prefix = tmp_path / TABLE_DIR

    listed = list_new_files(prefix)
    assert [f.name for f in listed] == ["LOAD00000001.csv"] and listed[0].is_full_load
    load_rows = read_changes(listed[0])
    assert {r["op"] for r in load_rows} == {"I"}
    assert {r["customer_id"]: _columns(r) for r in load_rows} == _as_text(dataset.state_after(0))
    processed = ProcessedFiles().after_reading(listed, listed)

    per_batch: list[list[dict[str, object]]] = []
    try:
        for batch in dataset.batches:
            if batch is not first:
                _apply(pg, batch)
            written = task.poll(timeout_seconds=10)
            assert len(written) == 1, f"batch {batch.number}: expected one CDC file, got {written}"
            new = list_new_files(prefix, processed)
            assert [f.name for f in new] == [written[0].name]
            processed = processed.after_reading(new, new)
            records = _read_files(new)
            assert _got(records) == _expected(batch), f"batch {batch.number} differs from the generator"
            per_batch.append(records)
        assert task.poll(timeout_seconds=1) == []  # nothing new: no file
    finally:
        task.close()

    # One transaction per batch: one commit timestamp per file, non-decreasing across the stream.
    stamps = [load_rows[0]["commit_ts"]]
    for number, records in enumerate(per_batch, start=1):
        assert len({r["commit_ts"] for r in records}) == 1, f"batch {number} spans several commit timestamps"
        stamps.append(records[0]["commit_ts"])
    assert stamps == sorted(stamps) and len(set(stamps[1:])) == len(later) + 1

    # The planted scenarios arrive as DMS writes them.
    batch2 = [(r["op"], r["customer_id"]) for r in per_batch[1]]
    reinserted = next(s for s in dataset.batches[1].manifest.scenarios if s.startswith("delete_reinsert"))
    key = reinserted.split(":")[1]
    assert batch2[:2] == [("D", key), ("I", key)]
    multi = next(s for s in dataset.batches[2].manifest.scenarios if s.startswith("multi_update")).split(":")[
        1
    ]
    assert [op for op, k in ((r["op"], r["customer_id"]) for r in per_batch[2]) if k == multi] == ["U"] * 3
    null_and_empty = next(
        r for r in per_batch[2] if r["op"] == "U" and r["phone"] is None and r["address"] == ""
    )
    assert null_and_empty["customer_id"] in {s.split(":")[1] for s in dataset.batches[2].manifest.scenarios}

    # Replaying the reader's rows over the full load reproduces the oracle (and the live table).
    state = {r["customer_id"]: _columns(r) for r in load_rows}
    for record in (r for records in per_batch for r in records):
        key = str(record["customer_id"])
        if record["op"] == "I":
            assert key not in state, (
                f"insert of existing customer {key} ({record['_file']} row {record['_row']})"
            )
            state[key] = _columns(record)
        elif record["op"] == "U":
            assert key in state, f"update of missing customer {key}"
            state[key] = _columns(record)
        else:
            assert state.pop(key, None) is not None, f"delete of missing customer {key}"
    assert state == _as_text(dataset.final_state())
    with psycopg2.connect(pg.dsn, options="-c TimeZone=UTC") as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM public.customers")
        assert cur.fetchone() == (len(state),)


def test_restarted_task_resumes_without_losing_or_repeating(
    pg: PostgresServer, dataset: CustomersDataset, tmp_path: Path
) -> None:
    b1, b2, b3, b4 = dataset.batches
    with DmsTask(pg.dsn, "dms_restart", CUSTOMERS_PUBLICATION, tmp_path) as task:
        task.full_load()
        _apply(pg, b1)
        assert _got(_read_files(list_new_files(tmp_path / TABLE_DIR)[1:])) == []  # nothing before the poll
        task.poll(timeout_seconds=10)
        acked = task.acknowledged_lsn
    assert acked > 0
    with psycopg2.connect(pg.dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT confirmed_flush_lsn - '0/0'::pg_lsn FROM pg_replication_slots WHERE slot_name = 'dms_restart'"
        )
        assert int(cur.fetchone()[0]) >= acked  # the slot remembers what was acknowledged

    _apply(pg, b2)  # changes while the task is down stay in the slot
    with DmsTask(pg.dsn, "dms_restart", CUSTOMERS_PUBLICATION, tmp_path) as task:
        files = task.poll(timeout_seconds=10)
        assert _got(_read_files(list_new_files(tmp_path / TABLE_DIR)[2:])) == _expected(b2)
        assert len(files) == 1

    # A crash after the file is renamed but before the acknowledgement reaches the server.
    _apply(pg, b3)
    crashing = DmsTask(pg.dsn, "dms_restart", CUSTOMERS_PUBLICATION, tmp_path)
    crashing._acknowledge = lambda cur, lsn: None  # type: ignore[method-assign]
    assert len(crashing.poll(timeout_seconds=10)) == 1
    crashing.close()
    with DmsTask(pg.dsn, "dms_restart", CUSTOMERS_PUBLICATION, tmp_path) as task:
        assert task.poll(timeout_seconds=10) == []  # re-sent batch 3 is recognised, not written twice
        assert task.skipped_transactions == 1
        _apply(pg, b4)
        task.poll(timeout_seconds=10)

    cdc = [f for f in list_new_files(tmp_path / TABLE_DIR) if not f.is_full_load]
    assert [_got(read_changes(f)) for f in cdc] == [_expected(b) for b in (b1, b2, b3, b4)]
    assert not list((tmp_path / TABLE_DIR).glob("*.tmp"))


def test_reader_rejects_malformed_rows_and_keeps_null_apart_from_empty(tmp_path: Path) -> None:
    (tmp_path / "LOAD00000001.csv").write_text(
        '_dms_commit_ts,id,note\nT0,1,""\nT0,2,\\N\n', encoding="utf-8"
    )
    (tmp_path / "20260101-000000001.csv").write_text(
        "Op,_dms_commit_ts,id,note\nU,T1,1,x\nD,T1,2\n", encoding="utf-8"
    )
    (tmp_path / "20260101-000000002.csv.tmp").write_text("partial", encoding="utf-8")
    os.utime(tmp_path / "LOAD00000001.csv", (2_000_000_000, 2_000_000_000))  # newer than the CDC file

    files = list_new_files(tmp_path)
    assert [f.name for f in files] == ["LOAD00000001.csv", "20260101-000000001.csv"]  # full load first
    assert [(r["op"], r["id"], r["note"], r["_row"]) for r in read_changes(files[0])] == [
        ("I", "1", "", 1),
        ("I", "2", None, 2),
    ]
    with pytest.raises(DmsFileError, match=r"20260101-000000001\.csv, row 2: has 3 values"):
        read_changes(files[1])
    assert list_new_files(tmp_path, ProcessedFiles().after_reading(files, files)) == []


def test_the_task_publishes_its_files_to_s3_where_bronze_reads_them(
    pg: PostgresServer, dataset: CustomersDataset, seaweed_s3: SeaweedS3, tmp_path: Path
) -> None:
    """With ``publish_to`` (an S3 prefix on SeaweedFS) the task's durable files land on S3 whole, once,
    and the bronze reader gets the same changes from there as from the task's own folder."""
    store = S3FileStore(seaweed_s3.bucket, f"{tmp_path.name}/dms", seaweed_s3.storage_options)
    staging = tmp_path / "staging"
    task = DmsTask(pg.dsn, "dms_s3", CUSTOMERS_PUBLICATION, staging, publish_to=store)
    try:
        task.full_load()
        _apply(pg, dataset.batches[0])
        assert len(task.poll(timeout_seconds=10)) == 1
        assert task._publish() == []  # every file is there already: nothing is PUT twice
    finally:
        task.close()
    table = S3FileStore(
        seaweed_s3.bucket, f"{tmp_path.name}/dms/public/customers", seaweed_s3.storage_options
    )
    local = sorted((staging / TABLE_DIR).glob("*.csv"))
    assert sorted(o.key for o in table.list("")) == [p.name for p in local] and len(local) == 2
    nothing = Committed({}, lambda _: None)
    on_s3 = rds_customers.read_dms_batch(table, nothing)
    in_folder = rds_customers.read_dms_batch(staging / TABLE_DIR, nothing)
    assert on_s3.records == in_folder.records and len(on_s3.records) > len(dataset.state_after(0))


def test_sandbox_postgres_lands_its_dms_files_on_s3_and_a_fresh_start_replaces_them(
    seaweed_s3: SeaweedS3, tmp_path: Path
) -> None:
    """`sandbox postgres-start --landing s3://...` (endpoint and keys from the AWS_* environment, as AWS
    DMS has its role): the full load lands on S3, where the platform's reader gets every initial customer;
    a fresh start is a fresh source, so an earlier source's files are gone from the prefix."""
    import subprocess
    import sys

    from sandbox.services.ports import free_port

    landing = f"s3://{seaweed_s3.bucket}/{tmp_path.name}/dms"
    env = {**os.environ, **seaweed_s3.storage_options}
    table = S3FileStore(
        seaweed_s3.bucket, f"{tmp_path.name}/dms/public/customers", seaweed_s3.storage_options
    )
    stale = "20260101-000000000.csv"  # a change file of an earlier source
    table.put(stale, b"op,commit_ts,customer_id\n")

    def sandbox(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "sandbox", *args, "--home", str(tmp_path)]
        return subprocess.run(command, capture_output=True, text=True, timeout=180, env=env, check=False)

    started = sandbox("postgres-start", f"--port={free_port()}", f"--landing={landing}")
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert sorted(o.key for o in table.list("")) == ["LOAD00000001.csv"]
        batch = rds_customers.read_dms_batch(table, Committed({}, lambda _: None))
        assert len(batch.records) == len(generate_customers().initial)
        assert f"into {landing}" in (tmp_path / "postgres.log").read_text()
    finally:
        stopped = sandbox("postgres-stop")
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr

"""RDS customers end to end: real PostgreSQL -> logical replication -> DMS files -> bronze -> silver.

The generator's oracle (``state_after``/``final_state``) is the expected silver state after each round;
its batches carry a delete then re-insert, a key updated three times in one transaction, NULL vs ''.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import psycopg2
import pytest

from platform_assets.definitions import CUSTOMERS_JOB, build_definitions, build_resources
from platform_assets.lake.delta_tables import read_table, row_count
from platform_assets.lake.location import Lake
from platform_assets.settings import PlatformSettings
from sandbox.generator.customers import (
    Customer,
    CustomersDataset,
    apply_batch,
    generate_customers,
    load_initial,
)
from sandbox.services.dms_task import DmsTask
from sandbox.services.postgres import CUSTOMERS_PUBLICATION, PostgresServer

QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
COLUMNS = ["customer_id", "name", "email", "phone", "address", "country", "updated_at"]


class Platform:
    def __init__(self, root: Path, pg: PostgresServer) -> None:
        self.pg = pg
        self.settings = PlatformSettings.from_env(
            {"PLATFORM_LAKE_ROOT": str(root / "lake"), "DMS_LANDING_ROOT": str(root / "landing")}
        )
        self.lake = Lake(self.settings.lake_root)
        self.defs = build_definitions(self.settings)
        self.task = DmsTask(
            pg.dsn, "platform_e2e", CUSTOMERS_PUBLICATION, Path(self.settings.dms_landing_root)
        )

    def run(self, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
        job = self.defs.resolve_job_def(CUSTOMERS_JOB)
        today = datetime.now(UTC).date().isoformat()
        return job.execute_in_process(
            instance=instance, partition_key=today, run_config=QUIET, raise_on_error=False
        )

    def live(self) -> dict[int, tuple]:
        rows = read_table(
            self.lake.uri("silver/customers"), where="NOT _is_deleted", columns=COLUMNS
        ).to_pylist()
        return {r["customer_id"]: tuple(r[c] for c in COLUMNS) for r in rows}

    def current_versions(self) -> dict[int, tuple]:
        rows = read_table(
            self.lake.uri("silver/customers_history"), where="is_current", columns=COLUMNS
        ).to_pylist()
        return {r["customer_id"]: tuple(r[c] for c in COLUMNS) for r in rows}


def _expected(state: dict[int, Customer]) -> dict[int, tuple]:
    return {cid: tuple(getattr(c, col) for col in COLUMNS) for cid, c in state.items()}


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Platform, CustomersDataset, dg.DagsterInstance]]:
    with PostgresServer() as pg, dg.instance_for_test() as instance:
        dataset = generate_customers(seed=11, scale=1, batches=4)
        with contextlib.closing(psycopg2.connect(pg.dsn)) as conn:
            load_initial(conn, dataset)
        platform = Platform(tmp_path_factory.mktemp("customers"), pg)
        try:
            yield platform, dataset, instance
        finally:
            platform.task.close()


def _apply(platform: Platform, dataset: CustomersDataset, *numbers: int) -> None:
    for number in numbers:
        with contextlib.closing(psycopg2.connect(platform.pg.dsn)) as conn:
            apply_batch(conn, dataset.batches[number - 1])
    assert platform.task.poll(timeout_seconds=10)


def test_01_full_load_reaches_silver(setup) -> None:
    platform, dataset, instance = setup
    platform.task.full_load()
    result = platform.run(instance)
    assert result.success
    assert platform.live() == _expected(dataset.state_after(0))
    assert platform.current_versions() == _expected(dataset.state_after(0))


def test_02_changes_including_delete_and_reinsert_are_applied_exactly(setup) -> None:
    platform, dataset, instance = setup
    _apply(platform, dataset, 1, 2)
    assert platform.run(instance).success
    assert platform.live() == _expected(dataset.state_after(2))
    _apply(platform, dataset, 3, 4)
    assert platform.run(instance).success
    assert platform.live() == _expected(dataset.final_state())
    assert platform.current_versions() == _expected(dataset.final_state())
    changes = sum(len(b.changes) for b in dataset.batches)
    bronze = platform.lake.uri("bronze/rds_customers_cdc")
    assert row_count(bronze) == len(dataset.state_after(0)) + changes  # every change exactly once
    # deleted customers are tombstones in silver, and closed versions in history
    deleted = set(dataset.state_after(0)) | {c.customer_id for b in dataset.batches for c in b.changes}
    deleted -= set(dataset.final_state())
    tombstones = read_table(
        platform.lake.uri("silver/customers"), where="_is_deleted", columns=["customer_id"]
    )
    assert set(tombstones.column("customer_id").to_pylist()) == deleted
    # the usual SCD2 query for the current state returns exactly the live customers, deleted ones not
    history = platform.lake.uri("silver/customers_history")
    open_rows = read_table(history, where="valid_to IS NULL", columns=COLUMNS).to_pylist()
    assert {r["customer_id"]: tuple(r[c] for c in COLUMNS) for r in open_rows} == _expected(
        dataset.final_state()
    )
    closed = read_table(history, where="_is_deleted", columns=["valid_from", "valid_to"]).to_pylist()
    assert closed and all(r["valid_to"] == r["valid_from"] for r in closed)


def test_03_a_run_with_nothing_new_changes_nothing(setup) -> None:
    platform, dataset, instance = setup
    before = row_count(platform.lake.uri("bronze/rds_customers_cdc"))
    assert platform.run(instance).success
    assert row_count(platform.lake.uri("bronze/rds_customers_cdc")) == before
    assert platform.live() == _expected(dataset.final_state())


def test_04_the_sensor_requests_what_bronze_has_not_processed_once(setup) -> None:
    platform, dataset, instance = setup
    sensor = platform.defs.resolve_sensor_def("rds_customers_dms_sensor")
    resources = build_resources(platform.settings)
    repository = platform.defs.get_repository_def()

    def tick(cursor: str | None = None):
        return sensor.evaluate_tick(
            dg.build_sensor_context(
                instance=instance, cursor=cursor, resources=resources, repository_def=repository
            )
        )

    idle = tick()  # every file is already in bronze: the table, not a cursor, is the truth
    assert idle.run_requests == [] and "has not processed" in idle.skip_message
    customer_id = min(dataset.final_state())
    with contextlib.closing(psycopg2.connect(platform.pg.dsn)) as conn, conn.cursor() as cur:
        cur.execute("UPDATE customers SET country = 'IS' WHERE customer_id = %s", (customer_id,))
        conn.commit()
    assert platform.task.poll(timeout_seconds=10)
    first = tick()
    assert len(first.run_requests) == 1 and first.run_requests[0].run_key.startswith("dms:public.customers:")
    again = tick(first.cursor)
    assert again.run_requests == [] and "already requested" in again.skip_message
    assert platform.run(instance).success
    assert platform.live()[customer_id][COLUMNS.index("country")] == "IS"
    assert tick(first.cursor).run_requests == []

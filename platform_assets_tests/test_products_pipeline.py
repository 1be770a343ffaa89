"""Snowflake products end to end: fakesnow -> bronze (watermark committed with the rows) -> silver/products.

The generator's oracle (``state_after``) is the expected silver state after each round: ties at the
watermark and a product written three times between two extractions (only its last version exists).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import dagster as dg
import pytest
import snowflake.connector

from platform_assets.definitions import build_definitions
from platform_assets.domains.products import PRODUCTS_JOB, SENSOR
from platform_assets.lake.delta_tables import read_table, row_count
from platform_assets.lake.location import Lake
from platform_assets.lake.positions import committed_positions
from platform_assets.settings import PlatformSettings
from platform_assets.sources.watermark import Watermark
from sandbox.generator.products import COLUMNS, ProductsDataset, generate_products
from sandbox.services.snowflake_server import FakeSnowflakeServer, apply_round, seed_products

DATASET: ProductsDataset = generate_products()
QUIET = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
BRONZE, SILVER = "bronze/snowflake_products", "silver/products"


class Platform:
    def __init__(self, root: Path, warehouse: FakeSnowflakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
        self.warehouse = warehouse
        params = warehouse.conn_params
        for name, value in {
            "SNOWFLAKE_ACCOUNT": params["account"],
            "SNOWFLAKE_USER": params["user"],
            "SNOWFLAKE_PASSWORD": params["password"],
            "SNOWFLAKE_HOST": params["host"],
            "SNOWFLAKE_PORT": str(params["port"]),
            "SNOWFLAKE_PROTOCOL": params["protocol"],
        }.items():
            monkeypatch.setenv(name, value)
        self.table = seed_products(params, DATASET)
        monkeypatch.setenv("SNOWFLAKE_PRODUCTS_TABLE", self.table)
        self.settings = PlatformSettings.from_env({"PLATFORM_LAKE_ROOT": str(root / "lake")})
        self.lake = Lake(self.settings.lake_root)
        self.defs = build_definitions(self.settings)

    def run(self, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
        job = self.defs.resolve_job_def(PRODUCTS_JOB)
        today = datetime.now(UTC).date().isoformat()
        return job.execute_in_process(
            instance=instance, partition_key=today, run_config=QUIET, raise_on_error=False
        )

    def silver(self) -> dict[int, tuple]:
        rows = read_table(self.lake.uri(SILVER), columns=[*COLUMNS, "_is_deleted"]).to_pylist()
        assert len(rows) == len({r["product_id"] for r in rows})
        return {r["product_id"]: tuple(r[c] for c in [*COLUMNS, "_is_deleted"]) for r in rows}

    def bronze_count(self) -> int:
        return row_count(self.lake.uri(BRONZE))

    def execute(self, *statements: str) -> None:
        conn = snowflake.connector.connect(
            **self.warehouse.conn_params, session_parameters={"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False}
        )
        try:
            cursor = conn.cursor()
            for statement in statements:
                cursor.execute(statement)
        finally:
            conn.close()


def expected(round_no: int) -> dict[int, tuple]:
    def typed(column: str, value: object) -> object:
        return value.replace(tzinfo=UTC) if column == "updated_at" else value

    state = DATASET.state_after(round_no)
    return {i: (*(typed(c, r[c]) for c in COLUMNS), False) for i, r in state.items()}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Platform, dg.DagsterInstance]]:
    with (
        FakeSnowflakeServer() as warehouse,
        dg.instance_for_test() as instance,
        pytest.MonkeyPatch.context() as monkeypatch,
    ):
        yield Platform(tmp_path_factory.mktemp("products"), warehouse, monkeypatch), instance


def test_01_initial_extraction_reaches_silver(setup) -> None:
    platform, instance = setup
    assert platform.run(instance).success
    assert platform.silver() == expected(0)
    assert platform.bronze_count() == len(DATASET.initial)
    stored = committed_positions(platform.lake.uri(BRONZE))[f"snowflake:{platform.table.upper()}"]
    newest = max(r["updated_at"] for r in DATASET.initial).replace(tzinfo=UTC)
    assert Watermark.from_json(stored).timestamp == newest


def test_02_rounds_with_ties_and_multi_versions_are_merged_exactly(setup) -> None:
    platform, instance = setup
    for round_no in (1, 2):
        before = platform.bronze_count()
        apply_round(platform.warehouse.conn_params, DATASET, round_no)
        assert platform.run(instance).success
        assert platform.silver() == expected(round_no), f"round {round_no}"
        # every product changed in the round exactly once (boundary ties included), last version only
        assert platform.bronze_count() == before + len(DATASET.changed_in(round_no - 1, round_no))


def test_03_the_sensor_requests_an_arrival_once_then_skips(setup) -> None:
    platform, instance = setup
    sensor = platform.defs.resolve_sensor_def(SENSOR)
    resources = dict(platform.defs.resources)
    repository = platform.defs.get_repository_def()

    def tick(cursor: str | None) -> dg.SensorExecutionData:
        return sensor.evaluate_tick(
            dg.build_sensor_context(
                instance=instance, cursor=cursor, resources=resources, repository_def=repository
            )
        )

    idle = tick(None)
    assert idle.run_requests == [] and "nothing new" in idle.skip_message
    apply_round(platform.warehouse.conn_params, DATASET, 3)
    first = tick(None)
    (request,) = first.run_requests
    newest = max(c.row["updated_at"] for c in DATASET.changes_of(3)).replace(tzinfo=UTC)
    assert f"@{newest.isoformat()}:" in request.run_key
    again = tick(first.cursor)  # the cursor is what Dagster stores: a restarted daemon sees it too
    assert again.run_requests == [] and "already requested" in again.skip_message
    assert platform.run(instance).success
    assert platform.silver() == expected(3)
    after = tick(first.cursor)
    assert after.run_requests == [] and "nothing new" in after.skip_message


def test_04_a_run_with_nothing_new_changes_nothing(setup) -> None:
    platform, instance = setup
    before = platform.bronze_count()
    assert platform.run(instance).success
    assert platform.bronze_count() == before
    assert platform.silver() == expected(3)


def test_05_a_new_source_column_lands_in_bronze_as_a_nullable_column(setup) -> None:
    platform, instance = setup
    later = max(r["updated_at"] for r in DATASET.state_after(3).values()) + timedelta(hours=1)
    platform.execute(
        f"alter table {platform.table} add column weight_kg number(8, 3)",
        f"update {platform.table} set weight_kg = 1.250, updated_at = '{later.isoformat()}' "
        "where product_id in (1, 2)",
    )
    assert platform.run(instance).success
    bronze = read_table(platform.lake.uri(BRONZE))
    field = bronze.schema.field("weight_kg")
    assert field.nullable
    weights = {(r["product_id"], r["weight_kg"]) for r in bronze.to_pylist() if r["weight_kg"] is not None}
    assert {(pid, Decimal(w)) for pid, w in weights} == {(1, Decimal("1.250")), (2, Decimal("1.250"))}
    want = expected(3)
    for pid in (1, 2):
        want[pid] = (*want[pid][:-2], later.replace(tzinfo=UTC), False)
    assert platform.silver() == want

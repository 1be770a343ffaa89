"""The Snowflake connector against fakesnow in server mode: exact incremental sets across change rounds,
ties on updated_at, a product updated several times between two extractions, and clear errors."""

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from platform_assets.sources.errors import SourceRequestError
from platform_assets.sources.snowflake import SnowflakeConnector, SnowflakeQueryError, SnowflakeResource
from platform_assets.sources.watermark import ChangeBatch, Watermark
from sandbox.generator.products import MULTI_VERSION, TIE_BOUNDARY, ProductsDataset, generate_products
from sandbox.services.snowflake_server import FakeSnowflakeServer, apply_round, seed_products

DATASET: ProductsDataset = generate_products()


@pytest.fixture(scope="module")
def warehouse() -> Iterator[FakeSnowflakeServer]:
    # One server per module: fakesnow takes several seconds to start; tests isolate by database name.
    server = FakeSnowflakeServer().start()
    process = server._process
    try:
        yield server
    finally:
        server.stop()
    assert process is not None and process.poll() is not None, "fakesnow is still running after stop()"


@pytest.fixture
def connector(warehouse: FakeSnowflakeServer) -> Iterator[SnowflakeConnector]:
    with SnowflakeConnector(**warehouse.conn_params) as conn:
        yield conn


def by_key(batch: ChangeBatch) -> dict[int, dict]:
    keys = [r["product_id"] for r in batch.records]
    assert len(keys) == len(set(keys)), f"duplicate product_ids in one batch: {sorted(keys)}"
    return {r["product_id"]: r for r in batch.records}


def fetch(connector: SnowflakeConnector, table: str, watermark: Watermark | None) -> ChangeBatch:
    restored = Watermark.from_json(watermark.to_json()) if watermark is not None else None
    return connector.fetch_changes(table, restored)


def test_incremental_extractions_are_exact_across_rounds(
    warehouse: FakeSnowflakeServer, connector: SnowflakeConnector
) -> None:
    table = seed_products(warehouse.conn_params, DATASET, database="ROUNDS")
    batch = fetch(connector, table, None)
    assert by_key(batch) == DATASET.state_after(0)
    assert batch.watermark is not None and len(batch.watermark.keys_at_timestamp) == 3  # initial tie group

    delivered = by_key(batch)
    for round_no in range(1, DATASET.round_count + 1):
        previous_tie = batch.watermark.keys_at_timestamp if batch.watermark else frozenset()
        apply_round(warehouse.conn_params, DATASET, round_no, database="ROUNDS")
        batch = fetch(connector, table, batch.watermark)

        got = by_key(batch)
        assert got == DATASET.changed_in(round_no - 1, round_no), f"round {round_no}"
        boundary = {c.product_id for c in DATASET.changes_of(round_no) if c.tag == TIE_BOUNDARY}
        assert len(boundary) == 2 and boundary <= got.keys()  # stamped exactly at the old watermark
        assert batch.skipped_at_watermark == len({int(k) for k in previous_tie} - got.keys()) > 0
        # The product written three times in the round arrives once, as its last version.
        (multi,) = DATASET.multi_version_ids(round_no)
        last = [c.row for c in DATASET.changes_of(round_no) if c.tag == MULTI_VERSION][-1]
        assert got[multi] == last
        delivered.update(got)

    assert delivered == DATASET.state_after(DATASET.round_count)
    # Nothing changed since: the next extraction is empty and the watermark stays put.
    again = fetch(connector, table, batch.watermark)
    assert again.is_empty and again.watermark == batch.watermark


def test_rounds_between_extractions_deliver_the_latest_version_once(
    warehouse: FakeSnowflakeServer, connector: SnowflakeConnector
) -> None:
    table = seed_products(warehouse.conn_params, DATASET, database="SKIPPED")
    first = fetch(connector, table, None)
    apply_round(warehouse.conn_params, DATASET, 1, database="SKIPPED")
    apply_round(warehouse.conn_params, DATASET, 2, database="SKIPPED")

    batch = fetch(connector, table, first.watermark)

    assert by_key(batch) == DATASET.changed_in(0, 2)
    assert batch.records[-1]["updated_at"].replace(tzinfo=UTC) == batch.watermark.timestamp


def test_records_are_plain_dicts_with_lower_case_columns(
    warehouse: FakeSnowflakeServer, connector: SnowflakeConnector
) -> None:
    table = seed_products(warehouse.conn_params, DATASET, database="SHAPE")
    record = fetch(connector, table, None).records[0]
    assert list(record) == ["product_id", "sku", "name", "category", "list_price", "currency", "updated_at"]
    assert isinstance(record["updated_at"], datetime)


def test_missing_table_is_a_clear_error(connector: SnowflakeConnector) -> None:
    with pytest.raises(
        SnowflakeQueryError, match=r"snowflake: query on NOPE\.CATALOG\.PRODUCTS failed"
    ) as caught:
        connector.fetch_changes("NOPE.CATALOG.PRODUCTS", None)
    assert isinstance(caught.value, SourceRequestError)
    with pytest.raises(ValueError, match="not a plain"):
        connector.fetch_changes("PRODUCTS; drop table X", None)


def test_resource_builds_a_working_connector(warehouse: FakeSnowflakeServer) -> None:
    table = seed_products(warehouse.conn_params, DATASET, database="RESOURCE")
    params = warehouse.conn_params
    resource = SnowflakeResource(
        account=params["account"],
        user=params["user"],
        password=params["password"],
        host=params["host"],
        port=params["port"],
        protocol=params["protocol"],
    )
    with resource.connector() as conn:
        assert len(conn.fetch_changes(table, None)) == len(DATASET.initial)

"""Order-stream test support: the platform on a real broker, and the generator's oracle as one assertion."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.definitions import build_definitions, build_resources
from platform_assets.domains.orders import ORDERS_APPLY_SENSOR
from platform_assets.lake.delta_tables import count_by, open_table, read_table
from platform_assets.lake.location import Lake
from platform_assets.operations.sensor_driver import SensorDriver
from platform_assets.settings import PlatformSettings
from sandbox.generator.orders import OrderEventsDataset
from sandbox.services.kafka_broker import KafkaBroker


@dataclass
class OrdersPlatform:
    broker: KafkaBroker
    instance: dg.DagsterInstance
    settings: PlatformSettings
    lake: Lake
    defs: dg.Definitions
    applier: SensorDriver  # the apply sensor, its cursor kept between ticks as the daemon keeps it


@contextmanager
def orders_platform(root: Path, topic: str) -> Iterator[OrdersPlatform]:
    """A real broker with a 3-partition ``topic``, a test instance, and the definitions on a lake in ``root``."""
    with KafkaBroker() as broker, dg.instance_for_test() as instance, pytest.MonkeyPatch.context() as mp:
        for name, value in broker.client_env().items():  # a plaintext broker: PLAINTEXT said explicitly
            mp.setenv(name, value)
        mp.setenv("ORDERS_TOPIC", topic)
        broker.create_topic(topic, partitions=3)
        settings = PlatformSettings.from_env({"PLATFORM_LAKE_ROOT": str(root / "lake")})
        defs = build_definitions(settings)
        applier = SensorDriver(defs, instance, build_resources(settings), ORDERS_APPLY_SENSOR)
        yield OrdersPlatform(broker, instance, settings, Lake(settings.lake_root), defs, applier)


def order_date_of(order_id: str) -> str:
    """The sandbox's order ids carry their creation day: ord-YYYYMMDD-NNNN."""
    return f"{order_id[4:8]}-{order_id[8:10]}-{order_id[10:12]}"


def assert_silver_orders_match(lake: Lake, instance: dg.DagsterInstance, dataset: OrderEventsDataset) -> None:
    """silver/orders and silver/order_lines equal the oracle for ``dataset``'s messages, each order in
    its order date's Delta partition, and Dagster records every order-date partition as materialized."""
    expected = dataset.expected_orders()
    uri = lake.uri("silver/orders")
    rows = read_table(uri, where="NOT _is_deleted").to_pylist()
    got = {r["order_id"]: r for r in rows}
    assert sorted(got) == sorted(expected)
    for order_id, want in expected.items():
        row = got[order_id]
        assert (row["status"], row["customer_id"], row["currency"], row["channel"]) == (
            want["status"], want["customer_id"], want["currency"], want["channel"]
        ), order_id  # fmt: skip
        assert json.loads(row["lines"]) == want["lines"] and row["order_total"] == want["order_total"]
        assert (row["event_id"], row["event_type"]) == (want["last_event_id"], want["last_event_type"])
        assert row["event_time"].strftime("%Y-%m-%dT%H:%M:%SZ") == want["last_event_time"]
        assert row["created_time"].strftime("%Y-%m-%dT%H:%M:%SZ") == want["created_time"]
        assert row["order_date"].isoformat() == want["created_time"][:10] == order_date_of(order_id)
    by_day = Counter(want["created_time"][:10] for want in expected.values())
    for dataset_name in ("silver/orders", "silver/order_lines"):
        table = open_table(lake.uri(dataset_name))
        assert table is not None and table.metadata().partition_columns == ["order_date"]
        materialized = instance.get_materialized_partitions(dg.AssetKey(dataset_name.split("/")))
        assert materialized >= set(by_day), dataset_name
    assert count_by(uri, "order_date", "NOT _is_deleted") == by_day
    lines = read_table(lake.uri("silver/order_lines")).to_pylist()
    assert all(r["order_date"].isoformat() == order_date_of(r["order_id"]) for r in lines)
    keyed = sorted(
        ({k: r[k] for k in ("order_id", "line_no", "product_id", "quantity", "unit_price")} for r in lines),
        key=lambda r: (r["order_id"], r["line_no"]),
    )
    assert keyed == dataset.expected_order_lines()

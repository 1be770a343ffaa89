"""Orders by Kafka: `orders.events` -> bronze/order_events (+ DLQ) -> silver/orders -> silver/order_lines.

| variable | default | meaning |
|---|---|---|
| KAFKA_BOOTSTRAP_SERVERS | 127.0.0.1:9092 | Kafka brokers (the sandbox's by default) |
| ORDERS_TOPIC | orders.events | the order events topic |
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import dagster as dg

from platform_assets.contracts.model import Contract
from platform_assets.layers.bronze import order_events as bronze_order_events
from platform_assets.layers.bronze.order_events import KafkaOrdersResource
from platform_assets.layers.silver import orders as silver_orders
from platform_assets.sensors.kafka_offsets import build_kafka_offsets_sensor
from platform_assets.settings import PlatformSettings

ORDERS_JOB = "orders_job"
ORDERS_SENSOR = "orders_kafka_sensor"
DEFAULT_BOOTSTRAP_SERVERS = "127.0.0.1:9092"
DEFAULT_TOPIC = "orders.events"


def kafka_resource(env: Mapping[str, str] = os.environ) -> KafkaOrdersResource:
    return KafkaOrdersResource(
        bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS", "").strip() or DEFAULT_BOOTSTRAP_SERVERS,
        topic=env.get("ORDERS_TOPIC", "").strip() or DEFAULT_TOPIC,
    )


def definitions(contracts: dict[str, Contract], settings: PlatformSettings) -> dg.Definitions:
    kafka = kafka_resource()
    assets = [bronze_order_events.build(contracts, kafka.topic), *silver_orders.build(contracts)]
    job = dg.define_asset_job(
        ORDERS_JOB,
        selection=dg.AssetSelection.assets(*assets),
        description="Orders: Kafka order events to bronze (DLQ for bad messages), applied to silver orders and lines.",
        tags={"platform/dataset": "order_events"},
    )
    sensor = build_kafka_offsets_sensor(
        job,
        bronze_order_events.DATASET,
        ORDERS_SENSOR,
        lambda context: context.resources.kafka_orders.source(),
    )
    return dg.Definitions(
        assets=[bronze_order_events.KAFKA_ORDERS_SOURCE, *assets],
        jobs=[job],
        sensors=[sensor],
        resources={"kafka_orders": kafka},
    )

"""Orders by Kafka: `orders.events` -> bronze/order_events (+ DLQ) -> silver/orders -> silver/order_lines.

Two jobs, each with its sensor: `orders_ingest_job` reads the topic into today's bronze partition
when the topic holds messages after the offsets stored in bronze (`orders_kafka_sensor`);
`orders_apply_job` applies them to the order-date partitions that bronze reports touching, late
days included (`orders_apply_sensor`). Both carry the same dataset tag, so the instance's run queue
keeps them from running at the same time.

| variable | default | meaning |
|---|---|---|
| KAFKA_BOOTSTRAP_SERVERS | 127.0.0.1:9092 | Kafka brokers (the sandbox's by default) |
| ORDERS_TOPIC | orders.events | the order events topic |
| KAFKA_SECURITY_PROTOCOL | SSL | SSL (TLS, the broker's certificate verified) or PLAINTEXT (explicit opt-out) |
| KAFKA_SSL_CA_LOCATION | $PLATFORM_CA_PATH | PEM CA bundle the brokers are verified with (unset: system store) |
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import dagster as dg

from platform_assets.contracts.model import Contract
from platform_assets.layers.bronze import order_events as bronze_order_events
from platform_assets.layers.bronze.order_events import KafkaOrdersResource
from platform_assets.layers.silver import orders as silver_orders
from platform_assets.layers.specs import partitions_def, pipeline_selection
from platform_assets.sensors.business_dates import build_business_dates_sensor
from platform_assets.sensors.kafka_offsets import build_kafka_offsets_sensor
from platform_assets.settings import PlatformSettings, source_ca_path

ORDERS_INGEST_JOB = "orders_ingest_job"
ORDERS_APPLY_JOB = "orders_apply_job"
ORDERS_SENSOR = "orders_kafka_sensor"
ORDERS_APPLY_SENSOR = "orders_apply_sensor"
DEFAULT_BOOTSTRAP_SERVERS = "127.0.0.1:9092"
DEFAULT_TOPIC = "orders.events"


def kafka_resource(env: Mapping[str, str] = os.environ) -> KafkaOrdersResource:
    return KafkaOrdersResource(
        bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS", "").strip() or DEFAULT_BOOTSTRAP_SERVERS,
        topic=env.get("ORDERS_TOPIC", "").strip() or DEFAULT_TOPIC,
        security_protocol=env.get("KAFKA_SECURITY_PROTOCOL", "").strip() or "SSL",
        ssl_ca_location=source_ca_path("KAFKA_SSL_CA_LOCATION", env),
    )


def definitions(contracts: dict[str, Contract], settings: PlatformSettings) -> dg.Definitions:
    kafka = kafka_resource()
    bronze = bronze_order_events.build(contracts, kafka.topic)
    silver = silver_orders.build(contracts)
    tags = {"platform/dataset": "order_events"}
    ingest_job = dg.define_asset_job(
        ORDERS_INGEST_JOB,
        selection=pipeline_selection(bronze),
        description="Orders: Kafka order events to today's bronze partition (bad messages to the DLQ).",
        tags=tags,
    )
    apply_job = dg.define_asset_job(
        ORDERS_APPLY_JOB,
        selection=pipeline_selection(*silver),
        description="Orders: bronze order events applied to silver orders and lines, by order date.",
        tags=tags,
    )
    ingest_sensor = build_kafka_offsets_sensor(
        ingest_job,
        bronze_order_events.DATASET,
        ORDERS_SENSOR,
        lambda context: context.resources.kafka_orders.source(),
    )
    orders_partitions = partitions_def(contracts["silver/orders"])
    if orders_partitions is None:
        raise ValueError("silver/orders: the contract must partition the table by order_date")
    apply_sensor = build_business_dates_sensor(
        apply_job, contracts[bronze_order_events.DATASET], orders_partitions, ORDERS_APPLY_SENSOR
    )
    return dg.Definitions(
        assets=[bronze_order_events.KAFKA_ORDERS_SOURCE, bronze, *silver],
        jobs=[ingest_job, apply_job],
        sensors=[ingest_sensor, apply_sensor],
        resources={"kafka_orders": kafka},
    )

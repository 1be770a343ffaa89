"""bronze/order_events: the `orders.events` Kafka topic, every valid message once, offsets in the commit.

Each run reads what follows the offsets stored in the table (``Committed.offset_of("<topic>-<p>")``) up
to the end offsets seen at its start, and appends the rows with the new offsets as Delta app
transactions in one commit; the consumer group's offsets are committed after it, for monitoring.
Messages that are not a JSON object go to ``bronze/order_events_dlq`` as their raw bytes; events that
break the contract, including the nested ``lines`` (see ``layers/bronze/field_checks.py``), go there
with the reason.
"""

from __future__ import annotations

from collections.abc import Callable

import dagster as dg
from pydantic import Field

from platform_assets.contracts.model import Contract
from platform_assets.layers.bronze.engine_kafka import read_on_engine
from platform_assets.layers.bronze.incremental_asset import BATCHES_PER_RUN, build_incremental_bronze_asset
from platform_assets.sources.batch import Committed, SourceBatch
from platform_assets.sources.kafka.reader import KafkaTopic, kafka_security, read_batch

DATASET = "bronze/order_events"

KAFKA_ORDERS_SOURCE = dg.AssetSpec(
    key=dg.AssetKey(["sources", "kafka_orders"]),
    description="The `orders.events` Kafka topic: order events keyed by order_id (JSON, schema v1/v2).",
    group_name="sources",
    kinds={"kafka"},
    owners=["team:data-platform"],
    tags={"source": "kafka"},
)


class KafkaOrdersResource(dg.ConfigurableResource):
    """The brokers and topic of the order events, and the group the monitoring commits use."""

    bootstrap_servers: str = Field(description="Kafka bootstrap servers, host:port[,host:port]")
    topic: str = Field(description="order events topic")
    group_id: str = Field(default="platform.bronze.order_events", description="consumer group (monitoring)")
    max_messages: int = Field(
        default=10_000,
        description=f"messages per partition and commit, at most; a run commits up to {BATCHES_PER_RUN} such batches",
    )
    engine_min_partitions: int = Field(
        default=0, description="ingest: engine: Spark tasks per batch at least (0: one per topic-partition)"
    )
    security_protocol: str = Field(
        default="SSL", description="SSL (the broker's certificate is verified) or PLAINTEXT (opt-out)"
    )
    ssl_ca_location: str | None = Field(
        default=None, description="PEM CA bundle to verify the brokers with (None: the system store)"
    )

    def source(self) -> KafkaTopic:
        security = kafka_security(self.security_protocol, self.ssl_ca_location)
        return KafkaTopic(
            self.bootstrap_servers, self.topic, self.group_id, self.max_messages, security=security
        )


def reader(contract: Contract) -> Callable[[dg.AssetExecutionContext, Committed], SourceBatch]:
    """The batch reader the contract's ``ingest`` picks: in this process, or on the Spark engine."""

    def read_order_events(context: dg.AssetExecutionContext, committed: Committed) -> SourceBatch:
        kafka: KafkaOrdersResource = context.resources.kafka_orders
        if contract.ingest == "engine":
            spark = context.resources.spark.get_session()
            return read_on_engine(
                spark, kafka.source(), contract, committed, context.log.info, kafka.engine_min_partitions
            )
        return read_batch(kafka.source(), committed, log=context.log.info)

    return read_order_events


def build(contracts: dict[str, Contract], topic: str) -> dg.AssetsDefinition:
    contract = contracts[DATASET]
    return build_incremental_bronze_asset(
        contract,
        contracts,
        reader(contract),
        source_label=f"kafka:{topic}",
        resource_keys={"kafka_orders"},
        kinds={"kafka"},
        deps=[KAFKA_ORDERS_SOURCE.key],
    )

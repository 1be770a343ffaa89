"""bronze/order_events: the `orders.events` Kafka topic, every valid message once, offsets in the commit.

Each run reads what follows the offsets stored in the table (``Committed.offset_of("<topic>-<p>")``) up
to the end offsets seen at its start, and appends the rows with the new offsets as Delta app
transactions in one commit; the consumer group's offsets are committed after it, for monitoring.
Messages that are not a JSON object go to ``bronze/order_events_dlq`` as their raw bytes; events that
break the contract, including the nested ``lines`` (see ``check_lines``), go there with the reason.
"""

from __future__ import annotations

import json
from typing import Any

import dagster as dg
from pydantic import Field

from platform_assets.contracts.model import Contract
from platform_assets.layers.bronze.conform import FieldError
from platform_assets.layers.bronze.incremental_asset import (
    Committed,
    SourceBatch,
    build_incremental_bronze_asset,
)
from platform_assets.sources.kafka.reader import KafkaTopic, read_batch

DATASET = "bronze/order_events"
LINE_FIELDS = {"line_no": int, "product_id": int, "quantity": int, "unit_price": float}

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
    max_messages: int = Field(default=10_000, description="messages per partition and run, at most")

    def source(self) -> KafkaTopic:
        return KafkaTopic(self.bootstrap_servers, self.topic, self.group_id, self.max_messages)


class UnfitValue:
    """A nested value that breaks the contract, carried through conformance to the dead letter.

    Conformance types ``lines`` as text with ``str()``: the first ``str()`` raises the reason as a
    ``FieldError`` (so the record is dead-lettered with it, counted against the column), later ones
    give the value as JSON text (what the dead letter's raw payload holds).
    """

    def __init__(self, value: Any, reason: str) -> None:
        self.value, self.reason, self._raised = value, reason, False

    def __str__(self) -> str:
        if not self._raised:
            self._raised = True
            raise FieldError(self.reason)
        return json.dumps(self.value, sort_keys=True)


def lines_error(lines: Any) -> str | None:
    """Why ``lines`` does not fit the contract (a non-empty list of typed line objects), or None."""
    if isinstance(lines, str):
        try:
            lines = json.loads(lines)
        except json.JSONDecodeError:
            return f"lines is not JSON: {lines!r:.80}"
    if not isinstance(lines, list) or not lines:
        return f"lines must be a non-empty list, got {lines!r:.80}"
    for i, line in enumerate(lines):
        if not isinstance(line, dict):
            return f"lines[{i}] is not an object: {line!r:.80}"
        for name, kind in LINE_FIELDS.items():
            value = line.get(name)
            ok = (
                isinstance(value, int | float) if kind is float else isinstance(value, int)
            ) and not isinstance(value, bool)
            if not ok:
                expected = "a number" if kind is float else "an integer"
                return f"lines[{i}].{name}: expected {expected}, got {value!r}"
    return None


def check_lines(record: dict[str, Any]) -> dict[str, Any]:
    """The record, with ``lines`` wrapped as an ``UnfitValue`` when its nested fields break the contract."""
    if "lines" not in record or record["lines"] is None:
        return record  # conformance reports the missing required field itself
    reason = lines_error(record["lines"])
    return record if reason is None else {**record, "lines": UnfitValue(record["lines"], reason)}


def read_order_events(context: dg.AssetExecutionContext, committed: Committed) -> SourceBatch:
    kafka: KafkaOrdersResource = context.resources.kafka_orders
    return read_batch(kafka.source(), committed, validate=check_lines, log=context.log.info)


def build(contracts: dict[str, Contract], topic: str) -> dg.AssetsDefinition:
    return build_incremental_bronze_asset(
        contracts[DATASET],
        contracts,
        read_order_events,
        source_label=f"kafka:{topic}",
        resource_keys={"kafka_orders"},
        kinds={"kafka"},
        deps=[KAFKA_ORDERS_SOURCE.key],
    )

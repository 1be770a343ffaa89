"""Produce the generated order events to a Kafka topic, in dataset order, keyed by ``order_id``."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from itertools import islice
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

from sandbox.generator.orders import OrderEventsDataset, OrderMessage

FLUSH_TIMEOUT_SECONDS = 60.0


class OrderProduceError(RuntimeError):
    """Some messages were not acknowledged by the broker."""


def producer_config(bootstrap_servers: str, security: Mapping[str, str] | None = None) -> dict[str, Any]:
    """``security``: librdkafka TLS settings (``kafka_broker.client_security``), none for plaintext."""
    return {
        **(security or {}),
        "bootstrap.servers": bootstrap_servers,
        # acks=all + idempotence: broker-side retries neither duplicate nor reorder messages per
        # partition, so the only duplicates in the topic are the dataset's planted ones.
        "acks": "all",
        "enable.idempotence": True,
        # Java clients' partitioner: a key lands on the same partition whichever client produced it.
        "partitioner": "murmur2_random",
        "linger.ms": 5,
    }


def produce_order_events(
    bootstrap_servers: str,
    topic: str,
    dataset: OrderEventsDataset | Iterable[OrderMessage],
    upto: int | None = None,
    security: Mapping[str, str] | None = None,
) -> dict[int, int]:
    """Send the first ``upto`` messages (all by default), flush, and return the count per partition.

    ``dataset`` may be a stream (``OrderEventStream``): messages are sent as they are made.

    Malformed messages are sent as their raw bytes under their planted key. Raises
    ``OrderProduceError`` listing the failures if any message is not acknowledged.
    """
    messages = dataset.messages if isinstance(dataset, OrderEventsDataset) else dataset
    if upto is not None:
        messages = islice(messages, upto)
    counts: dict[int, int] = {}
    errors: list[str] = []

    def delivered(error: KafkaError | None, message: Message) -> None:
        if error is not None:
            errors.append(f"{message.key()!r}: {error}")
        else:
            partition = int(message.partition())
            counts[partition] = counts.get(partition, 0) + 1

    producer = Producer(producer_config(bootstrap_servers, security))
    for message in messages:
        while True:
            try:
                producer.produce(topic, value=message.value, key=message.key, on_delivery=delivered)
                break
            except BufferError:  # local queue full: serve delivery reports, then retry this message
                producer.poll(0.1)
        producer.poll(0)
    remaining = producer.flush(FLUSH_TIMEOUT_SECONDS)
    if remaining:
        errors.append(f"{remaining} message(s) still unacknowledged after {FLUSH_TIMEOUT_SECONDS:.0f} s")
    if errors:
        shown = "; ".join(errors[:5])
        raise OrderProduceError(f"producing to {topic!r} on {bootstrap_servers} failed: {shown}")
    return dict(sorted(counts.items()))

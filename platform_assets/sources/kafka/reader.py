"""Read a bounded micro-batch of a Kafka topic after the offsets stored in the bronze table.

The offsets that count are the ones committed with the rows (Delta app transactions, one per
``<topic>-<partition>``); the consumer group's own offsets are committed only after the bronze commit,
for lag monitoring, and are never read back. A batch runs from ``stored + 1`` (or the partition's
beginning) up to the end offsets captured when the batch starts, at most ``max_messages`` per
partition, so a batch is bounded even while producers keep writing. A batch that stopped at that
bound says so (``SourceBatch.more``): the bronze ingestion reads the next one while committing it.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from confluent_kafka import Consumer, KafkaException, TopicPartition

from platform_assets.sources.batch import Committed, JsonPayloads, RawRecord, SourceBatch

POLL_SECONDS = 1.0
CONSUME_BATCH = 10_000  # messages per consume() call: one C call per batch, not per message
METADATA_TIMEOUT_SECONDS = 10.0


SECURITY_PROTOCOLS = ("SSL", "PLAINTEXT")


def kafka_security(protocol: str, ca_location: str | None) -> dict[str, str]:
    """librdkafka settings for ``protocol``: SSL verifies the broker's certificate and host name (against
    ``ca_location``, else the system store); PLAINTEXT is the explicit opt-out."""
    protocol = protocol.strip().upper()
    if protocol not in SECURITY_PROTOCOLS:
        raise ValueError(
            f"Kafka security protocol {protocol!r} is not one of {', '.join(SECURITY_PROTOCOLS)}"
        )
    if protocol == "PLAINTEXT":
        return {"security.protocol": "PLAINTEXT"}
    settings = {
        "security.protocol": "SSL",
        "enable.ssl.certificate.verification": "true",  # librdkafka's default, stated
        "ssl.endpoint.identification.algorithm": "https",
    }
    return settings | ({"ssl.ca.location": ca_location} if ca_location else {})


@dataclass(frozen=True)
class KafkaTopic:
    """Where to read: brokers, topic, and the consumer group used for the monitoring commits."""

    bootstrap_servers: str
    topic: str
    group_id: str
    max_messages: int = 10_000  # per partition and batch (``more`` tells the caller when it stopped there)
    read_timeout_seconds: float = 60.0
    # librdkafka security settings (security.protocol, ssl.ca.location); empty: plaintext
    security: Mapping[str, str] = field(default_factory=dict)

    def consumer(self) -> Consumer:
        return Consumer(
            {
                **self.security,
                "bootstrap.servers": self.bootstrap_servers,
                "group.id": self.group_id,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "session.timeout.ms": 6000,
            }
        )


def app_id(topic: str, partition: int) -> str:
    """The Delta app transaction id holding a partition's last ingested offset."""
    return f"{topic}-{partition}"


def position_label(topic: str, partition: int, offset: int) -> str:
    return f"{topic}-{partition}@{offset}"


def partitions_of(consumer: Consumer, topic: str) -> list[int]:
    metadata = consumer.list_topics(topic, timeout=METADATA_TIMEOUT_SECONDS).topics.get(topic)
    if metadata is None or metadata.error is not None or not metadata.partitions:
        raise KafkaException(f"topic {topic!r} not found: {metadata.error if metadata else 'no metadata'}")
    return sorted(metadata.partitions)


def watermarks(consumer: Consumer, topic: str) -> dict[int, tuple[int, int]]:
    """(low, high) per partition: high is the offset the next message will get."""
    return {
        p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=METADATA_TIMEOUT_SECONDS)
        for p in partitions_of(consumer, topic)
    }


def stored_offsets(
    marks: dict[int, tuple[int, int]], topic: str, offset_of: Callable[[str], int | None]
) -> dict[int, int | None]:
    """The last offset stored in the table per partition (None: nothing ingested from it yet)."""
    return {partition: offset_of(app_id(topic, partition)) for partition in marks}


def pending_ranges(
    marks: dict[int, tuple[int, int]], stored: dict[int, int | None]
) -> dict[int, tuple[int, int]]:
    """[first, end) per partition with messages after the stored offset (an empty dict: nothing new)."""
    ranges = {}
    for partition, (low, high) in marks.items():
        last = stored.get(partition)
        first = low if last is None else max(last + 1, low)
        if first < high:
            ranges[partition] = (first, high)
    return ranges


def parse_message(topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None) -> Any:
    """The event as a dict with the Kafka coordinates, or a ``RawRecord`` when it is not a JSON object.

    A raw record goes through conformance as a non-object record: a dead letter with the bytes exactly
    as received plus the key, topic, partition and offset.
    """
    context = {
        "topic": topic,
        "partition": partition,
        "offset": offset,
        "key": key.decode("utf-8", "backslashreplace") if key is not None else None,
    }
    try:
        event = json.loads(value) if value is not None else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        return RawRecord(value, context)
    if not isinstance(event, dict):
        return RawRecord(value, context)
    return {
        **event,
        "_topic": topic,
        "_partition": partition,
        "_offset": offset,
        "_key": key.decode("utf-8", "backslashreplace") if key is not None else None,
    }


@dataclass
class ReceivedMessages:
    """Messages as received, column by column: what the batch conformance reads (``JsonPayloads``)."""

    topic: str
    partitions: list[int] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    keys: list[bytes | None] = field(default_factory=list)
    values: list[bytes | None] = field(default_factory=list)

    def add(self, partition: int, offset: int, key: bytes | None, value: bytes | None) -> None:
        self.partitions.append(partition)
        self.offsets.append(offset)
        self.keys.append(key)
        self.values.append(value)

    def extend(self, messages: list[Any]) -> None:
        """Consumed messages (confluent-kafka ``Message``s) added column by column, in order."""
        self.partitions += [m.partition() for m in messages]
        self.offsets += [m.offset() for m in messages]
        self.keys += [m.key() for m in messages]
        self.values += [m.value() for m in messages]

    def payloads(self) -> JsonPayloads:
        """The values with the Kafka coordinates as supplied columns (Arrow arrays, built a column at
        a time); ``record(i)`` is ``parse_message`` of message ``i`` (for the records the batch path
        leaves to per-record typing)."""
        topic, partitions, offsets, keys, values = (
            self.topic,
            self.partitions,
            self.offsets,
            self.keys,
            self.values,
        )
        partition_column = pa.array(partitions, pa.int32())
        offset_column = pa.array(offsets, pa.int64())
        positions = pc.binary_join_element_wise(
            f"{topic}-", partition_column.cast(pa.string()), "@", offset_column.cast(pa.string()), ""
        )
        return JsonPayloads(
            positions=positions,
            values=values,
            supplied={
                "_topic": pa.repeat(pa.scalar(topic, pa.string()), len(values)),
                "_partition": partition_column,
                "_offset": offset_column,
                "_key": key_column(keys),
            },
            record=lambda i: parse_message(topic, partitions[i], offsets[i], keys[i], values[i]),
        )


def key_column(keys: list[bytes | None]) -> pa.Array:
    """The keys as text, as ``parse_message`` decodes them: UTF-8, other bytes backslash-escaped."""
    binary = pa.array(keys, pa.binary())
    try:
        return binary.cast(pa.string())  # checks the UTF-8 of the whole column in one pass
    except pa.ArrowInvalid:
        return pa.array(
            [k.decode("utf-8", "backslashreplace") if k is not None else None for k in keys], pa.string()
        )


@dataclass(frozen=True)
class BatchPlan:
    """What a bounded batch reads: [first, target) per partition with messages after the stored offset."""

    stored: dict[int, int | None]
    ranges: dict[int, tuple[int, int]]  # partition -> (first offset, target offset exclusive)


def plan_batch(
    source: KafkaTopic, committed: Committed, log: Callable[[str], None] = lambda message: None
) -> BatchPlan:
    """The offset ranges of the next batch: after the stored offsets, bounded by the end offsets seen
    now and ``max_messages`` per partition (what ``read_batch`` reads, and the engine path too)."""
    consumer = source.consumer()
    try:
        marks = watermarks(consumer, source.topic)
    finally:
        consumer.close()
    stored = stored_offsets(marks, source.topic, committed.offset_of)
    for p, (low, _) in marks.items():
        if stored[p] is not None and stored[p] + 1 < low:
            log(
                f"{source.topic}-{p}: offsets {stored[p] + 1}..{low - 1} expired before ingestion (retention)"
            )
    ranges = pending_ranges(marks, stored)
    return BatchPlan(
        stored, {p: (first, min(end, first + source.max_messages)) for p, (first, end) in ranges.items()}
    )


def read_batch(
    source: KafkaTopic,
    committed: Committed,
    log: Callable[[str], None] = lambda message: None,
) -> SourceBatch:
    """Messages after the stored offsets up to the end offsets seen at the start (bounded)."""
    consumer = source.consumer()
    try:
        marks = watermarks(consumer, source.topic)
        stored = stored_offsets(marks, source.topic, committed.offset_of)
        ranges = pending_ranges(marks, stored)
        for p, (low, _) in marks.items():
            if stored[p] is not None and stored[p] + 1 < low:
                log(
                    f"{source.topic}-{p}: offsets {stored[p] + 1}..{low - 1} expired before ingestion (retention)"
                )
        received = ReceivedMessages(source.topic)
        last: dict[int, int] = {}
        if not ranges:  # still acknowledged: the group's offsets catch up with the table's
            return SourceBatch(records=[], acknowledge=acknowledger(source, stored, last))
        targets = {p: min(end, first + source.max_messages) for p, (first, end) in ranges.items()}
        consumer.assign([TopicPartition(source.topic, p, first) for p, (first, _) in ranges.items()])
        open_partitions = set(targets)
        deadline = time.monotonic() + source.read_timeout_seconds
        while open_partitions and time.monotonic() < deadline:
            messages = consumer.consume(CONSUME_BATCH, POLL_SECONDS)
            if not messages:
                for p in list(open_partitions):  # control records can end a partition without a message
                    (position,) = consumer.position([TopicPartition(source.topic, p)])
                    if position.offset >= targets[p]:
                        open_partitions.discard(p)
                continue
            failed = next((m for m in messages if m.error() is not None), None)
            if failed is not None:
                raise KafkaException(failed.error())
            # what a consume() returns is taken column by column; the ends of partitions are checked
            # per partition, not per message
            kept = [
                m
                for m in messages
                if m.partition() in open_partitions and m.offset() < targets[m.partition()]
            ]
            received.extend(kept)
            last.update({m.partition(): m.offset() for m in kept})  # offsets rise within a partition
            for partition in [p for p in open_partitions if last.get(p, -1) >= targets[p] - 1]:
                open_partitions.discard(partition)
                consumer.pause([TopicPartition(source.topic, partition)])
        if open_partitions:
            log(f"{source.topic}: read timed out; partitions {sorted(open_partitions)} resume next run")
    finally:
        consumer.close()  # read everything; the monitoring commit uses a fresh consumer
    offsets = {app_id(source.topic, p): o for p, o in last.items()}
    # a partition bounded by max_messages holds more now: the ingestion reads on (not after a timeout)
    capped = [p for p, target in targets.items() if target < ranges[p][1]]
    more = bool(capped) and not open_partitions
    log(
        f"{source.topic}: {len(received.values)} message(s) read, through {offsets}"
        + (f"; more waiting in partition(s) {capped}" if more else "")
    )
    return SourceBatch(
        records=received.payloads(),
        offsets=offsets,
        acknowledge=acknowledger(source, stored, last),
        more=more,
    )


def acknowledger(
    source: KafkaTopic, stored: dict[int, int | None], last: dict[int, int]
) -> Callable[[], None]:
    """After the bronze commit: the group's offsets mirror the table's, for lag dashboards only."""
    through = {p: o for p, o in stored.items() if o is not None} | last

    def acknowledge() -> None:
        if not through:
            return
        committer = source.consumer()
        try:
            committer.commit(
                offsets=[TopicPartition(source.topic, p, o + 1) for p, o in sorted(through.items())],
                asynchronous=False,
            )
        finally:
            committer.close()

    return acknowledge


def end_offsets(source: KafkaTopic) -> dict[int, tuple[int, int]]:
    consumer = source.consumer()
    try:
        return watermarks(consumer, source.topic)
    finally:
        consumer.close()

"""The real-time sandbox: a real Kafka broker (KRaft), the order event generator and its producer.

One broker serves the module (about 10 s to start); the start/stop test runs its own. The jars come from
``scripts/fetch_kafka.sh`` (``make install``).
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from confluent_kafka import Consumer, KafkaError, KafkaException, Message
from confluent_kafka.admin import AdminClient

from platform_assets.layers.bronze.order_events import KafkaOrdersResource
from platform_assets.sources.kafka.reader import end_offsets
from sandbox import cli
from sandbox.generator.order_stream import generate_order_events
from sandbox.generator.orders import (
    CHANNELS,
    CONTRACT_VIOLATION,
    DUPLICATE,
    LATE,
    MALFORMED_JSON,
    OUT_OF_ORDER,
    SCHEMA_CHANGE,
    OrderEventsDataset,
    OrderMessage,
)
from sandbox.services.kafka_broker import KafkaBroker, KafkaBrokerError
from sandbox.services.order_producer import produce_order_events
from sandbox.services.tls import SandboxCA, sandbox_ca_path

CONSUME_TIMEOUT_SECONDS = 30.0


@pytest.fixture(scope="module")
def broker() -> Iterator[KafkaBroker]:
    with KafkaBroker() as running:
        yield running


@pytest.fixture(scope="module")
def dataset() -> OrderEventsDataset:
    return generate_order_events()


# ------------------------------------------------------------------------------------------------ broker
def test_a_missing_libs_folder_says_to_run_the_fetch_script(tmp_path: Path) -> None:
    with pytest.raises(KafkaBrokerError, match=r"scripts/fetch_kafka\.sh"):
        KafkaBroker(libs_dir=tmp_path / "nothing-here").start()


def test_broker_starts_answers_and_stops_leaving_nothing_behind() -> None:
    broker = KafkaBroker()
    broker.start()
    pid, home, port = broker.pid, broker.home, broker.port
    assert pid is not None and home is not None and port is not None
    try:
        metadata = AdminClient({"bootstrap.servers": broker.bootstrap_servers}).list_topics(timeout=5)
        assert list(metadata.brokers) == [1]
        assert (home / "data" / "meta.properties").exists()
    finally:
        broker.stop()
    with pytest.raises(ProcessLookupError):
        os.killpg(pid, 0)  # the whole process group is gone
    assert not home.exists()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))  # the port is free again
    broker.stop()  # idempotent


def test_topic_has_three_partitions_and_creation_is_explicit(broker: KafkaBroker) -> None:
    assert broker.create_topic("three.partitions") is True
    topic = AdminClient({"bootstrap.servers": broker.bootstrap_servers}).list_topics(timeout=5).topics
    assert sorted(topic["three.partitions"].partitions) == [0, 1, 2]
    assert broker.create_topic("three.partitions", exist_ok=True) is False
    with pytest.raises(KafkaBrokerError, match="already exists"):
        broker.create_topic("three.partitions")


def test_produced_dataset_comes_back_exactly_per_key_and_partition(
    broker: KafkaBroker, dataset: OrderEventsDataset
) -> None:
    broker.create_topic("orders.events")
    counts = produce_order_events(broker.bootstrap_servers, "orders.events", dataset)
    assert sum(counts.values()) == len(dataset.messages) and sorted(counts) == [0, 1, 2]

    consumed = _consume_all(broker, "orders.events", len(dataset.messages))

    by_partition: dict[int, list[tuple[bytes, bytes]]] = defaultdict(list)
    for message in consumed:
        by_partition[message.partition()].append((message.key(), message.value()))
    assert {p: len(ms) for p, ms in by_partition.items()} == counts
    partition_of = {key: p for p, ms in by_partition.items() for key, _ in ms}
    assert len(partition_of) == len({m.key for m in dataset.messages})  # a key lives in one partition
    for partition, received in by_partition.items():
        sent = [(m.key, m.value) for m in dataset.messages if partition_of[m.key] == partition]
        assert received == sent  # same bytes, same (produce) order
    received_values = {(k, v) for ms in by_partition.values() for k, v in ms}
    for malformed in (m for m in dataset.messages if m.defect == MALFORMED_JSON):
        assert (malformed.key, malformed.value) in received_values


def test_produce_upto_sends_a_prefix(broker: KafkaBroker, dataset: OrderEventsDataset) -> None:
    broker.create_topic("orders.prefix")
    counts = produce_order_events(broker.bootstrap_servers, "orders.prefix", dataset, upto=10)
    assert sum(counts.values()) == 10


def _consume_all(broker: KafkaBroker, topic: str, expected: int) -> list[Message]:
    consumer = Consumer(broker.consumer_config(f"test-{topic}"))
    consumer.subscribe([topic])
    received: list[Message] = []
    deadline = time.monotonic() + CONSUME_TIMEOUT_SECONDS
    try:
        while len(received) < expected and time.monotonic() < deadline:
            for message in consumer.consume(num_messages=500, timeout=0.5):
                assert message.error() is None, message.error()
                received.append(message)
        # nothing more than the dataset arrives
        assert [m for m in consumer.consume(num_messages=10, timeout=1.0) if m.error() is None] == []
    finally:
        consumer.close()
    assert len(received) == expected
    return received


def test_cli_starts_produces_and_stops_a_detached_broker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`kafka-start` serves an SSL listener with the sandbox home's CA: the platform's Kafka client
    (security.protocol=SSL, ssl.ca.location) reads the topic's offsets; one trusting another CA is refused
    at the handshake ("certificate verify failed"), and a PLAINTEXT client gets no metadata."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    home = ["--home", str(tmp_path), "--port", str(port)]
    assert cli.main(["kafka-start", *home]) == 0
    try:
        java_pid = int((tmp_path / "kafka.java.pid").read_text())
        assert cli.main(["kafka-status", *home]) == 0
        assert cli.main(["produce-orders", *home, "--upto", "20"]) == 0
        assert "produced 20 messages to orders.events (created)" in capsys.readouterr().out
        bootstrap = f"127.0.0.1:{port}"
        ca = str(sandbox_ca_path(tmp_path))
        verified = KafkaOrdersResource(bootstrap_servers=bootstrap, topic="orders.events", ssl_ca_location=ca)
        assert sum(high for _, high in end_offsets(verified.source()).values()) == 20
        other_ca = SandboxCA.in_folder(tmp_path / "other").ca_path
        for security, refusal in (
            ({"security.protocol": "SSL", "ssl.ca.location": str(other_ca)}, "certificate verify failed"),
            ({"security.protocol": "PLAINTEXT"}, "brokers are down"),  # the SSL listener drops it
        ):
            errors: list[KafkaError] = []
            admin = AdminClient({**security, "bootstrap.servers": bootstrap, "error_cb": errors.append})
            with pytest.raises(KafkaException, match="Failed to get metadata"):
                admin.list_topics(timeout=3)
            admin.poll(1)  # delivers the client's errors to error_cb
            assert refusal in " ".join(map(str, errors)), errors
    finally:
        assert cli.main(["kafka-stop", *home]) == 0
    with pytest.raises(ProcessLookupError):
        os.killpg(java_pid, 0)
    assert cli.main(["kafka-status", *home]) == cli.EXIT_NOT_RUNNING
    assert not (tmp_path / "kafka.pid").exists() and (tmp_path / "kafka" / "data").is_dir()


# --------------------------------------------------------------------------------------------- generator
def test_generator_is_deterministic_and_seeded() -> None:
    assert generate_order_events(seed=7) == generate_order_events(seed=7)
    other = generate_order_events(seed=8)
    assert other.key_values != generate_order_events(seed=7).key_values
    assert Counter(d.kind for d in other.defects) == Counter(d.kind for d in generate_order_events().defects)


def test_defect_manifest_is_exact(dataset: OrderEventsDataset) -> None:
    assert Counter(d.kind for d in dataset.defects) == {
        MALFORMED_JSON: 2,
        CONTRACT_VIOLATION: 2,
        DUPLICATE: 3,
        OUT_OF_ORDER: 1,
        LATE: 2,
        SCHEMA_CHANGE: 1,
    }
    assert [(d.kind, d.position) for d in dataset.defects] == [
        (MALFORMED_JSON, 25),
        (OUT_OF_ORDER, 42),
        (DUPLICATE, 63),
        (CONTRACT_VIOLATION, 88),
        (DUPLICATE, 124),
        (SCHEMA_CHANGE, 125),
        (MALFORMED_JSON, 137),
        (CONTRACT_VIOLATION, 162),
        (LATE, 184),
        (DUPLICATE, 187),
        (LATE, 205),
    ]
    assert len(dataset.messages) == 248 and len(dataset.order_ids) == 120
    planted = Counter(m.defect for m in dataset.messages if m.defect)
    assert planted == Counter(d.kind for d in dataset.defects if d.kind != SCHEMA_CHANGE)
    assert all(d.detail for d in dataset.defects)


@pytest.mark.parametrize("seed,scale", [(7, 1.0), (1, 0.2), (2, 0.5), (3, 2.0), (11, 1.0)])
def test_each_planted_defect_is_what_the_manifest_says(seed: int, scale: float) -> None:
    dataset = generate_order_events(seed=seed, scale=scale)
    messages = dataset.messages
    for d in dataset.defects_of(MALFORMED_JSON):
        with pytest.raises(ValueError):
            json.loads(messages[d.position].value)
        assert messages[d.position].key.decode() == d.order_id
    bad_quantity, missing_id = (messages[d.position].event for d in dataset.defects_of(CONTRACT_VIOLATION))
    assert bad_quantity is not None and bad_quantity["lines"][0]["quantity"] == "three"
    assert missing_id is not None and "order_id" not in missing_id
    for d in dataset.defects_of(DUPLICATE):
        assert messages[d.position].value == messages[d.position - 1].value
    (stale,) = dataset.defects_of(OUT_OF_ORDER)
    order_events = [m for m in messages if m.key.decode() == stale.order_id and m.event]
    created = next(m.event for m in order_events if m.event and m.event["event_type"] == "created")
    assert messages[stale.position].event["event_time"] < created["event_time"]  # type: ignore[index]
    assert order_events[-1].position == stale.position
    for d in dataset.defects_of(LATE):
        late_time = _time(messages[d.position])
        before = next(m for m in reversed(messages[: d.position]) if m.event and m.defect != LATE)
        after = next(m for m in messages[d.position + 1 :] if m.event and m.defect != LATE)
        for neighbour in (before, after):
            assert timedelta(days=2) <= _time(neighbour) - late_time <= timedelta(days=3)
    switch = dataset.schema_change_position
    assert switch in (len(messages) // 2, len(messages) // 2 + 1)
    for m in messages:
        if m.event is not None:
            assert m.event["schema_version"] == (2 if m.position >= switch else 1)
            assert ("channel" in m.event) == (m.event["schema_version"] == 2)
            assert m.event.get("channel", "web") in CHANNELS


def test_event_shape_and_totals(dataset: OrderEventsDataset) -> None:
    for event in dataset.valid_events():
        assert event["event_type"] in {"created", "updated", "cancelled"}
        assert event["order_total"] == round(sum(x["quantity"] * x["unit_price"] for x in event["lines"]), 2)
        assert event["event_time"].endswith("Z")
    assert len(dataset.valid_events()) == len(dataset.messages) - 2 - 2 - 3


def test_oracle_ignores_bad_and_stale_events_and_applies_late_ones(dataset: OrderEventsDataset) -> None:
    expected = dataset.expected_orders()
    assert list(expected) == dataset.order_ids
    touched_by = {d.kind: d for d in dataset.defects}
    stale = dataset.messages[touched_by[OUT_OF_ORDER].position].event
    assert stale is not None and expected[stale["order_id"]]["last_event_id"] != stale["event_id"]
    for d in dataset.defects_of(CONTRACT_VIOLATION):
        assert expected[d.order_id]["last_event_id"] != d.event_id  # type: ignore[index]
        assert expected[d.order_id]["status"] == "open"  # type: ignore[index]
    late_update, late_cancel = dataset.defects_of(LATE)
    assert expected[late_update.order_id]["last_event_id"] == late_update.event_id  # type: ignore[index]
    assert expected[late_cancel.order_id]["status"] == "cancelled"  # type: ignore[index]


def test_oracle_on_a_hand_checkable_stream() -> None:
    lines_a = [{"line_no": 1, "product_id": 3, "quantity": 2, "unit_price": 10.0}]
    lines_b = [*lines_a, {"line_no": 2, "product_id": 4, "quantity": 1, "unit_price": 5.5}]
    created = _event("e1", "created", "o1", "2026-11-01T10:00:00Z", lines_a)
    updated = _event("e2", "updated", "o1", "2026-11-01T11:00:00Z", lines_b)
    stale = _event("e3", "updated", "o1", "2026-11-01T09:00:00Z", lines_a)  # before created: loses
    bad = {**_event("e4", "updated", "o1", "2026-11-01T12:00:00Z", lines_a), "lines": [{"quantity": "three"}]}
    o2_created = _event("e5", "created", "o2", "2026-11-01T10:00:00Z", lines_a)
    o2_cancel = _event("e7", "cancelled", "o2", "2026-11-01T10:30:00Z", lines_a)
    o2_update = _event("e6", "updated", "o2", "2026-11-01T10:30:00Z", lines_b)  # same time: e7 > e6 wins
    stream = [
        _message(0, created),
        _message(1, updated),
        _message(2, updated, DUPLICATE),
        OrderMessage(3, b"o1", b"{not json", None, MALFORMED_JSON),
        _message(4, bad, CONTRACT_VIOLATION),
        _message(5, stale, OUT_OF_ORDER),
        _message(6, o2_created),
        _message(7, o2_cancel),
        _message(8, o2_update),
    ]
    dataset = OrderEventsDataset(7, datetime(2026, 11, 1).date(), 1, 2, tuple(stream), ())
    assert dataset.expected_orders() == {
        "o1": {
            "order_id": "o1",
            "status": "open",
            "customer_id": 1,
            "currency": "EUR",
            "channel": None,
            "lines": lines_b,
            "order_total": 25.5,
            "created_time": "2026-11-01T10:00:00Z",
            "last_event_id": "e2",
            "last_event_type": "updated",
            "last_event_time": "2026-11-01T11:00:00Z",
        },
        "o2": {
            "order_id": "o2",
            "status": "cancelled",
            "customer_id": 1,
            "currency": "EUR",
            "channel": None,
            "lines": lines_a,
            "order_total": 20.0,
            "created_time": "2026-11-01T10:00:00Z",
            "last_event_id": "e7",
            "last_event_type": "cancelled",
            "last_event_time": "2026-11-01T10:30:00Z",
        },
    }
    assert dataset.expected_order_lines() == [
        {"order_id": "o1", **lines_b[0]},
        {"order_id": "o1", **lines_b[1]},
        {"order_id": "o2", **lines_a[0]},
    ]


def _event(event_id: str, event_type: str, order_id: str, at: str, lines: list[dict]) -> dict:
    total = round(sum(x["quantity"] * x["unit_price"] for x in lines), 2)
    return {
        "event_id": event_id,
        "event_type": event_type,
        "order_id": order_id,
        "customer_id": 1,
        "currency": "EUR",
        "lines": lines,
        "order_total": total,
        "event_time": at,
        "schema_version": 1,
    }


def _message(position: int, event: dict, defect: str | None = None) -> OrderMessage:
    return OrderMessage(position, event["order_id"].encode(), json.dumps(event).encode(), event, defect)


def _time(message: OrderMessage) -> datetime:
    assert message.event is not None
    return datetime.fromisoformat(message.event["event_time"].replace("Z", "+00:00"))


def test_a_cluster_id_starting_with_a_dash_still_formats(monkeypatch: pytest.MonkeyPatch) -> None:
    """1 in 64 random base64url cluster ids starts with '-': the storage tool must not read it as a flag."""
    import base64
    import uuid

    import sandbox.services.kafka_broker as kafka_broker

    dash_first = uuid.UUID(bytes=base64.urlsafe_b64decode("-" + "A" * 21 + "=="))
    monkeypatch.setattr(kafka_broker.uuid, "uuid4", lambda: dash_first)
    with KafkaBroker() as broker:
        assert broker.is_running()

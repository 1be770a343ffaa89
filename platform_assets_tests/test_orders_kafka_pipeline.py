"""Orders end to end against a real Kafka broker: topic -> bronze/order_events (+ DLQ) -> silver.

One broker and one topic serve the module; the generator's planted defects and its oracles
(``expected_orders``/``expected_order_lines``) are the expectations. Bronze keeps every valid message
as received (re-sends included); silver de-duplicates by event_id through the SCD1 apply.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import dagster as dg
import pytest
from confluent_kafka import Consumer, TopicPartition
from pyspark.sql import functions as F

from platform_assets import cli
from platform_assets.contracts import load_contracts
from platform_assets.definitions import build_resources
from platform_assets.domains.orders import (
    ORDERS_INGEST_JOB,
    ORDERS_SENSOR,
)
from platform_assets.lake.delta_tables import read_table, row_count
from platform_assets.lake.location import Lake
from platform_assets.layers.bronze import incremental_asset as incremental
from platform_assets.layers.bronze.dlq_replay import record_replay, replay_dead_letters
from platform_assets.layers.bronze.incremental_asset import ingest_increment
from platform_assets.layers.bronze.records import Batch
from platform_assets.layers.silver import orders as silver_orders
from platform_assets.layers.specs import RANGE_END, RANGE_START
from platform_assets.operations.sensor_driver import QUIET, SensorDriver
from platform_assets.quality.evaluate import evaluate
from platform_assets.settings import PlatformSettings
from platform_assets.sources.batch import SourceBatch
from platform_assets.sources.kafka.reader import KafkaTopic, read_batch
from platform_assets_tests.orders_oracle import assert_silver_orders_match, order_date_of, orders_platform
from sandbox.generator.order_stream import generate_order_events
from sandbox.generator.orders import CONTRACT_VIOLATION, MALFORMED_JSON, OrderEventsDataset
from sandbox.services.kafka_broker import KafkaBroker
from sandbox.services.order_producer import produce_order_events

TOPIC = "orders.events"
GROUP = "platform.bronze.order_events"
BAD = (MALFORMED_JSON, CONTRACT_VIOLATION)


class Crash(RuntimeError):
    pass


@dataclass
class Setup:
    broker: KafkaBroker
    dataset: OrderEventsDataset
    lake: Lake
    settings: PlatformSettings
    defs: dg.Definitions
    instance: dg.DagsterInstance
    first: int  # messages produced in the first round
    applier: SensorDriver  # the apply sensor, its cursor kept between ticks as the daemon keeps it

    @property
    def source(self) -> KafkaTopic:
        return KafkaTopic(self.broker.bootstrap_servers, TOPIC, GROUP)

    @property
    def bronze(self) -> str:
        return self.lake.uri("bronze/order_events")

    @property
    def dlq(self) -> str:
        return self.lake.uri("bronze/order_events_dlq")

    def ingest(self, read=None) -> None:
        now = datetime.now(UTC)
        meta = Batch(now.date(), now, f"kafka:{TOPIC}", f"test:{now.isoformat()}")
        contract = load_contracts()["bronze/order_events"]
        ingest_increment(self.lake, contract, meta, read or (lambda c: read_batch(self.source, c)))

    def topic_messages(self) -> dict[str, tuple[bytes, bytes]]:
        """Ground truth from the broker: position label -> (key, value) of every message."""
        consumer = Consumer(self.broker.consumer_config("test-reader"))
        found: dict[str, tuple[bytes, bytes]] = {}
        try:
            parts = []
            for p in range(3):
                low, high = consumer.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10)
                if high > low:
                    parts.append((p, low, high))
            consumer.assign([TopicPartition(TOPIC, p, low) for p, low, _ in parts])
            total = sum(high - low for _, low, high in parts)
            while len(found) < total:
                message = consumer.poll(5)
                assert message is not None and message.error() is None
                found[f"{TOPIC}-{message.partition()}@{message.offset()}"] = (message.key(), message.value())
        finally:
            consumer.close()
        return found

    def expected_split(self) -> tuple[set[str], set[str]]:
        """(valid positions, dead-letter positions) of every message in the topic now."""
        bad = {(m.key, m.value) for m in self.dataset.messages if not m.valid}
        messages = self.topic_messages()
        dead = {label for label, kv in messages.items() if kv in bad}
        return set(messages) - dead, dead

    def topic_high(self, partition: int) -> int:
        consumer = Consumer(self.broker.consumer_config("test-reader"))
        try:
            return consumer.get_watermark_offsets(TopicPartition(TOPIC, partition), timeout=10)[1]
        finally:
            consumer.close()

    def sensor_tick(self) -> dg.SensorExecutionData:
        """A tick of the Kafka offsets sensor (it keeps no cursor: bronze holds the offsets)."""
        return SensorDriver(
            self.defs, self.instance, build_resources(self.settings), ORDERS_SENSOR
        ).evaluate()

    def run_ingest(self, day: str | None = None) -> dg.ExecuteInProcessResult:
        """The ingest job for one ingestion day (today by default), as the Kafka sensor requests it."""
        return self.defs.resolve_job_def(ORDERS_INGEST_JOB).execute_in_process(
            instance=self.instance,
            partition_key=day or datetime.now(UTC).date().isoformat(),
            run_config=QUIET,
            raise_on_error=False,
        )

    def apply(self) -> list[tuple[str, str]]:
        """One apply-sensor tick, and its runs; returns the order-date ranges it requested."""
        ranges = []
        for request in self.applier.evaluate().run_requests:
            result = self.applier.execute(request)
            failures = [str(e.step_failure_data.error) for e in result.all_events if e.is_step_failure]
            assert result.success, f"{request.run_key}: {failures}"
            ranges.append((request.tags[RANGE_START], request.tags[RANGE_END]))
        return ranges


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    dataset = generate_order_events()
    first = dataset.schema_change_position - 10  # v1 only, with a malformed and a bad quantity event
    assert {m.defect for m in dataset.messages[:first]} >= set(BAD)
    with orders_platform(tmp_path_factory.mktemp("orders"), TOPIC) as p:
        yield Setup(p.broker, dataset, p.lake, p.settings, p.defs, p.instance, first, p.applier)


def _ingest_and_apply(setup: Setup) -> list[tuple[str, str]]:
    """Ingest into today's bronze partition, then apply what the apply sensor requests."""
    assert setup.run_ingest().success
    return setup.apply()


def _assert_silver_matches(setup: Setup, dataset: OrderEventsDataset) -> None:
    assert_silver_orders_match(setup.lake, setup.instance, dataset)


def _dead_letters(setup: Setup) -> dict[str, dict]:
    rows = read_table(
        setup.dlq, columns=["_position", "_error", "_raw", "_raw_bytes", "_context"]
    ).to_pylist()
    assert len(rows) == len({r["_position"] for r in rows}), "a dead letter was written twice"
    return {r["_position"]: r for r in rows}


def _bronze_positions(setup: Setup) -> list[str]:
    return read_table(setup.bronze, columns=["_position"]).column("_position").to_pylist()


def test_01_sensor_request_crash_before_the_commit_retried_then_silver(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    produce_order_events(setup.broker.bootstrap_servers, TOPIC, setup.dataset, upto=setup.first)
    tick = setup.sensor_tick()
    assert len(tick.run_requests) == 1
    request = tick.run_requests[0]
    assert request.partition_key == datetime.now(UTC).date().isoformat()
    assert request.run_key.startswith(f"kafka:{TOPIC}:0:0-") and request.tags["platform/lag"] == str(
        setup.first
    )

    real_append = incremental.append_with_positions

    def dies_at_the_bronze_commit(uri, *args, **kwargs):
        if uri == setup.bronze:
            raise Crash("process died before the bronze commit")
        return real_append(uri, *args, **kwargs)

    monkeypatch.setattr(incremental, "append_with_positions", dies_at_the_bronze_commit)
    with pytest.raises(Crash):
        setup.ingest()
    assert row_count(setup.bronze) == 0  # nothing, and no offsets, reached bronze
    monkeypatch.setattr(incremental, "append_with_positions", real_append)
    setup.ingest()  # the retry: the same range, from the beginning again

    valid, dead = setup.expected_split()
    positions = _bronze_positions(setup)
    assert sorted(positions) == sorted(valid) and len(positions) == setup.first - len(dead)
    letters = _dead_letters(setup)  # the retry did not write its dead letters again
    assert set(letters) == dead and len(dead) == 2
    messages = setup.topic_messages()
    for label, letter in letters.items():
        key, value = messages[label]
        if b"quantity" in value and b'"three"' in value:  # the contract violation: reason and payload
            assert "lines[0].quantity: expected an integer, got 'three'" in letter["_error"]
            raw = json.loads(letter["_raw"])
            assert (raw["_key"], raw["_topic"]) == (key.decode(), TOPIC)
            assert f"{TOPIC}-{raw['_partition']}@{raw['_offset']}" == label
        else:  # not JSON: the bytes exactly as received, with the key and coordinates
            assert "not a JSON object" in letter["_error"]
            assert letter["_raw"] == value.decode("utf-8", "backslashreplace")
            assert letter["_raw_bytes"] == value
            partition, offset = label.removeprefix(f"{TOPIC}-").split("@")
            assert json.loads(letter["_context"]) == {
                "key": key.decode("utf-8", "backslashreplace") if key is not None else None,
                "offset": int(offset),
                "partition": int(partition),
                "topic": TOPIC,
            }
    # silver after the first round: the first messages' oracle (later rounds apply incrementally)
    _ingest_and_apply(setup)
    _assert_silver_matches(
        setup, dataclasses.replace(setup.dataset, messages=setup.dataset.messages[: setup.first])
    )


def test_02_a_crash_after_the_commit_and_a_consumer_restart_neither_lose_nor_repeat(setup: Setup) -> None:
    rest = dataclasses.replace(setup.dataset, messages=setup.dataset.messages[setup.first :])
    produce_order_events(setup.broker.bootstrap_servers, TOPIC, rest)
    before = len(_bronze_positions(setup))

    def crashes_on_acknowledge(committed):
        batch = read_batch(setup.source, committed)

        def ack() -> None:
            raise Crash("process died after the bronze commit, before the group commit")

        return SourceBatch(batch.records, batch.positions, batch.offsets, ack)

    with pytest.raises(Crash):
        setup.ingest(crashes_on_acknowledge)
    # a restarted consumer in a group that never committed reads from the table's offsets: nothing new
    restarted = KafkaTopic(setup.broker.bootstrap_servers, TOPIC, "a-brand-new-group")
    setup.ingest(lambda c: read_batch(restarted, c))
    valid, dead = setup.expected_split()
    positions = _bronze_positions(setup)
    assert len(positions) == len(set(positions)) == len(valid) > before
    assert set(positions) == valid
    assert set(_dead_letters(setup)) == dead and len(dead) == 4
    assert len(valid) + len(dead) == len(setup.dataset.messages)
    bronze = read_table(setup.bronze, columns=["event_id"]).column("event_id").to_pylist()
    assert len(bronze) - len(set(bronze)) == 3  # the producer's re-sends are kept in bronze


def _group_offsets(setup: Setup) -> dict[int, int]:
    consumer = Consumer(setup.broker.consumer_config(GROUP))
    try:
        committed = consumer.committed([TopicPartition(TOPIC, p) for p in range(3)], timeout=10)
        return {tp.partition: tp.offset for tp in committed}
    finally:
        consumer.close()


def test_03_the_job_ingests_re_sends_and_gives_the_oracles_current_orders_and_lines(setup: Setup) -> None:
    # five more exact re-sends of valid events (a producer retry storm): bronze keeps them, silver not
    resent = [m for m in setup.dataset.messages if m.defect is None][-5:]
    produce_order_events(
        setup.broker.bootstrap_servers, TOPIC, dataclasses.replace(setup.dataset, messages=tuple(resent))
    )
    _ingest_and_apply(setup)
    valid, _ = setup.expected_split()
    positions = _bronze_positions(setup)
    assert len(positions) == len(set(positions)) == len(valid) == len(setup.dataset.messages) - 4 + 5
    high = {p: setup.topic_high(p) for p in range(3)}
    assert _group_offsets(setup) == high  # the monitoring commit followed the bronze commit
    _assert_silver_matches(setup, setup.dataset)
    channels = {r["channel"] for r in read_table(setup.lake.uri("silver/orders")).to_pylist()}
    assert None in channels and channels - {None} == {"web", "sales", "partner"}  # v2's nullable column
    bronze_channels = read_table(setup.bronze, columns=["schema_version", "channel"]).to_pylist()
    assert all((r["channel"] is None) == (r["schema_version"] == 1) for r in bronze_channels)


def test_04_with_nothing_new_the_sensor_skips(setup: Setup) -> None:
    tick = setup.sensor_tick()
    assert tick.run_requests == [] and "no message after" in tick.skip_message


def test_05_replay_after_a_contract_fix_ingests_each_dead_letter_once(setup: Setup) -> None:
    contract = load_contracts()["bronze/order_events"]
    unchanged = replay_dead_letters(setup.lake, contract)
    assert unchanged.replayed == 0 and len(unchanged.still_failing) == 4
    # the fix: order_id becomes optional (the key still names the order)
    fixed = contract.model_copy(
        update={
            "columns": [
                c.model_copy(update={"nullable": True}) if c.name == "order_id" else c
                for c in contract.columns
            ]
        }
    )
    before = row_count(setup.bronze)
    first = replay_dead_letters(setup.lake, fixed)
    assert first.replayed == 1 and len(first.still_failing) == 3
    again = replay_dead_letters(setup.lake, fixed)
    assert again.replayed == 0 and again.already_replayed == 1
    assert row_count(setup.bronze) == before + 1
    replayed = read_table(setup.bronze, where="order_id IS NULL").to_pylist()
    assert len(replayed) == 1 and replayed[0]["event_type"] == "cancelled" and replayed[0]["_key"]
    # the replay reports the order date it touched and is recorded on the bronze partition it wrote
    today = datetime.now(UTC).date()
    assert first.ingestion_day == today and first.business_dates == [order_date_of(replayed[0]["_key"])]
    assert record_replay(setup.instance, fixed, first) and not record_replay(setup.instance, fixed, again)
    (record,) = setup.instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=dg.AssetKey(["bronze", "order_events"]), asset_partitions=[today.isoformat()]
        ),
        limit=1,
    ).records
    recorded = record.asset_materialization
    assert recorded is not None and recorded.metadata["dlq_replayed"].value == 1
    assert recorded.metadata["business_dates"].value == first.business_dates


def test_06_the_replay_command_reports_what_is_left(
    setup: Setup, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PLATFORM_LAKE_ROOT", setup.settings.lake_root)
    before = row_count(setup.bronze)
    assert cli.main(["replay-dlq", "bronze/order_events"]) == 0
    out = capsys.readouterr().out
    assert "0 dead letter(s) replayed, 1 replayed before, 3 still failing" in out
    assert out.count(f"  {TOPIC}-") == 3 and row_count(setup.bronze) == before
    assert cli.main(["replay-dlq", "silver/orders"]) == 2


def test_07_the_silver_contract_rules_catch_a_wrong_total_a_negative_quantity_and_an_unknown_currency(
    setup: Setup,
) -> None:
    spark = build_resources(setup.settings)["spark"].get_session()
    at = datetime(2026, 11, 1, tzinfo=UTC)
    line = '{{"line_no":1,"product_id":1,"quantity":{q},"unit_price":2.5}}'
    events = [  # (event_id, currency, lines, order_total)
        ("ok", "USD", f"[{line.format(q=2)}]", 5.0),
        ("total", "EUR", f"[{line.format(q=2)}]", 6.0),
        ("negative", "GBP", f"[{line.format(q=-1)}]", -2.5),
        ("currency", "XXX", f"[{line.format(q=1)}]", 2.5),
    ]
    bronze = spark.createDataFrame(
        [
            (f"o-{e}", e, "updated", 1, c, None, lines, total, 1, at, at, f"{TOPIC}-0@{n}")
            for n, (e, c, lines, total) in enumerate(events)
        ],
        "order_id string, event_id string, event_type string, customer_id long, currency string, "
        "channel string, lines string, order_total double, schema_version int, event_time timestamp, "
        "created_time timestamp, _position string",
    ).withColumn("_ingested_at", F.current_timestamp())
    contract = load_contracts()["silver/orders"]
    report, _ = evaluate(silver_orders.order_changes(bronze), contract.rules)
    failed = {o.rule.name: o.failed for o in report.outcomes if not o.passed}
    assert failed == {"order_total_equals_lines": 1, "quantity_non_negative": 1, "currency_in_set": 1}
    assert report.blocked_partitions()  # critical: the change-apply asset applies nothing, quarantines them


def test_08_a_type_change_in_the_stream_stops_bronze_and_keeps_the_events(setup: Setup) -> None:
    """The producer starts sending order_total as text: the run fails naming the column and contract."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": setup.broker.bootstrap_servers})
    drifted = []
    for n in range(3):
        event = {
            "event_id": f"drift-{n}",
            "event_type": "created",
            "order_id": f"drift-order-{n}",
            "customer_id": 1,
            "currency": "USD",
            "lines": [{"line_no": 1, "product_id": 1, "quantity": 1, "unit_price": 9.5}],
            "order_total": f"USD {9.5 + n}",
            "event_time": "2026-11-03T10:00:00Z",
            "created_time": "2026-11-03T10:00:00Z",
            "schema_version": 2,
            "channel": "web",
        }
        drifted.append(event["event_id"])
        producer.produce(TOPIC, key=event["order_id"].encode(), value=json.dumps(event).encode())
    assert producer.flush(30) == 0
    before = row_count(setup.bronze)
    result = setup.run_ingest()
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    message = str(failure.step_failure_data.error)
    assert "bronze/order_events" in message and "'order_total' (double)" in message
    assert row_count(setup.bronze) == before  # nothing half-typed reached bronze
    letters = read_table(setup.dlq, columns=["_raw", "_error"]).to_pylist()
    held = [json.loads(r["_raw"])["event_id"] for r in letters if "order_total" in r["_error"]]
    assert sorted(held) == drifted  # every drifted event is kept for replay after the fix


def _produce_events(setup: Setup, events: list[tuple[str, str, str, float]]) -> None:
    """(order_id, event_type, event_time, order_total) events of one-line orders (2 x 10.0 USD)."""
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": setup.broker.bootstrap_servers})
    for order_id, event_type, at, total in events:
        event = {
            "event_id": f"evt-{order_id}-{at}",
            "event_type": event_type,
            "order_id": order_id,
            "customer_id": 1,
            "currency": "USD",
            "lines": [{"line_no": 1, "product_id": 1, "quantity": 2, "unit_price": 10.0}],
            "order_total": total,
            "event_time": at,
            "created_time": f"{order_date_of(order_id)}T09:00:00Z",
            "schema_version": 2,
            "channel": "web",
        }
        producer.produce(TOPIC, key=order_id.encode(), value=json.dumps(event).encode())
    assert producer.flush(30) == 0


def test_09_a_critical_rule_holds_back_only_the_order_date_it_fails_in(setup: Setup) -> None:
    """Two new orders on two days, one with a wrong total: its day is not applied (quarantined, no
    materialization, the run stops), the other day is applied and recorded."""
    _produce_events(
        setup,
        [
            ("ord-20261105-0001", "created", "2026-11-05T09:00:00Z", 25.0),  # 25.0 != 2 x 10.0
            ("ord-20261106-0001", "created", "2026-11-06T09:00:00Z", 20.0),
        ],
    )
    assert setup.run_ingest().success
    tick = setup.applier.evaluate()
    # the sensor reads bronze itself: test_05's replayed dead letter (no order_id) is routed too
    messages = setup.dataset.messages
    (replayed,) = [
        d
        for d in setup.dataset.defects_of(CONTRACT_VIOLATION)
        if "order_id" not in (messages[d.position].event or {})
    ]
    replayed_day = order_date_of(str(replayed.order_id))
    ranges = {(r.tags[RANGE_START], r.tags[RANGE_END]): r for r in tick.run_requests}
    assert set(ranges) == {(replayed_day, replayed_day), ("2026-11-05", "2026-11-06")}
    request = ranges[("2026-11-05", "2026-11-06")]
    result = setup.applier.execute(request)
    assert not result.success  # the blocking check stops the run before silver/order_lines
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    assert "order_total_equals_lines" in str(failure.step_failure_data.error)  # the blocking check
    recorded = [m.partition for m in result.asset_materializations_for_node("silver__orders")]
    assert recorded == ["2026-11-06"]
    assert not result.asset_materializations_for_node("silver__order_lines")
    orders = read_table(setup.lake.uri("silver/orders"), where="order_date >= '2026-11-05'").to_pylist()
    assert [r["order_id"] for r in orders] == ["ord-20261106-0001"]
    held = read_table(setup.lake.quarantine_uri("silver/orders")).to_pylist()
    assert [(r["order_id"], r["_failed_rules"]) for r in held] == [
        ("ord-20261105-0001", "order_total_equals_lines")
    ]
    materialized = setup.instance.get_materialized_partitions(dg.AssetKey(["silver", "orders"]))
    assert "2026-11-06" in materialized and "2026-11-05" not in materialized


def test_10_a_correction_superseding_the_bad_event_unblocks_its_order_date(setup: Setup) -> None:
    """The source re-sends the order with the right total: only the newest change per order is
    checked, so 2026-11-05 is applied now, with the corrected total."""
    _produce_events(setup, [("ord-20261105-0001", "updated", "2026-11-05T10:00:00Z", 20.0)])
    assert setup.run_ingest().success
    assert setup.apply() == [("2026-11-05", "2026-11-05")]
    (order,) = read_table(setup.lake.uri("silver/orders"), where="order_date = '2026-11-05'").to_pylist()
    assert (order["order_id"], order["order_total"], order["event_type"]) == (
        "ord-20261105-0001",
        20.0,
        "updated",
    )
    assert "2026-11-05" in setup.instance.get_materialized_partitions(dg.AssetKey(["silver", "orders"]))
    lines = read_table(setup.lake.uri("silver/order_lines"), where="order_date = '2026-11-05'").to_pylist()
    assert [(r["order_id"], r["quantity"]) for r in lines] == [("ord-20261105-0001", 2)]

"""Order events played day by day against a real broker: bronze by ingestion day, silver by order date.

The producer sends each day's events on that day (``messages_by_day``); each day is ingested into its
own bronze partition, then the apply sensor requests the order dates the new rows belong to. silver
partition D maps to bronze days D and D+1 (``lookahead_days: 1``): the planted late events of day-1
orders arrive on day 3, beyond that window, and must still land in day 1.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date

import dagster as dg
import pytest

from platform_assets.domains.orders import ORDERS_INGEST_JOB
from platform_assets.lake.delta_tables import read_table
from platform_assets.lake.location import Lake
from platform_assets.layers.specs import RANGE_END, RANGE_START
from platform_assets.operations.sensor_driver import QUIET, SensorDriver
from platform_assets.sensors.business_dates import consecutive_ranges, plan_business_date_runs
from platform_assets_tests.orders_oracle import assert_silver_orders_match, orders_platform
from sandbox.generator.order_stream import generate_order_events
from sandbox.generator.orders import LATE, OrderEventsDataset, OrderMessage
from sandbox.services.kafka_broker import KafkaBroker
from sandbox.services.order_producer import produce_order_events

TOPIC = "orders.by-day"
BRONZE = dg.AssetKey(["bronze", "order_events"])
ORDERS = dg.AssetKey(["silver", "orders"])


@dataclass
class Day:
    """What happened on one ingestion day."""

    messages: tuple[OrderMessage, ...]
    reported: list[str]  # business dates on the bronze materialization
    ranges: list[tuple[str, str]]  # order-date ranges the apply sensor requested
    applied: list[int]  # changes_applied of each apply run
    late_orders: dict[str, dict]  # silver rows of the late events' orders after the day


@dataclass
class Played:
    dataset: OrderEventsDataset
    lake: Lake
    instance: dg.DagsterInstance
    defs: dg.Definitions
    applier: SensorDriver  # the apply sensor, its cursor kept between ticks
    days: dict[str, Day] = field(default_factory=dict)


def _late_order_ids(dataset: OrderEventsDataset) -> list[str]:
    return sorted(str(d.order_id) for d in dataset.defects_of(LATE))


def _play(played: Played, broker: KafkaBroker) -> None:
    late_ids = _late_order_ids(played.dataset)
    for day, messages in played.dataset.messages_by_day().items():
        key = day.isoformat()
        produce_order_events(
            broker.bootstrap_servers, TOPIC, dataclasses.replace(played.dataset, messages=messages)
        )
        ingest = played.defs.resolve_job_def(ORDERS_INGEST_JOB).execute_in_process(
            instance=played.instance, partition_key=key, run_config=QUIET
        )
        (materialization,) = ingest.asset_materializations_for_node("bronze__order_events")
        tick = played.applier.evaluate()
        applied = []
        for request in tick.run_requests:
            result = played.applier.execute(request)
            assert result.success, request.run_key
            first, last = (date.fromisoformat(request.tags[k]) for k in (RANGE_START, RANGE_END))
            orders = result.asset_materializations_for_node("silver__orders")
            assert len(orders) == (last - first).days + 1  # one materialization per order date
            applied.append(orders[0].metadata["changes_applied"].value)
        rows = read_table(played.lake.uri("silver/orders"), where="NOT _is_deleted").to_pylist()
        played.days[key] = Day(
            messages,
            materialization.metadata["business_dates"].value,
            [(r.tags[RANGE_START], r.tags[RANGE_END]) for r in tick.run_requests],
            applied,
            {r["order_id"]: r for r in rows if r["order_id"] in late_ids},
        )


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Played]:
    with orders_platform(tmp_path_factory.mktemp("orders_by_day"), TOPIC) as platform:
        played = Played(
            generate_order_events(), platform.lake, platform.instance, platform.defs, platform.applier
        )
        _play(played, platform.broker)
        yield played


def test_each_ingestion_day_reports_the_order_dates_of_its_valid_events(played: Played) -> None:
    assert list(played.days) == ["2026-11-01", "2026-11-02", "2026-11-03", "2026-11-04"]
    for key, day in played.days.items():
        expected = sorted({m.event["created_time"][:10] for m in day.messages if m.valid})  # type: ignore[index]
        assert day.reported == expected, key
        assert day.ranges == [
            (a.isoformat(), b.isoformat()) for a, b in consecutive_ranges(map(date.fromisoformat, expected))
        ]
    # day 3 brings the late day-1 events and day-3 orders: two runs, day 2 is left alone
    assert played.days["2026-11-03"].reported == ["2026-11-01", "2026-11-03"]
    assert played.days["2026-11-03"].ranges == [("2026-11-01", "2026-11-01"), ("2026-11-03", "2026-11-03")]


def test_late_events_beyond_the_window_still_land_in_their_order_date(played: Played) -> None:
    # the window: silver/orders 2026-11-01 reads bronze 2026-11-01 and 2026-11-02, not 2026-11-03
    graph = played.defs.get_repository_def().asset_graph
    mapping = graph.get(ORDERS).partition_mappings[BRONZE]
    upstream = mapping.get_upstream_mapped_partitions_result_for_partitions(
        graph.get(ORDERS).partitions_def.subset_with_partition_keys(["2026-11-01"]),
        graph.get(ORDERS).partitions_def,
        graph.get(BRONZE).partitions_def,
    ).partitions_subset.get_partition_keys()
    assert sorted(upstream) == ["2026-11-01", "2026-11-02"]

    late = played.dataset.defects_of(LATE)
    produced_on = {m.position: d for d, day in played.days.items() for m in day.messages}
    assert {produced_on[d.position] for d in late} == {"2026-11-03"}
    expected = played.dataset.expected_orders()
    for defect in late:
        order_id = str(defect.order_id)
        assert expected[order_id]["last_event_id"] == defect.event_id  # the late event decides the state
        before = played.days["2026-11-02"].late_orders[order_id]
        after = played.days["2026-11-03"].late_orders[order_id]
        assert before["event_id"] != defect.event_id and after["event_id"] == defect.event_id
        assert after["order_date"].isoformat() == "2026-11-01"
        assert after["status"] == expected[order_id]["status"]
    assert {expected[str(d.order_id)]["status"] for d in late} == {"open", "cancelled"}


def test_the_final_state_equals_the_oracle_partition_by_partition(played: Played) -> None:
    assert_silver_orders_match(played.lake, played.instance, played.dataset)
    assert played.instance.get_materialized_partitions(ORDERS) == {"2026-11-01", "2026-11-02", "2026-11-03"}


def test_each_apply_reads_only_what_was_ingested_since_its_partitions_last_ran(played: Played) -> None:
    """Each day's apply runs check and apply one change per order the day's events touched (its newest),
    so nothing ingested on earlier days is read again."""
    for key, day in played.days.items():
        touched = {m.event["order_id"] for m in day.messages if m.valid}  # type: ignore[index]
        assert sum(day.applied) == len(touched), key
        assert len(day.applied) == len(day.ranges)


def test_with_nothing_ingested_the_apply_sensor_skips(played: Played) -> None:
    tick = played.applier.evaluate()
    assert tick.run_requests == [] and "no row ingested after" in (tick.skip_message or "")


def test_run_planning_groups_consecutive_dates_and_holds_future_ones() -> None:
    days = [date(2026, 11, d) for d in (5, 1, 2, 3, 9)]
    assert consecutive_ranges(days) == [
        (date(2026, 11, 1), date(2026, 11, 3)),
        (date(2026, 11, 5), date(2026, 11, 5)),
        (date(2026, 11, 9), date(2026, 11, 9)),
    ]
    partitions = dg.DailyPartitionsDefinition(start_date="2026-11-02", end_date="2026-11-09")
    requests, outside = plan_business_date_runs("s", days, partitions, "a..b")
    assert [(r.tags[RANGE_START], r.tags[RANGE_END]) for r in requests] == [
        ("2026-11-02", "2026-11-03"),
        ("2026-11-05", "2026-11-05"),
    ]
    assert [r.run_key for r in requests] == ["s:a..b:2026-11-02..2026-11-03", "s:a..b:2026-11-05..2026-11-05"]
    assert outside == [date(2026, 11, 1), date(2026, 11, 9)]

"""Order events that bronze takes but silver cannot place, against a real Kafka broker.

- a batch that mostly goes to the dead-letter table (a type change sparing one record) is a failed
  ``dead_letter_rate`` check and an alert, and its dead letters' unknown fields stay out of bronze;
- orders created in 1999 or 2099 (no partition takes them) are quarantined with a reason and counted,
  not left in bronze behind a sensor warning.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
from confluent_kafka import Producer

from platform_assets.contracts import load_contracts
from platform_assets.domains.orders import ORDERS_INGEST_JOB
from platform_assets.lake.delta_tables import open_table, read_table
from platform_assets.operations.sensor_driver import QUIET
from platform_assets.sensors.alerts import evaluate_alerts
from platform_assets_tests.orders_oracle import OrdersPlatform, orders_platform

TOPIC = "orders.stray"


def _event(order_id: str, created: str, **fields) -> dict:
    return {
        "event_id": f"evt-{order_id}",
        "event_type": "created",
        "order_id": order_id,
        "customer_id": 1,
        "currency": "USD",
        "lines": [{"line_no": 1, "product_id": 1, "quantity": 2, "unit_price": 10.0}],
        "order_total": 20.0,
        "event_time": created,
        "created_time": created,
        "schema_version": 2,
        "channel": "web",
        **fields,
    }


def _produce(platform: OrdersPlatform, events: list[dict]) -> None:
    producer = Producer({"bootstrap.servers": platform.broker.bootstrap_servers})
    for event in events:
        producer.produce(TOPIC, key=event["order_id"].encode(), value=json.dumps(event).encode())
    assert producer.flush(30) == 0


def _ingest(platform: OrdersPlatform) -> dg.ExecuteInProcessResult:
    return platform.defs.resolve_job_def(ORDERS_INGEST_JOB).execute_in_process(
        instance=platform.instance,
        partition_key=datetime.now(UTC).date().isoformat(),
        run_config=QUIET,
        raise_on_error=False,
    )


def test_a_mostly_dead_batch_fails_its_check_raises_an_alert_and_does_not_widen_bronze(
    tmp_path: Path,
) -> None:
    with orders_platform(tmp_path, TOPIC) as platform:
        # order_total turns into text with a new field: all but one event of the batch
        drifted = [
            _event(f"ord-20261102-{n:04d}", "2026-11-02T09:00:00Z", order_total=f"USD {n}", coupon="X")
            for n in range(1, 6)
        ]
        _produce(platform, [*drifted, _event("ord-20261102-0100", "2026-11-02T10:00:00Z")])
        result = _ingest(platform)
        assert result.success  # not all values failed: no breaking change, so bronze goes on
        (check,) = [
            e.event_specific_data
            for e in result.all_events
            if e.event_type_value == "ASSET_CHECK_EVALUATION"
            and e.event_specific_data.check_name == "dead_letter_rate"
        ]
        assert not check.passed and check.severity.value == "WARN"
        assert (check.metadata["evaluated_rows"].value, check.metadata["failed_rows"].value) == (6, 5)
        assert "5 of 6 record(s) went to the dead-letter table" in check.description

        bronze = open_table(platform.lake.uri("bronze/order_events"))
        assert "coupon" not in bronze.schema().to_arrow().names  # only the dead letters carried it
        assert read_table(platform.lake.uri("bronze/order_events"), columns=["order_id"]).num_rows == 1
        letters = read_table(platform.lake.uri("bronze/order_events_dlq"), columns=["_raw"]).to_pylist()
        assert sorted(json.loads(r["_raw"])["coupon"] for r in letters) == ["X"] * 5

        alerts = evaluate_alerts(platform.instance, platform.lake, load_contracts())
        raised = [(a.dataset, a.state, a.severity) for a in alerts if a.kind == "check"]
        assert raised == [("bronze/order_events", "dead_letter_rate", "WARN")]


def test_business_dates_no_partition_takes_are_quarantined_with_a_reason_and_counted(
    tmp_path: Path,
) -> None:
    with orders_platform(tmp_path, TOPIC) as platform:
        _produce(
            platform,
            [
                _event("ord-20261102-0001", "2026-11-02T09:00:00Z"),
                _event("ord-19990304-0001", "1999-03-04T09:00:00Z"),  # before the first partition
                _event("ord-20990101-0001", "2099-01-01T09:00:00Z"),  # a clock 73 years ahead
            ],
        )
        assert _ingest(platform).success
        today = datetime.now(UTC).date().isoformat()
        requests = platform.applier.evaluate().run_requests
        ranges = sorted((r.tags["dagster/asset_partition_range_start"], r.tags[
            "dagster/asset_partition_range_end"]) for r in requests)  # fmt: skip
        assert ranges == [("2026-11-02", "2026-11-02"), (today, today)]
        counted = 0
        for request in requests:
            result = platform.applier.execute(request)
            assert result.success, request.run_key
            for event in result.all_events:
                if event.event_type_value == "ASSET_OBSERVATION":
                    counted += event.event_specific_data.asset_observation.metadata[
                        "out_of_range_quarantined"
                    ].value
        assert counted == 2  # each change once, though both runs read it

        quarantined = read_table(platform.lake.quarantine_uri("silver/orders")).to_pylist()
        got = {(r["order_id"], r["_failed_rules"], r["_action"]): r["_reason"] for r in quarantined}
        assert got == {
            ("ord-19990304-0001", "business_date_out_of_range", "dropped"): (
                "order_date 1999-03-04 is before 2026-11-01"  # the contracts start on the sandbox's first day
            ),
            ("ord-20990101-0001", "business_date_out_of_range", "dropped"): (
                f"order_date 2099-01-01 is more than 1 day(s) after the day it was ingested, {today}"
            ),
        }
        silver = read_table(platform.lake.uri("silver/orders"), columns=["order_id"]).to_pylist()
        assert [r["order_id"] for r in silver] == ["ord-20261102-0001"]
        # nothing waits for a partition that will never come
        tick = platform.applier.evaluate()
        assert not tick.run_requests and json.loads(platform.applier.cursor)["waiting"] == []

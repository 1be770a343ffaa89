"""Alerts from freshness SLAs and failed checks: raised once per change, committed with the position."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import dagster as dg
import pytest

from platform_assets.contracts import load_contracts
from platform_assets.definitions import build_definitions, build_resources
from platform_assets.lake.delta_tables import read_table
from platform_assets.lake.location import Lake
from platform_assets.sensors import alerts as alerts_module
from platform_assets.sensors.alerts import ALERTS_SENSOR, alerts_uri, evaluate_alerts
from platform_assets.settings import PlatformSettings

ORDERS = dg.AssetKey(["silver", "orders"])  # SLA: warn after 10m, fail after 15m


class Crash(RuntimeError):
    pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict]]]:
    """A real HTTP endpoint on loopback that keeps what it is sent."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/alerts", received
    server.shutdown()
    server.server_close()


def _materialize(instance: dg.DagsterInstance) -> datetime:
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=ORDERS, partition="2026-11-01"))
    event = instance.get_latest_materialization_event(ORDERS)
    assert event is not None
    return datetime.fromtimestamp(event.timestamp, UTC)


def _fail_check(instance: dg.DagsterInstance) -> None:
    """A failed critical check on silver/orders with one failing row."""
    instance.report_runless_asset_event(
        dg.AssetCheckEvaluation(
            asset_key=ORDERS,
            check_name="order_total_equals_lines",
            passed=False,
            metadata={"failed_rows": 1},
            severity=dg.AssetCheckSeverity.ERROR,
        )
    )


def test_freshness_alerts_once_per_change_and_failed_checks_once_each(
    tmp_path: Path, webhook: tuple[str, list[dict]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, received = webhook
    contracts = load_contracts()
    lake = Lake(str(tmp_path / "lake"))
    with dg.instance_for_test() as instance:
        at = _materialize(instance)

        def evaluate(minutes: float) -> list[tuple[str, str, str]]:
            raised = evaluate_alerts(instance, lake, contracts, at + timedelta(minutes=minutes), url)
            return [(a.kind, a.dataset, a.severity) for a in raised]

        assert evaluate(5) == []  # PASS: nothing to say
        assert evaluate(11) == [("freshness", "silver/orders", "WARN")]
        assert evaluate(12) == []  # still WARN: said once
        # a crash before the commit raises nothing; the next evaluation raises the FAIL, once
        real = alerts_module.append_with_positions
        monkeypatch.setattr(
            alerts_module, "append_with_positions", lambda *a, **k: (_ for _ in ()).throw(Crash())
        )
        with pytest.raises(Crash):
            evaluate(16)
        monkeypatch.setattr(alerts_module, "append_with_positions", real)
        assert evaluate(16) == [("freshness", "silver/orders", "ERROR")]
        assert evaluate(30) == []

        _fail_check(instance)
        instance.report_runless_asset_event(
            dg.AssetCheckEvaluation(asset_key=ORDERS, check_name="currency_in_set", passed=True)
        )
        at = _materialize(instance)  # fresh again
        assert evaluate(1) == [("freshness", "silver/orders", "INFO"), ("check", "silver/orders", "ERROR")]
        assert evaluate(2) == []

    rows = read_table(alerts_uri(lake), columns=["kind", "severity", "state", "message"]).to_pylist()
    assert sorted((r["kind"], r["severity"], r["state"]) for r in rows) == [
        ("check", "ERROR", "order_total_equals_lines"),
        ("freshness", "ERROR", "FAIL"),
        ("freshness", "INFO", "PASS"),
        ("freshness", "WARN", "WARN"),
    ]
    messages = {r["state"]: r["message"] for r in rows}
    assert (
        messages["WARN"]
        == "silver/orders is WARN: last materialized 11 min ago (warn after 10m, fail after 15m)"
    )
    assert messages["order_total_equals_lines"] == (
        "silver/orders: check order_total_equals_lines failed (1 failing row(s))"
    )
    posted = [(a["kind"], a["severity"]) for body in received for a in body["alerts"]]
    assert posted == [
        ("freshness", "WARN"),
        ("freshness", "ERROR"),
        ("freshness", "INFO"),
        ("check", "ERROR"),
    ]


def test_the_sensor_runs_in_the_definitions_and_says_when_there_is_nothing_new(tmp_path: Path) -> None:
    settings = PlatformSettings.from_env({"PLATFORM_LAKE_ROOT": str(tmp_path / "lake")})
    defs = build_definitions(settings)
    with dg.instance_for_test() as instance:
        _materialize(instance)
        context = dg.build_sensor_context(
            instance=instance, resources=build_resources(settings), repository_def=defs.get_repository_def()
        )
        tick = defs.resolve_sensor_def(ALERTS_SENSOR).evaluate_tick(context)
    assert tick.run_requests == [] and tick.skip_message == "no new alert"
    assert read_table(alerts_uri(Lake(settings.lake_root))).num_rows == 0  # the position was committed


def test_the_sensors_log_lines_go_to_the_tick_in_the_instance_not_the_console(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The demo drives the sensor like the daemon: its lines are the tick's captured log, not stdout."""
    from dagster._core.definitions.instigation_logger import get_instigation_log_records
    from dagster._core.definitions.repository_definition import SINGLETON_REPOSITORY_NAME

    from platform_assets.operations.instance_sensor import workspace_repository_origin
    from platform_assets.operations.sensor_driver import SensorDriver

    settings = PlatformSettings.from_env({"PLATFORM_LAKE_ROOT": str(tmp_path / "lake")})
    defs = build_definitions(settings)
    message = "silver/orders: check order_total_equals_lines failed (1 failing row(s))"
    with dg.instance_for_test() as instance:
        _materialize(instance)
        _fail_check(instance)
        origin = workspace_repository_origin(SINGLETON_REPOSITORY_NAME)
        driver = SensorDriver(defs, instance, build_resources(settings), ALERTS_SENSOR, origin)
        capfd.readouterr()
        tick_data = driver.evaluate()
        out, err = capfd.readouterr()
        recorder = driver.recorder
        assert recorder is not None
        ticks = instance.get_ticks(recorder.origin_id, recorder.selector_id)
        assert len(ticks) == 1 and ticks[0].log_key == recorder.log_key()
        records = get_instigation_log_records(instance, ticks[0].log_key)
    assert tick_data.skip_message == "1 alert(s) raised: ERROR silver/orders order_total_equals_lines"
    assert message not in out and message not in err
    assert [(r["levelname"], r["msg"].rsplit(" - ", 1)[-1]) for r in records] == [("ERROR", message)]

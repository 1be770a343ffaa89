"""The Kafka offsets sensor waits while a run of its job is queued or running (a live stream would
otherwise queue one run per 30 s tick behind a slow run, each re-requesting the same messages)."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
from dagster._core.test_utils import create_run_for_test

from platform_assets.definitions import build_definitions, build_resources
from platform_assets.settings import PlatformSettings


def test_orders_kafka_sensor_waits_for_the_run_in_flight(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9")  # nothing listens: a probe would fail
    settings = PlatformSettings.from_env({"PLATFORM_LAKE_ROOT": str(tmp_path / "lake")})
    defs = build_definitions(settings)
    sensor = defs.resolve_sensor_def("orders_kafka_sensor")
    with dg.instance_for_test() as instance:
        running = create_run_for_test(
            instance, job_name="orders_ingest_job", status=dg.DagsterRunStatus.STARTED
        )
        resources = build_resources(settings)
        result = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, resources=resources))
        assert (
            result.skip_message
            == f"run {running.run_id} of orders_ingest_job is queued or running; waiting for it"
        )
        instance.report_run_failed(running)  # finished: the sensor asks Kafka again (which is down here)
        try:
            after = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, resources=resources))
            message = after.skip_message or ""
        except Exception as exc:  # the unreachable broker, reached only once nothing is in flight
            message = str(exc)
        assert "queued or running" not in message


def test_quality_results_sensor_waits_for_the_report_run_in_flight(tmp_path: Path) -> None:
    """A report run reads the newest ops/quality_results version: no second one queues behind it."""
    from platform_assets.lake.location import Lake
    from platform_assets.quality.results import write_evaluations
    from platform_assets_tests.test_quality_results_race import _rows

    settings = PlatformSettings.from_env({"PLATFORM_LAKE_ROOT": str(tmp_path / "lake")})
    lake = Lake(settings.lake_root)
    write_evaluations(lake, _rows("silver/fx_rates", "run-a"), "run-a", "silver/fx_rates", 1)
    sensor = build_definitions(settings).resolve_sensor_def("quality_results_sensor")
    resources = build_resources(settings)
    with dg.instance_for_test() as instance:
        running = create_run_for_test(
            instance, job_name="ops_reports_job", status=dg.DagsterRunStatus.STARTED
        )
        waiting = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, resources=resources))
        assert waiting.run_requests == []
        assert (
            waiting.skip_message
            == f"run {running.run_id} of ops_reports_job is queued or running; waiting for it"
        )
        instance.report_run_failed(running)
        after = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, resources=resources))
        assert [r.run_key for r in after.run_requests] == ["quality_results@0"]

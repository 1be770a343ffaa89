"""The UI on the demo's home, through the webserver's GraphQL API (what the UI's pages read).

A fixture runs `platform demo` into a fresh home and lake, then starts the code server, the webserver
and the daemon on that home (platform_assets/operations/ui_services.py). The demo's figures come from
its own summary ("Runs: N") and the instance's records; the UI must show exactly that history: every
job its runs, every sensor its ticks and cursor, the project's instance settings, and no run launched
by the daemon in the first minute (it resumes each sensor from the demo's cursor).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.storage.dagster_run import RunsFilter

from platform_assets.lake.delta_tables import read_table
from platform_assets.operations.ui_services import UiServices, free_port

REPO = {"repositoryName": "__repository__", "repositoryLocationName": "platform_assets"}
DEMO_SENSORS = (
    "fx_publications_sensor",
    "rds_customers_dms_sensor",
    "salesforce_watermark_sensor",
    "snowflake_products_watermark_sensor",
    "orders_kafka_sensor",
    "orders_apply_sensor",
)
STATE_IN_DATA = {"orders_kafka_sensor"}  # compares the topic's offsets with those committed in bronze


@dataclass
class DemoUi:
    services: UiServices
    home: Path
    output: str
    started_at: float

    def instance(self) -> dg.DagsterInstance:
        return dg.DagsterInstance.from_config(str(self.home))


@pytest.fixture(scope="module")
def demo_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DemoUi]:
    root = tmp_path_factory.mktemp("demo_ui")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(root / "home"),
        "PLATFORM_LAKE_ROOT": str(root / "lake"),
        "DMS_LANDING_ROOT": str(root / "landing"),
    }
    demo = subprocess.run(
        [str(Path(sys.executable).with_name("platform")), "demo"],
        env=env,
        capture_output=True,
        text=True,
        timeout=1200,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    services = UiServices(root / "home", free_port(), env=env)
    services.start()
    try:
        yield DemoUi(services, root / "home", demo.stdout, time.time())
    finally:
        services.stop()


def _runs_by_job(ui: DemoUi) -> Counter:
    data = ui.services.graphql(
        "query($r: RepositorySelector!) { repositoryOrError(repositorySelector: $r) {"
        " ... on Repository { jobs { name runs(limit: 1000) { runId } } } } }",
        {"r": REPO},
    )
    return Counter({job["name"]: len(job["runs"]) for job in data["repositoryOrError"]["jobs"]})


def _sensor(ui: DemoUi, name: str) -> dict:
    data = ui.services.graphql(
        "query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) { ... on Sensor {"
        " sensorState { status ticks(limit: 200) { status runIds timestamp }"
        " typeSpecificData { ... on SensorData { lastCursor } } } } } }",
        {"s": {**REPO, "sensorName": name}},
    )
    return data["sensorOrError"]["sensorState"]


def test_every_job_shows_the_demos_runs(demo_ui: DemoUi) -> None:
    printed = int(re.search(r"^Runs: (\d+) \(", demo_ui.output, re.M).group(1))
    with demo_ui.instance() as instance:
        stored = Counter(r.job_name for r in instance.get_runs())
        assert all(r.remote_job_origin is not None for r in instance.get_runs())
    # the 24 source runs the summary counts, plus the gold run and the ops reports' refresh
    assert sum(stored.values()) == printed + 2 == 26
    shown = _runs_by_job(demo_ui)
    assert +shown == stored  # the Jobs pages show every run of the demo, under its job
    assert set(stored) == {
        "fx_rates_job",
        "customers_cdc_job",
        "salesforce_cdc_job",
        "products_cdc_job",
        "orders_ingest_job",
        "orders_apply_job",
        "gold_job",
        "ops_reports_job",
    }


def test_every_sensor_shows_its_ticks_and_cursor(demo_ui: DemoUi) -> None:
    with demo_ui.instance() as instance:
        runs_by_sensor = Counter(r.tags.get("dagster/sensor_name") for r in instance.get_runs())
    for name in DEMO_SENSORS:
        state = _sensor(demo_ui, name)
        assert state["status"] == "RUNNING", name
        cursor = state["typeSpecificData"]["lastCursor"]
        assert bool(cursor) == (name not in STATE_IN_DATA), f"{name}: cursor {cursor!r} in the instance"
        demo_ticks = [t for t in state["ticks"] if t["timestamp"] < demo_ui.started_at]
        launched = sum(len(t["runIds"]) for t in demo_ticks)
        assert launched == runs_by_sensor[name], name


def test_the_project_instance_settings_are_in_force(demo_ui: DemoUi) -> None:
    data = demo_ui.services.graphql(
        "{ instance { info runQueueConfig { maxConcurrentRuns tagConcurrencyLimitsYaml } } }"
    )["instance"]
    assert data["runQueueConfig"]["maxConcurrentRuns"] == 4
    assert "key: platform/dataset" in data["runQueueConfig"]["tagConcurrencyLimitsYaml"]
    assert "applyLimitPerUniqueValue: true" in data["runQueueConfig"]["tagConcurrencyLimitsYaml"]
    assert "skipped: 7" in data["info"] and "num_workers: 4" in data["info"]


def test_no_run_is_launched_in_the_first_minute(demo_ui: DemoUi) -> None:
    """The daemon resumes from the demo's cursors: its ticks in the first minute launch nothing. The
    watermark sensors tick every 5 minutes, counted from their last demo tick, so only the sensors
    ticking at least once a minute must have ticked by then."""
    before = sum(_runs_by_job(demo_ui).values())
    deadline = demo_ui.started_at + 60
    every_minute = {
        "fx_publications_sensor",
        "rds_customers_dms_sensor",
        *STATE_IN_DATA,
        "orders_apply_sensor",
    }
    ticked: set[str] = set()
    while time.time() < deadline or not every_minute <= ticked:
        assert time.time() < deadline + 90, f"the daemon ticked only {sorted(ticked)}"
        for name in set(DEMO_SENSORS) - ticked:
            if any(t["timestamp"] >= demo_ui.started_at for t in _sensor(demo_ui, name)["ticks"]):
                ticked.add(name)
        time.sleep(5)
    with demo_ui.instance() as instance:
        assert instance.get_runs_count(RunsFilter()) == before == 26
    for name in DEMO_SENSORS:
        daemon_ticks = [t for t in _sensor(demo_ui, name)["ticks"] if t["timestamp"] >= demo_ui.started_at]
        assert all(not t["runIds"] for t in daemon_ticks), name


def _latest_observation(ui: DemoUi, key: str) -> dict[str, object]:
    data = ui.services.graphql(
        "query($k: AssetKeyInput!) { assetOrError(assetKey: $k) { ... on Asset {"
        " assetObservations(limit: 1) { metadataEntries { label"
        " ... on IntMetadataEntry { intValue } ... on MarkdownMetadataEntry { mdStr } } } } } }",
        {"k": {"path": key.split("/")}},
    )
    (observation,) = data["assetOrError"]["assetObservations"]
    return {e["label"]: e.get("intValue", e.get("mdStr")) for e in observation["metadataEntries"]}


def test_alerts_quarantine_and_dead_letters_are_assets_with_their_counts(demo_ui: DemoUi) -> None:
    """The demo's figures: 2 FX rows held at the gate (a null currency on 11-03), 4 order events
    dead-lettered, one alert per failed check evaluation (15, no freshness alert: all fresh)."""
    printed = re.search(r"^platform_alerts_sensor: (\d+) alert\(s\) raised", demo_ui.output, re.M)
    assert printed, demo_ui.output[-2000:]
    quarantine = _latest_observation(demo_ui, "quarantine/silver_fx_rates")
    assert quarantine["dagster/row_count"] == 2
    assert "ccy_not_null" in quarantine["latest"] and "2026-11-03" in quarantine["latest"]
    dead = _latest_observation(demo_ui, "bronze/order_events_dlq")
    assert dead["dagster/row_count"] == 4
    alerts = _latest_observation(demo_ui, "ops/alerts")
    assert alerts["dagster/row_count"] == int(printed.group(1))
    failed_checks = int(
        re.search(r"^Check evaluations: \d+ passed, (\d+) failed", demo_ui.output, re.M).group(1)
    )
    assert int(printed.group(1)) >= failed_checks == 15
    assert "silver/fx_rates" in alerts["latest"] or "bronze/" in alerts["latest"]


def test_check_alerts_carry_their_partition(demo_ui: DemoUi) -> None:
    alerts = read_table(str(demo_ui.home.parent / "lake" / "ops" / "alerts"), where="kind = 'check'")
    rows = alerts.to_pylist()
    assert len(rows) == 15 and all(r["partition"] for r in rows)
    null_ccy = sorted(r["partition"] for r in rows if r["state"] == "ccy_not_null")
    # the day, and the late range re-run over 11-02..11-04: each check result names its own partition
    assert null_ccy == ["2026-11-03", "2026-11-03"]
    assert all(f"in partition {r['partition']}" in r["message"] for r in rows)


def test_a_blocked_partition_names_its_rule_and_the_quarantine(demo_ui: DemoUi) -> None:
    with demo_ui.instance() as instance:
        messages = [
            entry.user_message
            for run in instance.get_runs(RunsFilter(job_name="fx_rates_job"))
            for entry in instance.all_logs(run.run_id)
        ]
    quarantine = str(demo_ui.home.parent / "lake" / "quarantine" / "silver_fx_rates")
    blocked = [m for m in messages if "not published" in m]
    assert blocked and all("critical rule(s) ccy_not_null failed" in m and quarantine in m for m in blocked)
    assert any("['2026-11-03']" in m for m in blocked)

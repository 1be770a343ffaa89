"""`platform up` for a bounded time, then `platform down`: real sources, real sensors, nothing left behind.

`platform up` runs as a separate process on free ports in a temporary live home, with a short scenario (6
business days of 20 s each). The test reads the webserver's GraphQL API (what the UI shows) until every
source path has a successful run launched by its sensor through the daemon, and the alerts table holds
the alert of a planted defect (the FX null currency blocked by `ccy_not_null`, or the Salesforce null
account name / negative amount), and the real-time path (bronze/silver orders, SLA 15 minutes) is within
its freshness SLA as the UI shows it. Then `platform down`: the `up` process exits, no process carrying
the live home's marker (`PLATFORM_LIVE_HOME`, inherited by every service, run worker, JVM and postmaster)
remains, and every port is free again.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from platform_assets.lake.delta_tables import read_table
from platform_assets.operations.ui_services import free_port

# one job per source path, each launched by its sensor
SOURCE_JOBS = {
    "fx_rates_job": "fx_publications_sensor",
    "customers_cdc_job": "rds_customers_dms_sensor",
    "salesforce_cdc_job": "salesforce_watermark_sensor",
    "products_cdc_job": "snowflake_products_watermark_sensor",
    "orders_ingest_job": "orders_kafka_sensor",
    "orders_apply_job": "orders_apply_sensor",
}
PORT_VARIABLES = (
    "SANDBOX_FX_PORT",
    "SANDBOX_KAFKA_PORT",
    "SANDBOX_SALESFORCE_PORT",
    "SANDBOX_SNOWFLAKE_PORT",
    "SANDBOX_POSTGRES_PORT",
)
DEADLINE_SECONDS = 1200  # about 4 minutes on an idle 2-core machine; 10+ when it is shared and loaded
# the real-time path: the Kafka order datasets whose contracts give a freshness SLA (15 minutes)
REALTIME_ASSETS = (("bronze", "order_events"), ("silver", "orders"), ("silver", "order_lines"))
PLANTED_ALERTS = {  # sandbox/generator/fx.py NULL_CURRENCY, salesforce.py NULL_NAME / NEGATIVE_AMOUNT
    ("silver/fx_rates", "ccy_not_null"),
    ("silver/accounts", "Name_not_null"),
    ("silver/opportunities", "Amount_between"),
}


def _graphql(url: str, query: str) -> dict:
    response = httpx.post(f"{url}/graphql", json={"query": query}, timeout=60)
    response.raise_for_status()
    return response.json()["data"]


def _successful_sensor_runs(url: str) -> dict[str, str]:
    """job -> sensor for each SUCCESS run whose dagster/sensor_name tag is that job's sensor."""
    data = _graphql(
        url,
        "{ runsOrError(filter: {statuses: [SUCCESS]}, limit: 500) {"
        " ... on Runs { results { jobName tags { key value } } } } }",
    )
    found: dict[str, str] = {}
    for run in data["runsOrError"]["results"]:
        sensor = {t["key"]: t["value"] for t in run["tags"]}.get("dagster/sensor_name")
        if SOURCE_JOBS.get(run["jobName"]) == sensor:
            found[run["jobName"]] = sensor
    return found


def _freshness(url: str) -> dict[str, str | None]:
    """asset -> its freshness status as the UI shows it (the daemon's evaluation of its FreshnessPolicy)."""
    keys = ", ".join(f'{{path: ["{layer}", "{table}"]}}' for layer, table in REALTIME_ASSETS)
    data = _graphql(
        url,
        f"{{ assetNodes(assetKeys: [{keys}]) {{"
        " assetKey { path } freshnessStatusInfo { freshnessStatus } } }",
    )
    found = {"/".join(node["assetKey"]["path"]): node["freshnessStatusInfo"] for node in data["assetNodes"]}
    return {"/".join(key): (found.get("/".join(key)) or {}).get("freshnessStatus") for key in REALTIME_ASSETS}


def _planted_defect_alerts(lake: Path) -> list[dict]:
    """Check alerts of planted defects: the FX null currency, the Salesforce null name / negative amount."""
    alerts = lake / "ops" / "alerts"
    if not (alerts / "_delta_log").exists():
        return []
    rows = read_table(str(alerts)).to_pylist()
    return [r for r in rows if r["kind"] == "check" and (r["dataset"], r["state"]) in PLANTED_ALERTS]


def _marked_processes(marker: str) -> list[int]:
    """Processes whose environment carries PLATFORM_LIVE_HOME=<this live home>."""
    needle = f"PLATFORM_LIVE_HOME={marker}".encode() + b"\0"
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            environ = (proc / "environ").read_bytes()
            state = (proc / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if needle in environ and state != "Z":
            found.append(int(proc.name))
    return found


def _port_free(port: int) -> bool:
    with socket.socket() as sock:  # nothing listens (closed connections in TIME_WAIT do not count)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.timeout(DEADLINE_SECONDS + 300)
def test_platform_up_runs_every_source_path_and_down_leaves_nothing(tmp_path: Path) -> None:
    live = tmp_path / "live"
    ports = {name: free_port() for name in PORT_VARIABLES}
    ui_port = free_port()
    env = {**os.environ, **{name: str(port) for name, port in ports.items()}}
    platform = str(Path(sys.executable).with_name("platform"))
    log = tmp_path / "up.log"
    command = [platform, "up", "--home", str(live), "--port", str(ui_port), "--days", "6"]
    with open(log, "wb") as out:
        up = subprocess.Popen(
            [*command, "--day-seconds", "20"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{ui_port}"
    began = time.monotonic()
    try:
        while "The platform is up" not in log.read_text() and up.poll() is None:
            assert time.monotonic() - began < 300, log.read_text()
            time.sleep(1)
        assert up.poll() is None, log.read_text()
        runs: dict[str, str] = {}
        alerts: list[dict] = []
        freshness: dict[str, str | None] = {}
        fresh = {"/".join(key): "HEALTHY" for key in REALTIME_ASSETS}
        while time.monotonic() - began < DEADLINE_SECONDS:
            runs, alerts = _successful_sensor_runs(url), _planted_defect_alerts(live / "lake")
            freshness = _freshness(url)
            if len(runs) == len(SOURCE_JOBS) and alerts and freshness == fresh:
                break
            assert up.poll() is None, log.read_text()
            time.sleep(5)
        elapsed = time.monotonic() - began
        print(f"every source path ran and an alert was raised after {elapsed:.0f} s")
        assert runs == SOURCE_JOBS, f"after {elapsed:.0f} s only {sorted(runs)}"
        assert all(a["partition"] for a in alerts), alerts  # each alert names its partition
        # the real-time path within its SLA, as the asset pages show it (HEALTHY; WARNING past 10 minutes)
        assert freshness == fresh, f"after {elapsed:.0f} s: {freshness}"
        print(f"real-time path freshness: {freshness}")
        assert set(ports.values()) | {ui_port} == {p for p in [*ports.values(), ui_port] if not _port_free(p)}
        assert _marked_processes(str(live.resolve()))  # the marker does reach the services
    finally:
        down = subprocess.run(
            [platform, "down", "--home", str(live)], env=env, capture_output=True, text=True, timeout=300
        )
        if up.poll() is None:  # only if `down` failed: never leave the group running
            os.killpg(up.pid, signal.SIGKILL)
            up.wait()
    assert down.returncode == 0, down.stdout + down.stderr
    assert up.wait(timeout=10) == 0, log.read_text()[-3000:]
    assert "platform stopped" in log.read_text()
    assert _marked_processes(str(live.resolve())) == []
    assert [p for p in [*ports.values(), ui_port] if not _port_free(p)] == []
    again = subprocess.run([platform, "down", "--home", str(live)], env=env, capture_output=True, text=True)
    assert again.stdout.strip() == f"platform down: nothing of {live.resolve()} is running"


def test_ctrl_c_on_up_while_it_starts_stops_what_started(tmp_path: Path) -> None:
    """Ctrl-C during start-up (before Dagster is up) stops the sources already started."""
    live = tmp_path / "live"
    env = {**os.environ, **{name: str(free_port()) for name in PORT_VARIABLES}}
    platform = str(Path(sys.executable).with_name("platform"))
    log = tmp_path / "up.log"
    with open(log, "wb") as out:
        up = subprocess.Popen(
            [platform, "up", "--home", str(live), "--port", str(free_port()), "--days", "6"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 180
        while "traffic started" not in log.read_text() and time.monotonic() < deadline and up.poll() is None:
            time.sleep(0.5)
        assert "traffic started" in log.read_text(), log.read_text()
        os.kill(up.pid, signal.SIGINT)
        assert up.wait(timeout=120) == 0, log.read_text()
    finally:
        if up.poll() is None:
            os.killpg(up.pid, signal.SIGKILL)
    assert _marked_processes(str(live.resolve())) == []
    assert "platform stopped" in log.read_text()

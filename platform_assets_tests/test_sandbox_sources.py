"""`sandbox <source>-start|status|stop` for Salesforce, Snowflake and PostgreSQL + DMS, `stop --all`, and
the traffic generator's plan. Real services on free ports in a tmp sandbox home: the org answers SOQL
over TLS, the catalogue holds the generator's products, PostgreSQL holds the initial customers and the
DMS task's full-load file has them; a killed service's child is stopped by `stop`. Every one serves TLS
from the sandbox home's one CA: the platform's clients verify it with that CA and are refused without."""

from __future__ import annotations

import contextlib
import csv
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import httpx
import psycopg2
import pytest

from platform_assets.sources.errors import SourceTlsError
from platform_assets.sources.snowflake.connector import SnowflakeConnector
from sandbox.detached import alive
from sandbox.generator.customers import generate_customers
from sandbox.generator.products import generate_products
from sandbox.generator.salesforce import generate_salesforce
from sandbox.services.ports import free_port
from sandbox.services.tls import SandboxCA, sandbox_ca_path, service_ca, verify_with
from sandbox.sources import postgres_dsn
from sandbox.traffic import TrafficParameters, plan


def _sandbox(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "sandbox", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


def test_salesforce_snowflake_postgres_services_start_answer_and_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = ["--home", str(tmp_path)]
    ports = {name: free_port() for name in ("salesforce", "snowflake", "postgres")}
    landing = tmp_path / "landing"
    started = {
        name: _sandbox(
            f"{name}-start",
            *home,
            f"--port={port}",
            *([f"--landing={landing}"] if name == "postgres" else []),
        )
        for name, port in ports.items()
    }
    try:
        for name, result in started.items():
            pid = int((tmp_path / f"{name}.pid").read_text())
            assert result.returncode == 0, result.stdout + result.stderr
            assert result.stdout.strip().endswith(f"127.0.0.1:{ports[name]} (pid {pid})")
        # Salesforce: the REST query API over TLS, verified with the sandbox's CA, the default session
        url = f"https://127.0.0.1:{ports['salesforce']}/services/data/v59.0/query/"
        ca = sandbox_ca_path(tmp_path)
        assert {service_ca(tmp_path, name) for name in ports} == {ca}  # one CA for every service
        with httpx.Client(verify=verify_with(ca), trust_env=False) as client:
            body = client.get(
                url,
                params={"q": "SELECT Id FROM Account"},
                headers={"Authorization": "Bearer sandbox-session"},
            ).json()
        live_accounts = [r for r in generate_salesforce().initial["Account"] if not r["IsDeleted"]]
        assert body["totalSize"] == len(live_accounts) == 60
        other_ca = SandboxCA.in_folder(tmp_path / "other").ca_path
        with (
            httpx.Client(verify=verify_with(other_ca), trust_env=False) as client,
            pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"),
        ):
            client.get(url)
        # Snowflake: the seeded catalogue through the platform's connector over HTTPS, verified
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", "")  # the connector sets it: put back after the test
        sf = {"account": "fakesnow", "user": "fake", "password": "snow", "host": "127.0.0.1"}
        sf |= {"port": ports["snowflake"], "protocol": "https", "login_timeout_seconds": 10}
        with SnowflakeConnector(**sf, ca_path=str(ca)) as connector:
            batch = connector.fetch_changes("SANDBOX.CATALOG.PRODUCTS", None)
        assert len(batch.records) == len(generate_products().initial) == 60
        monkeypatch.delenv("REQUESTS_CA_BUNDLE")
        with SnowflakeConnector(**sf) as connector, pytest.raises(SourceTlsError, match="SNOWFLAKE_CA_PATH"):
            connector.fetch_changes("SANDBOX.CATALOG.PRODUCTS", None)  # the system store: refused
        # PostgreSQL: the initial customers, and the DMS full load has exactly them
        dataset = generate_customers()
        address = f"127.0.0.1:{ports['postgres']}"
        dsn = postgres_dsn(address, ca_path=ca)  # sslmode=verify-full against the sandbox CA
        with contextlib.closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM customers")
            assert cur.fetchone()[0] == len(dataset.initial)
            cur.execute("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            assert cur.fetchone()[0] is True
        with pytest.raises(psycopg2.OperationalError, match="certificate verify failed"):
            psycopg2.connect(postgres_dsn(address, ca_path=other_ca))
        with pytest.raises(psycopg2.OperationalError, match=r"no pg_hba\.conf entry .* no encryption"):
            psycopg2.connect(postgres_dsn(address) + " sslmode=disable")  # plaintext TCP is refused
        with open(landing / "public" / "customers" / "LOAD00000001.csv", newline="") as handle:
            assert len(list(csv.DictReader(handle))) == len(dataset.initial)
        status = _sandbox("postgres-status", *home)
        assert (status.returncode, "healthy" in status.stdout) == (0, True)
        # a SIGKILLed serve-snowflake leaves fakesnow running: `stop` finds and ends it
        child = int((tmp_path / "snowflake.child.pid").read_text())
        os.kill(int((tmp_path / "snowflake.pid").read_text()), signal.SIGKILL)
        time.sleep(0.5)
        assert alive(child)
    finally:
        stopped = _sandbox("stop", "--all", *home)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert not alive(child)
    assert [n for n in ("salesforce", "snowflake", "postgres") if (tmp_path / f"{n}.pid").exists()] == []
    for port in ports.values():
        with socket.socket() as sock:  # free again: nothing listens (closed connections may linger)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind(("127.0.0.1", port))
    assert _sandbox("snowflake-status", *home).returncode == 3


def test_the_traffic_plan_is_a_function_of_its_parameters() -> None:
    params = TrafficParameters(seed=7, start=date(2026, 11, 1), days=6, day_seconds=20, order_interval=2)
    steps = plan(params, order_messages=480)
    assert steps == plan(params, order_messages=480)
    by_source = {
        s: [x for x in steps if x.source == s]
        for s in ("fx", "orders", "customers", "salesforce", "products")
    }
    assert {s: len(x) for s, x in by_source.items()} == {
        "fx": 6,
        "orders": 60,
        "customers": 5,
        "salesforce": 5,
        "products": 5,
    }
    assert [s.at for s in by_source["fx"]] == [0, 20, 40, 60, 80, 100]
    assert [s.number for s in by_source["customers"]] == [1, 2, 3, 4, 5]
    orders = by_source["orders"]
    assert (orders[0].first, orders[-1].last) == (0, 480)
    assert all(a.last == b.first for a, b in itertools.pairwise(orders))  # every message once
    assert steps == sorted(steps, key=lambda s: s.at)

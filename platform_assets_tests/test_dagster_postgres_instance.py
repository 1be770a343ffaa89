"""The Dagster instance on PostgreSQL, as the project ships it (dagster.postgres.yaml, dagster-postgres).

A real PostgreSQL server (the sandbox's Debian PostgreSQL, on a free loopback port) holds run storage, the
event log and schedule storage (a schedule started with `dagster schedule start`); a real ``dagster-daemon`` runs the queue of the shipped run coordinator
(at most one run per ``platform/dataset`` tag value) and the launcher starts each run in its own process,
so runs of different datasets go at once. Four runs (two per dataset, each holding a few seconds) are
launched through ``dagster job launch``: both datasets' runs overlap, one dataset's runs never do, and
every record is in PostgreSQL (no SQLite file in DAGSTER_HOME).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import psycopg2
import pytest
import yaml

from platform_assets.operations.ui_services import prepare_home
from sandbox.services.ports import free_port
from sandbox.services.postgres import PostgresServer

LOCATION = """
import time
import dagster as dg

@dg.op
def hold(context):
    time.sleep(float(context.run.tags.get("hold_seconds", "0")))

@dg.job
def probe():
    hold()

@dg.schedule(job=probe, cron_schedule="0 3 * * *")
def nightly_probe():
    return dg.RunRequest()

defs = dg.Definitions(jobs=[probe], schedules=[nightly_probe])
"""
BIN = Path(sys.executable).parent
HOLD_SECONDS = 8
DATASETS = ("silver/alpha", "silver/beta")


def _wait(what: str, condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.5)


@pytest.fixture
def postgres_home(tmp_path: Path) -> Iterator[tuple[Path, dict[str, str], PostgresServer]]:
    server = PostgresServer(create_shop=False)
    server.start()
    started: list[subprocess.Popen] = []
    try:
        conn = psycopg2.connect(server.dsn_for("postgres"))
        conn.autocommit = True  # CREATE DATABASE runs outside a transaction
        with conn.cursor() as cur:
            cur.execute("CREATE DATABASE dagster")
        conn.close()
        home, workdir = tmp_path / "home", tmp_path / "location"
        workdir.mkdir()
        prepare_home(home, storage="postgres")
        config = yaml.safe_load((home / "dagster.yaml").read_text())
        # the queue is polled every 5 s by default; 1 s keeps the test short (the limits are the shipped ones)
        config["run_coordinator"]["config"]["dequeue_interval_seconds"] = 1
        (home / "dagster.yaml").write_text(yaml.safe_dump(config))
        (workdir / "location.py").write_text(LOCATION)
        env = {
            **os.environ,
            "DAGSTER_HOME": str(home),
            "DAGSTER_PG_HOST": "127.0.0.1",
            "DAGSTER_PG_PORT": str(server.port),
            "DAGSTER_PG_USER": "postgres",
            "DAGSTER_PG_PASSWORD": "not-used-with-trust-auth",
            "DAGSTER_PG_DB": "dagster",
        }
        yield workdir, env, server
    finally:
        for process in started:
            process.kill()
        server.stop()
        shutil.rmtree(tmp_path / "home", ignore_errors=True)


def _start(workdir: Path, env: dict[str, str], *command: str) -> subprocess.Popen:
    log = open(workdir / f"{Path(command[0]).name}.log", "ab")  # noqa: SIM115
    return subprocess.Popen(
        command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def _launch(workdir: Path, env: dict[str, str], dataset: str) -> None:
    tags = f'{{"platform/dataset": "{dataset}", "hold_seconds": "{HOLD_SECONDS}"}}'
    launch = subprocess.run(
        [str(BIN / "dagster"), "job", "launch", "-w", "workspace.yaml", "-j", "probe", "--tags", tags],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert launch.returncode == 0, launch.stderr


def _overlap(a: dg.DagsterRun, b: dg.DagsterRun, records: dict[str, dg.RunRecord]) -> bool:
    ra, rb = records[a.run_id], records[b.run_id]
    return ra.start_time < rb.end_time and rb.start_time < ra.end_time  # type: ignore[operator]


def test_runs_queue_per_dataset_and_run_side_by_side_on_postgres(postgres_home) -> None:
    workdir, env, server = postgres_home
    port = free_port()
    (workdir / "workspace.yaml").write_text(
        yaml.safe_dump(
            {"load_from": [{"grpc_server": {"host": "127.0.0.1", "port": port, "location_name": "probe"}}]}
        )
    )
    processes = [
        _start(
            workdir,
            env,
            str(BIN / "dagster"),
            "api",
            "grpc",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-f",
            "location.py",
        ),
    ]
    try:
        _wait("the code server", lambda: socket.socket().connect_ex(("127.0.0.1", port)) == 0, 120)
        for dataset in (*DATASETS, *DATASETS):
            _launch(workdir, env, dataset)
        processes.append(_start(workdir, env, str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml"))
        os.environ.update({k: v for k, v in env.items() if k.startswith("DAGSTER_PG_")})
        with dg.DagsterInstance.from_config(env["DAGSTER_HOME"]) as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"

            def all_done() -> bool:
                runs = instance.get_runs()
                failed = [r.run_id for r in runs if r.status == dg.DagsterRunStatus.FAILURE]
                assert not failed, f"runs failed: {failed}; see {workdir}"
                return len(runs) == 4 and all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs)

            _wait("the four runs to succeed", all_done, 300)
            runs = instance.get_runs()
            records = {r.dagster_run.run_id: r for r in instance.get_run_records()}
            by_dataset = {d: [r for r in runs if r.tags["platform/dataset"] == d] for d in DATASETS}
            for dataset, pair in by_dataset.items():
                assert len(pair) == 2 and not _overlap(*pair, records), f"{dataset}: two runs at once"
            alpha, beta = by_dataset.values()
            # the launcher ran runs of the two datasets side by side
            assert any(_overlap(a, b, records) for a in alpha for b in beta)
            pids = {
                e.dagster_event.engine_event_data.metadata["pid"].value
                for r in runs
                for e in instance.all_logs(r.run_id, of_type=dg.DagsterEventType.ENGINE_EVENT)
                if (e.message or "").startswith("Started process for run")
            }
            assert len(pids) == 4  # one run worker process per run

        started = subprocess.run(
            [str(BIN / "dagster"), "schedule", "start", "nightly_probe", "-w", "workspace.yaml"],
            cwd=workdir,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert started.returncode == 0, started.stderr
        with psycopg2.connect(server.dsn_for("dagster")) as conn, conn.cursor() as cur:
            cur.execute("SELECT count(*) FROM runs")
            assert cur.fetchone() == (4,)
            cur.execute(
                "SELECT count(DISTINCT run_id) FROM event_logs WHERE dagster_event_type = %s",
                (dg.DagsterEventType.RUN_SUCCESS.value,),  # stored under its legacy name, PIPELINE_SUCCESS
            )
            assert cur.fetchone() == (4,)
            # the started schedule's state is in schedule storage
            cur.execute("SELECT job_type, status, job_body LIKE '%nightly_probe%' FROM jobs")
            assert cur.fetchall() == [("SCHEDULE", "RUNNING", True)]
        assert not list(Path(env["DAGSTER_HOME"]).rglob("*.db"))  # nothing fell back to SQLite
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, 9)
                process.wait(timeout=10)

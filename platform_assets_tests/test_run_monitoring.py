"""Run monitoring in the instance configuration the platform ships (dagster.yaml at the repo root).

A real ``dagster-daemon`` runs against a temporary DAGSTER_HOME prepared as ``platform demo`` does it
(``demo.prepare_home``; only the poll interval is shortened). Two runs of one dataset are submitted
through the queued run coordinator; the tag limit lets one start. Then the run worker, the code server
and the daemon are killed with SIGKILL (a crash), so nothing is left to report the run; when the
platform comes back, run monitoring must mark it failed, and the queued run must start and finish.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import dagster as dg
import pytest
import yaml

from platform_assets.demo import prepare_home
from platform_assets.operations.run_launcher import process_alive, worker_pid
from sandbox.services.ports import free_port

LOCATION = """
import time
import dagster as dg

@dg.op
def hold(context):
    time.sleep(float(context.run.tags.get("hold_seconds", "0")))

@dg.job(tags={"platform/dataset": "silver/probe"})
def probe():
    hold()
"""
BIN = Path(sys.executable).parent


def _wait(what: str, condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.5)


class Processes:
    """Processes this test starts, each in its own session so that stopping one stops its children."""

    def __init__(self, home: Path, workdir: Path) -> None:
        self.env = {**os.environ, "DAGSTER_HOME": str(home)}
        self.workdir = workdir
        self.started: list[subprocess.Popen] = []

    def start(self, *command: str) -> subprocess.Popen:
        log = open(self.workdir / f"{Path(command[0]).name}-{len(self.started)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            command,
            cwd=self.workdir,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


@pytest.fixture
def platform_home(tmp_path: Path) -> Iterator[tuple[Path, Processes, int]]:
    home, workdir = tmp_path / "home", tmp_path / "location"
    workdir.mkdir()
    prepare_home(home)  # the repo's dagster.yaml, as the demo and `platform up` use it
    config = yaml.safe_load((home / "dagster.yaml").read_text())
    config.setdefault("run_monitoring", {})["poll_interval_seconds"] = 1  # only to keep the test short
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    (workdir / "location.py").write_text(LOCATION)
    port = free_port()
    (workdir / "workspace.yaml").write_text(
        yaml.safe_dump(
            {"load_from": [{"grpc_server": {"host": "127.0.0.1", "port": port, "location_name": "probe"}}]}
        )
    )
    processes = Processes(home, workdir)
    try:
        yield home, processes, port
    finally:
        processes.stop_all()
        shutil.rmtree(home, ignore_errors=True)


def _code_server(processes: Processes, port: int) -> subprocess.Popen:
    server = processes.start(
        str(BIN / "dagster"), "api", "grpc", "-h", "127.0.0.1", "-p", str(port), "-f", "location.py"
    )

    def listening() -> bool:
        with socket.socket() as probe:
            return probe.connect_ex(("127.0.0.1", port)) == 0

    _wait("the code server", listening, 60)
    return server


def _launch(processes: Processes, hold_seconds: int) -> None:
    launch = subprocess.run(
        [
            str(BIN / "dagster"),
            "job",
            "launch",
            "-w",
            "workspace.yaml",
            "-j",
            "probe",
            "--tags",
            f'{{"hold_seconds": "{hold_seconds}"}}',
        ],
        cwd=processes.workdir,
        env=processes.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert launch.returncode == 0, launch.stderr


def test_a_killed_run_is_marked_failed_and_the_queue_moves(platform_home) -> None:
    home, processes, port = platform_home
    server = _code_server(processes, port)
    daemon = processes.start(str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        _launch(processes, hold_seconds=600)
        _launch(processes, hold_seconds=0)
        runs = sorted(instance.get_runs(), key=lambda r: r.tags["hold_seconds"], reverse=True)
        held, waiting = (r.run_id for r in runs)

        def status(run_id: str) -> dg.DagsterRunStatus:
            return instance.get_run_by_id(run_id).status  # type: ignore[union-attr]

        # the launcher records the worker's pid while the run is STARTING; the worker then starts it
        _wait(
            "the first run to start",
            lambda: worker_pid(instance, held) is not None and status(held) == dg.DagsterRunStatus.STARTED,
            120,
        )
        assert status(waiting) == dg.DagsterRunStatus.QUEUED  # one run per dataset at a time
        pid = worker_pid(instance, held)
        assert pid is not None and process_alive(pid)
        # the machine "crashes": the run worker, the code server and the daemon die at once
        os.kill(pid, signal.SIGKILL)
        for process in (server, daemon):
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        _wait("the worker to be gone", lambda: not process_alive(pid), 10)
        assert status(held) == dg.DagsterRunStatus.STARTED  # nothing reported it: it would stay so
        # the platform comes back up
        _code_server(processes, port)
        processes.start(str(BIN / "dagster-daemon"), "run", "-w", "workspace.yaml")

        _wait("the killed run to be marked failed", lambda: status(held) == dg.DagsterRunStatus.FAILURE, 90)
        assert any(f"run worker pid {pid} is gone" in (e.message or "") for e in instance.all_logs(held))
        _wait("the queued run to run", lambda: status(waiting) == dg.DagsterRunStatus.SUCCESS, 120)

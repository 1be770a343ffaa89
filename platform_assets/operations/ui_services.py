"""The Dagster UI and daemon on a Dagster home with the project's instance settings.

Three processes, each in its own session so stopping one process group stops everything it spawned
(run workers included): one code server (the code location is loaded once), ``dagster-webserver`` and
``dagster-daemon run``, both pointed at that code server by a workspace file written into the home.
These are the current commands (``dagster dev`` is superseded and warns that a ``dagster.yaml`` in the
current folder is ignored); the project's ``dagster.yaml`` is copied into ``DAGSTER_HOME`` at every
start, the only place Dagster reads it from.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[2]
PROJECT_DAGSTER_YAML = REPO_ROOT / "dagster.yaml"
POSTGRES_DAGSTER_YAML = REPO_ROOT / "dagster.postgres.yaml"  # storage in PostgreSQL (dagster-postgres)
INSTANCE_STORAGE_ENV = "PLATFORM_DAGSTER_STORAGE"  # sqlite (default) or postgres
LOCATION_NAME = "platform_assets"  # as in workspace.yaml
MODULE = "platform_assets.definitions"
HOST = "127.0.0.1"


class UiServicesError(RuntimeError):
    pass


HOME_MARKER = ".platform-home"  # a Dagster home the platform created (so it may reset it)
DEMO_HOME = REPO_ROOT / ".dagster_home"


def instance_settings_file(storage: str | None = None) -> Path:
    """The project's instance settings for ``storage`` (default: $PLATFORM_DAGSTER_STORAGE, else sqlite)."""
    storage = (storage or os.environ.get(INSTANCE_STORAGE_ENV) or "sqlite").strip().lower()
    files = {"sqlite": PROJECT_DAGSTER_YAML, "postgres": POSTGRES_DAGSTER_YAML}
    if storage not in files:
        raise UiServicesError(f"{INSTANCE_STORAGE_ENV}={storage!r} is not one of sqlite, postgres")
    return files[storage]


def prepare_home(dagster_home: Path, storage: str | None = None) -> Path:
    """``dagster_home`` with the project's instance settings (refreshed: the project's file is the truth)."""
    dagster_home.mkdir(parents=True, exist_ok=True)
    (dagster_home / HOME_MARKER).touch()
    target = dagster_home / "dagster.yaml"
    shutil.copyfile(instance_settings_file(storage), target)
    return target


def reset_home(dagster_home: Path) -> None:
    """Forget a platform home's history (runs, event logs, ticks, sensor cursors) with its lake.

    Only a home the platform created (or the demo's default) is removed: DAGSTER_HOME may point at
    someone's real instance."""
    if not dagster_home.exists():
        return
    if not (dagster_home / HOME_MARKER).exists() and dagster_home.resolve() != DEMO_HOME:
        raise UiServicesError(
            f"DAGSTER_HOME={dagster_home} was not created by the platform; not removing its history "
            "(use an empty folder, or keep the lake and the history with --keep-lake)"
        )
    shutil.rmtree(dagster_home)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


@dataclass
class UiServices:
    """Start with ``start()`` (or ``with``), stop with ``stop()``; ``url`` is the UI's address."""

    home: Path
    port: int = 3000
    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, timeout_seconds: float = 180.0) -> UiServices:
        self.home = self.home.resolve()
        prepare_home(self.home)
        code_port = free_port()
        workspace = self.home / "workspace.yaml"
        workspace.write_text(
            "# written by platform ui: the webserver and the daemon share one code server\n"
            f"load_from:\n  - grpc_server:\n      host: {HOST}\n      port: {code_port}\n"
            f"      location_name: {LOCATION_NAME}\n"
        )
        deadline = time.monotonic() + timeout_seconds
        try:
            self._spawn(
                "code-server",
                [
                    _bin("dagster"),
                    "code-server",
                    "start",
                    "-m",
                    MODULE,
                    "--location-name",
                    LOCATION_NAME,
                    "-h",
                    HOST,
                    "-p",
                    str(code_port),
                ],
            )
            self._wait(lambda: _code_server_ready(code_port), deadline, "the code server")
            self._spawn("webserver", [_bin("dagster-webserver"), "-w", str(workspace), *self._listen()])
            self._spawn("daemon", [_bin("dagster-daemon"), "run", "-w", str(workspace)])
            self._wait(self._location_loaded, deadline, "the webserver")
        except BaseException:
            self.stop()
            raise
        return self

    def _listen(self) -> list[str]:
        return ["-h", HOST, "-p", str(self.port)]

    def _spawn(self, name: str, command: list[str]) -> None:
        env = {**self.env, "DAGSTER_HOME": str(self.home)}
        with open(self.home / f"{name}.log", "ab") as log:
            self.processes[name] = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,  # its own process group: stop() signals the whole group
            )

    def _wait(self, ready, deadline: float, what: str) -> None:
        while time.monotonic() < deadline:
            for name, process in self.processes.items():
                if process.poll() is not None:
                    log = self.home / f"{name}.log"
                    raise UiServicesError(f"{name} exited with code {process.returncode}; see {log}")
            if ready():
                return
            time.sleep(0.5)
        raise UiServicesError(f"{what} did not become ready; see the logs in {self.home}")

    def graphql(self, query: str, variables: Mapping[str, object] | None = None) -> dict:
        response = httpx.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables or {}}, timeout=60
        )
        response.raise_for_status()
        body = response.json()
        if body.get("errors"):
            raise UiServicesError(f"GraphQL errors: {body['errors']}")
        return body["data"]

    def _location_loaded(self) -> bool:
        try:
            data = self.graphql(
                "{ workspaceOrError { ... on Workspace { locationEntries { name loadStatus"
                " locationOrLoadError { __typename } } } } }"
            )
        except (httpx.HTTPError, UiServicesError):
            return False
        entries = data["workspaceOrError"].get("locationEntries", [])
        return any(
            e["name"] == LOCATION_NAME
            and e["loadStatus"] == "LOADED"
            and e["locationOrLoadError"]["__typename"] == "RepositoryLocation"
            for e in entries
        )

    def wait(self) -> int:
        """Block until a process exits or SIGINT/SIGTERM arrives; then stop everything."""
        stop = {"signal": None}

        def handler(signum, frame):
            stop["signal"] = signum

        previous = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            while stop["signal"] is None:
                exited = [n for n, p in self.processes.items() if p.poll() is not None]
                if exited:
                    print(f"{', '.join(exited)} exited; stopping the rest (logs in {self.home})")
                    return 1
                time.sleep(0.5)
            return 0
        finally:
            self.stop()
            for sig, old in previous.items():
                signal.signal(sig, old)

    def stop(self, timeout_seconds: float = 20.0) -> None:
        """SIGTERM each process group (the daemon first, the code server last), then SIGKILL."""
        for name in ("daemon", "webserver", "code-server"):
            process = self.processes.pop(name, None)
            if process is None:
                continue
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(process.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    process.wait(timeout_seconds)
                    break
                except subprocess.TimeoutExpired:
                    continue
            _kill_group_leftovers(process.pid)

    def __enter__(self) -> UiServices:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _kill_group_leftovers(pgid: int) -> None:
    """Run workers and code-server children of a stopped group that outlived their parent."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def _code_server_ready(port: int) -> bool:
    from dagster._grpc.client import DagsterGrpcClient

    try:
        DagsterGrpcClient(port=port, host=HOST).list_repositories()
    except Exception:  # not up yet, or still loading the code location
        return False
    return True


def run_ui(home: Path, port: int) -> int:
    """``platform ui``: the UI and the daemon in the foreground until Ctrl-C."""
    services = UiServices(home, port)
    print(f"Starting the Dagster code server, webserver and daemon on DAGSTER_HOME={home.resolve()} ...")
    services.start()
    print(
        f"Dagster UI at {services.url} (instance settings: {home.resolve() / 'dagster.yaml'}); Ctrl-C stops"
    )
    return services.wait()

"""``platform up`` / ``platform down``: the live platform on one machine.

``up`` starts, in a live home (default ``./.live``, reset at every ``up``: the sandbox sources start
empty, so the lake and the Dagster history start with them):

1. every sandbox source as a detached service (``sandbox/``: FX, Kafka, Salesforce, Snowflake,
   PostgreSQL with its DMS task), state under ``<live>/sandbox``;
2. the traffic generator (``sandbox/traffic.py``), which keeps them moving;
3. the Dagster code server, webserver and daemon (``operations/ui_services.py``) on
   ``<live>/dagster_home`` with the project's ``dagster.yaml``, pointed at those sources through the
   platform's environment variables; every sensor is set running.

It prints where to look and stays in the foreground; Ctrl-C (or SIGTERM, which ``platform down`` sends)
stops the Dagster processes, then the traffic and the sources. ``down`` also stops whatever a killed
``up`` left behind, from the pid files in the live home.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import sys
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

HOST = "127.0.0.1"
LIVE_MARKER = ".platform-live"  # a live home `up` created, so it may reset it
UP_PID = "up.pid"
UP_STATE = "up.json"  # the UI's url and the Dagster processes' pids, for `down`
SESSION_ID = "sandbox-session"
DOWN_TIMEOUT_SECONDS = 120.0


@dataclass(frozen=True)
class LivePorts:
    ui: int = 3000
    fx: int = 8765
    kafka: int = 9092
    salesforce: int = 8443
    snowflake: int = 8766
    postgres: int = 5433

    @classmethod
    def from_env(cls, ui: int, env: Mapping[str, str] = os.environ) -> LivePorts:
        def port(name: str, default: int) -> int:
            return int(env.get(name) or default)

        return cls(
            ui=ui,
            fx=port("SANDBOX_FX_PORT", cls.fx),
            kafka=port("SANDBOX_KAFKA_PORT", cls.kafka),
            salesforce=port("SANDBOX_SALESFORCE_PORT", cls.salesforce),
            snowflake=port("SANDBOX_SNOWFLAKE_PORT", cls.snowflake),
            postgres=port("SANDBOX_POSTGRES_PORT", cls.postgres),
        )


@dataclass(frozen=True)
class LiveHome:
    root: Path

    @property
    def sandbox(self) -> Path:
        return self.root / "sandbox"

    @property
    def dagster_home(self) -> Path:
        return self.root / "dagster_home"

    @property
    def lake(self) -> Path:
        return self.root / "lake"

    @property
    def landing(self) -> Path:
        return self.root / "landing" / "dms"

    def reset(self) -> None:
        if self.root.exists():
            if not (self.root / LIVE_MARKER).exists():
                raise SystemExit(f"platform up: {self.root} exists and was not created by `platform up`")
            shutil.rmtree(self.root)
        self.root.mkdir(parents=True)
        (self.root / LIVE_MARKER).touch()


def platform_env(home: LiveHome, ports: LivePorts, base: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The platform's configuration pointing at the sandbox sources of this live home: every source
    over TLS, each client verifying its server against the sandbox's one CA."""
    from sandbox.services.tls import sandbox_ca_path

    ca = str(sandbox_ca_path(home.sandbox))
    token = base.get("SANDBOX_FX_TOKEN") or "sandbox-token"
    return {
        **base,
        "PLATFORM_LIVE_HOME": str(home.root),  # marks every process of this live platform (see `down`)
        "DAGSTER_HOME": str(home.dagster_home),
        "PLATFORM_LAKE_ROOT": str(home.lake),
        "DMS_LANDING_ROOT": str(home.landing),
        "PLATFORM_REPORTS_DIR": str(home.root / "reports"),
        "PLATFORM_CA_PATH": ca,
        "FX_API_URL": f"https://{HOST}:{ports.fx}",
        "FX_API_CA_PATH": ca,
        "FX_API_TOKEN": token,
        "KAFKA_BOOTSTRAP_SERVERS": f"{HOST}:{ports.kafka}",
        "KAFKA_SECURITY_PROTOCOL": "SSL",
        "KAFKA_SSL_CA_LOCATION": ca,
        "SALESFORCE_INSTANCE_URL": f"https://{HOST}:{ports.salesforce}",
        "SALESFORCE_SESSION_ID": SESSION_ID,
        "SALESFORCE_CA_PATH": ca,
        "SNOWFLAKE_HOST": HOST,
        "SNOWFLAKE_PORT": str(ports.snowflake),
        "SNOWFLAKE_PROTOCOL": "https",
        "SNOWFLAKE_CA_PATH": ca,
    }


def _sandbox(argv: list[str]) -> int:
    from sandbox.cli import main

    return main(argv)


def start_sources(home: LiveHome, ports: LivePorts, days: int, seed: int) -> None:
    """Every sandbox source at once; each command waits until its service answers."""
    rounds = str(max(3, days - 1))  # one change round (batch) per business day after the first
    sb = ["--home", str(home.sandbox)]
    commands = [
        ["start", *sb, f"--port={ports.fx}", f"--days={days}", f"--seed={seed}"],
        ["kafka-start", *sb, f"--port={ports.kafka}"],
        ["salesforce-start", *sb, f"--port={ports.salesforce}", f"--rounds={rounds}"],
        ["snowflake-start", *sb, f"--port={ports.snowflake}", f"--rounds={rounds}"],
        [
            "postgres-start",
            *sb,
            f"--port={ports.postgres}",
            f"--batches={rounds}",
            f"--seed={seed}",
            f"--landing={home.landing}",
        ],
    ]
    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        codes = list(pool.map(_sandbox, commands))
    if any(codes):
        raise RuntimeError("a sandbox source did not start (see the messages above)")


def hold_at_first_day(home: LiveHome, ports: LivePorts) -> None:
    """The FX service shows every publication by default: the live scenario starts on its first day.
    The order topic exists before the first sensor tick (the traffic generator fills it)."""
    import httpx

    from sandbox.services.kafka_broker import client_security, create_topic
    from sandbox.services.tls import sandbox_ca_path, verify_with
    from sandbox.traffic import ORDERS_TOPIC, TrafficParameters, fx_clock

    ca = sandbox_ca_path(home.sandbox)
    create_topic(f"{HOST}:{ports.kafka}", ORDERS_TOPIC, 3, exist_ok=True, security=client_security(ca))

    clock = {"now": fx_clock(TrafficParameters(), 0)}
    httpx.post(
        f"https://{HOST}:{ports.fx}/_sandbox/clock",
        json=clock,
        timeout=10,
        trust_env=False,
        verify=verify_with(ca),
    ).raise_for_status()


def start_all_sensors(services: object) -> list[str]:
    """Start every sensor of the code location that is not running; returns the ones started."""
    from platform_assets.operations.ui_services import LOCATION_NAME

    repo = {"repositoryLocationName": LOCATION_NAME, "repositoryName": "__repository__"}
    data = services.graphql(  # type: ignore[attr-defined]
        "query($r: RepositorySelector!) { sensorsOrError(repositorySelector: $r) {"
        " ... on Sensors { results { name sensorState { status } } } } }",
        {"r": repo},
    )
    started = []
    for sensor in data["sensorsOrError"]["results"]:
        if sensor["sensorState"]["status"] != "RUNNING":
            services.graphql(  # type: ignore[attr-defined]
                "mutation($s: SensorSelector!) { startSensor(sensorSelector: $s) { __typename } }",
                {"s": {**repo, "sensorName": sensor["name"]}},
            )
            started.append(sensor["name"])
    return started


def run_up(root: Path, ui_port: int, days: int, day_seconds: float, seed: int) -> int:
    from platform_assets.operations.ui_services import UiServices

    home = LiveHome(root.resolve())
    if _up_pid(home) is not None:
        print(
            f"platform up is already running on {home.root} (pid {_up_pid(home)}); `platform down` stops it"
        )
        return 1
    down(home, quiet=True)  # whatever an earlier, killed `up` left behind
    home.reset()
    (home.root / UP_PID).write_text(f"{os.getpid()}\n")
    ports = LivePorts.from_env(ui_port)
    env = platform_env(home, ports)
    os.environ["PLATFORM_LIVE_HOME"] = str(home.root)  # inherited by the sandbox services too

    def interrupted(signum: int, frame: object) -> None:  # while starting: abort, then stop what started
        raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, interrupted)
    services = UiServices(home.dagster_home, ui_port, env)
    try:
        print(f"Starting the sandbox sources in {home.sandbox} ...")
        start_sources(home, ports, days, seed)
        # The sources hold their first day until the daemon's sensors have had their first tick: the
        # UI then shows each path's first run on the first day, and the traffic moves on from there.
        hold_at_first_day(home, ports)
        print("Starting the Dagster code server, webserver and daemon ...")
        services.start()
        traffic = ["traffic-start", "--home", str(home.sandbox), f"--days={days}", f"--seed={seed}"]
        if _sandbox([*traffic, f"--day-seconds={day_seconds}"]) != 0:
            raise RuntimeError("the traffic generator did not start")
        _write_state(home, services)
        started = start_all_sensors(services)
        _print_where_to_look(home, services.url, started)
        return services.wait()  # its own SIGINT/SIGTERM handlers: returns when one arrives
    except KeyboardInterrupt:
        print("\nstopping ...")
        return 0
    except RuntimeError as exc:
        print(f"platform up: {exc}", file=sys.stderr)
        return 1
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, signal.SIG_IGN)  # finish stopping even on a second Ctrl-C
        services.stop()
        _stop_sandbox(home)
        (home.root / UP_PID).unlink(missing_ok=True)
        (home.root / UP_STATE).unlink(missing_ok=True)
        print(f"platform stopped: sources, traffic, Dagster (the lake and history stay in {home.root})")


def _write_state(home: LiveHome, services: object) -> None:
    pids = {name: p.pid for name, p in services.processes.items()}  # type: ignore[attr-defined]
    state = {"url": services.url, "dagster_process_groups": pids}  # type: ignore[attr-defined]
    (home.root / UP_STATE).write_text(json.dumps(state) + "\n")


def _print_where_to_look(home: LiveHome, url: str, started: list[str]) -> None:
    note = f" (started {len(started)} that were stopped: {', '.join(started)})" if started else ""
    print(
        f"\nThe platform is up. Dagster UI: {url}  (every sensor running{note})\n"
        f"  Overview / Runs:   {url}/runs        sensor-launched runs, per source\n"
        f"  Automation:        {url}/automation  sensors and their ticks (platform_alerts_sensor: alerts)\n"
        f"  Asset checks:      {url}/asset-groups  (group operations: ops/alerts, quarantine, DLQs)\n"
        f"  Traffic log:       {home.sandbox / 'traffic.log'}\n"
        f"  Lake:              {home.lake}\n"
        f"  DAGSTER_HOME:      {home.dagster_home}\n"
        "Ctrl-C here, or `platform down` from another shell, stops everything."
    )


def _stop_sandbox(home: LiveHome) -> None:
    if home.sandbox.exists():
        _sandbox(["stop", "--all", "--home", str(home.sandbox)])


def _up_pid(home: LiveHome) -> int | None:
    from sandbox.detached import pid_from_file

    return pid_from_file(home.root / UP_PID, b"up")


def down(home: LiveHome, quiet: bool = False) -> int:
    """Stop a running ``up`` (SIGTERM, it stops what it started), then anything a killed one left."""
    from sandbox.detached import alive, terminate

    pid = _up_pid(home)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + DOWN_TIMEOUT_SECONDS
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.2)
        if alive(pid):
            terminate(pid, 5.0)
    state_file = home.root / UP_STATE
    if state_file.exists():
        for group in json.loads(state_file.read_text())["dagster_process_groups"].values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(group, signal.SIGKILL)
        state_file.unlink()
    if any(home.sandbox.glob("*.pid")):  # sources a killed `up` did not stop
        _stop_sandbox(home)
    (home.root / UP_PID).unlink(missing_ok=True)
    if not quiet:
        print(
            f"platform down: nothing of {home.root} is running" if pid is None else "platform down: stopped"
        )
    return 0


def run_down(root: Path) -> int:
    return down(LiveHome(root.resolve()))

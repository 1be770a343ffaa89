"""The Salesforce, Snowflake and PostgreSQL (+ DMS task) sandbox sources as detached services.

Each is a ``serve-<name>`` process started by ``sandbox <name>-start`` through the one mechanism of
``sandbox/detached.py`` (state files ``<name>.pid``, ``<name>.address``, ``<name>.log`` in the sandbox
home), wrapping the stand-in the tests use:

- ``salesforce``: the sandbox org (``services/salesforce_api.py``) over HTTPS; change rounds are applied
  through its ``/_sandbox/rounds`` route.
- ``snowflake``: fakesnow in server mode (``services/snowflake_server.py``) seeded with the product
  catalogue; its child process is recorded in ``snowflake.child.pid``.
- ``postgres``: a fresh PostgreSQL cluster with logical replication (``services/postgres.py``) holding
  the initial customers, and the DMS-like task (``services/dms_task.py``) doing the full load into the
  DMS landing folder, then writing CDC files every ``--poll-seconds``. The postmaster is recorded in
  ``postgres.postmaster.pid`` and the cluster folder in ``postgres.cluster``.

Every one serves TLS by default with a certificate from the sandbox home's one CA
(``services/tls.py``: ``tls/sandbox-ca.pem``, give it to the platform as ``PLATFORM_CA_PATH``); ``--plaintext``
is the explicit opt-out (not for Salesforce, whose client only speaks HTTPS).

Every one writes ``<name>.ready`` once it can be used: ``answers`` checks it, then the service itself.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import threading
import time
from pathlib import Path

import httpx

from sandbox.detached import HOST, DetachedService, alive, kill_group, pid_from_file, read_text
from sandbox.services.tls import mark_tls, sandbox_ca, sandbox_ca_path, serve_tls, verify_with

SALESFORCE_DEFAULT_PORT = 8443
SALESFORCE_DEFAULT_SESSION = "sandbox-session"  # the platform's default (domains/salesforce.py)
SNOWFLAKE_DEFAULT_PORT = 8766  # the platform's default SNOWFLAKE_PORT (domains/products.py)
POSTGRES_DEFAULT_PORT = 5433  # beside a system PostgreSQL on 5432
DMS_SLOT = "sandbox"
DEFAULT_LANDING = ".landing/dms"


def _stop_event() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


def _ready_file(home: Path, name: str) -> Path:
    return home / f"{name}.ready"


def _write_ready(home: Path, name: str, **parameters: object) -> None:
    """``<name>.ready``: the parameters the service generated its data with (the traffic generator
    rebuilds the same dataset from them to play its changes)."""
    _ready_file(home, name).write_text(json.dumps(parameters) + "\n")


def ready_parameters(home: Path, name: str) -> dict[str, object] | None:
    raw = read_text(_ready_file(home, name))
    return json.loads(raw) if raw else None


def _listening(address: str) -> bool:
    host, _, port = address.rpartition(":")
    try:
        socket.create_connection((host, int(port)), timeout=0.5).close()
    except (OSError, ValueError):
        return False
    return True


# ------------------------------------------------------------------------------------------ Salesforce
def serve_salesforce(args: argparse.Namespace) -> int:
    import uvicorn

    from sandbox.generator.salesforce import generate_salesforce
    from sandbox.services.salesforce_api import create_salesforce_app

    home: Path = args.home
    cert = serve_tls(home, "salesforce", plaintext=False)  # HTTPS only: simple-salesforce speaks nothing else
    assert cert is not None
    session = os.environ.get("SANDBOX_SALESFORCE_SESSION_ID") or SALESFORCE_DEFAULT_SESSION
    dataset = generate_salesforce(seed=args.seed, rounds=args.rounds)
    app = create_salesforce_app(dataset, session)
    print(
        f"salesforce serving on https://{HOST}:{args.port} ({dataset.round_count} change rounds)", flush=True
    )
    _write_ready(home, "salesforce", seed=args.seed, rounds=args.rounds)
    uvicorn.run(
        app,
        host=HOST,
        port=args.port,
        log_level="warning",
        access_log=False,
        ssl_certfile=str(cert.bundle),
        timeout_graceful_shutdown=1,
    )
    return 0


def _salesforce_answers(home: Path, url: str, pid: int) -> bool:
    ca = sandbox_ca_path(home)
    if not _ready_file(home, "salesforce").exists() or not ca.exists():
        return False
    try:
        with httpx.Client(timeout=1.0, trust_env=False, verify=verify_with(ca)) as client:
            response = client.get(f"{url}/health")
        return response.status_code == 200 and int(response.json()["pid"]) == pid
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return False


SALESFORCE = DetachedService(
    "salesforce",
    "salesforce",
    b"serve-salesforce",
    _salesforce_answers,
    start_timeout=30.0,
    extra_state=("salesforce.ready", "salesforce.tls"),
)


# ------------------------------------------------------------------------------------------- Snowflake
SNOWFLAKE_CHILD_PID = "snowflake.child.pid"


def serve_snowflake(args: argparse.Namespace) -> int:
    from sandbox.generator.products import generate_products
    from sandbox.services.snowflake_server import FakeSnowflakeServer, seed_products

    home: Path = args.home
    stop = _stop_event()
    ca = None if args.plaintext else sandbox_ca(home)
    mark_tls(home, "snowflake", ca)
    server = FakeSnowflakeServer(port=args.port, ca=ca)
    try:
        server.start(timeout_seconds=60)
        assert server._process is not None  # started above
        (home / SNOWFLAKE_CHILD_PID).write_text(f"{server._process.pid}\n")
        table = seed_products(server.conn_params, generate_products(seed=args.seed, rounds=args.rounds))
        scheme = "https" if ca else "http"
        print(f"snowflake (fakesnow) serving on {scheme}://{HOST}:{args.port}: {table}", flush=True)
        _write_ready(home, "snowflake", seed=args.seed, rounds=args.rounds, table=table)
        while not stop.wait(1.0):
            if server._process is None or server._process.poll() is not None:
                print("error: fakesnow exited", flush=True)
                return 1
        return 0
    finally:
        server.stop()
        (home / SNOWFLAKE_CHILD_PID).unlink(missing_ok=True)


def _snowflake_answers(home: Path, address: str, pid: int) -> bool:
    return _ready_file(home, "snowflake").exists() and _listening(address)


def _snowflake_kill_orphan(home: Path) -> int | None:
    pid = pid_from_file(home / SNOWFLAKE_CHILD_PID, b"fakesnow")
    return pid if pid is not None and kill_group(pid, 10.0) else None


SNOWFLAKE = DetachedService(
    "snowflake",
    "snowflake",
    b"serve-snowflake",
    _snowflake_answers,
    start_timeout=90.0,
    stop_timeout=15.0,
    extra_state=("snowflake.ready", "snowflake.tls", SNOWFLAKE_CHILD_PID),
    kill_orphans=_snowflake_kill_orphan,
)


# -------------------------------------------------------------------------------- PostgreSQL + DMS task
POSTMASTER_PID = "postgres.postmaster.pid"
CLUSTER_DIR = "postgres.cluster"


def postgres_dsn(address: str, database: str = "shop", ca_path: Path | None = None) -> str:
    """libpq DSN of the sandbox PostgreSQL; with ``ca_path`` (the server's TLS CA): verify-full TLS."""
    from sandbox.services.postgres import client_tls

    host, _, port = address.rpartition(":")
    dsn = f"host={host} port={port} dbname={database} user=postgres"
    return f"{dsn} {client_tls(ca_path)}" if ca_path else dsn


def serve_postgres(args: argparse.Namespace) -> int:
    import psycopg2

    from sandbox.generator.customers import generate_customers, load_initial
    from sandbox.services.dms_task import STATE_DIR, DmsTask
    from sandbox.services.postgres import CUSTOMERS_PUBLICATION, PostgresServer
    from sandbox.services.s3_landing import S3Landing

    home: Path = args.home
    # on S3 the task writes its files durably into a staging folder of the home first, then PUTs each
    s3 = S3Landing.from_uri(args.landing) if args.landing.startswith("s3://") else None
    landing = home / "dms-staging" if s3 else Path(args.landing).resolve()
    stop = _stop_event()
    # A fresh cluster is a fresh source: the landing's files of an earlier one no longer describe it.
    shutil.rmtree(landing / "public" / "customers", ignore_errors=True)
    (landing / STATE_DIR / f"{DMS_SLOT}.json").unlink(missing_ok=True)
    if s3:
        s3.remove("public/customers")
    ca = None if args.plaintext else sandbox_ca(home)
    mark_tls(home, "postgres", ca)
    server = PostgresServer(port=args.port, ca=ca)
    try:
        server.start()
        (home / POSTMASTER_PID).write_text(f"{server.postmaster_pid}\n")
        (home / CLUSTER_DIR).write_text(f"{server.base_dir}\n")
        with contextlib.closing(psycopg2.connect(server.dsn)) as conn:
            load_initial(conn, generate_customers(seed=args.seed, batches=args.batches))
        with DmsTask(server.dsn, DMS_SLOT, CUSTOMERS_PUBLICATION, landing, publish_to=s3) as task:
            files = task.full_load()
            target = s3 or landing
            print(
                f"postgres serving on {HOST}:{args.port} (database shop); DMS task: full load "
                f"{len(files)} file(s) into {target}",
                flush=True,
            )
            _write_ready(home, "postgres", seed=args.seed, batches=args.batches, landing=str(target))
            while not stop.is_set():
                for path in task.poll(timeout_seconds=args.poll_seconds):
                    print(f"DMS task wrote {path.relative_to(landing)} to {target}", flush=True)
        return 0
    finally:
        server.stop()
        for name in (POSTMASTER_PID, CLUSTER_DIR):
            (home / name).unlink(missing_ok=True)


def _postgres_answers(home: Path, address: str, pid: int) -> bool:
    return _ready_file(home, "postgres").exists() and _listening(address)


def _postgres_kill_orphan(home: Path) -> int | None:
    """A postmaster that outlived its serve-postgres (SIGKILLed): immediate shutdown, cluster removed."""
    pid = pid_from_file(home / POSTMASTER_PID, b"postgres")
    cluster = read_text(home / CLUSTER_DIR)
    if pid is not None:
        os.kill(pid, signal.SIGQUIT)  # immediate shutdown; its backends exit with it
        deadline = time.monotonic() + 10
        while alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    if cluster and Path(cluster).name.startswith("sandbox-postgres-"):
        shutil.rmtree(cluster, ignore_errors=True)
    return pid


POSTGRES = DetachedService(
    "postgres",
    "postgres",
    b"serve-postgres",
    _postgres_answers,
    start_timeout=90.0,
    stop_timeout=30.0,
    extra_state=("postgres.ready", "postgres.tls", POSTMASTER_PID, CLUSTER_DIR),
    kill_orphans=_postgres_kill_orphan,
)

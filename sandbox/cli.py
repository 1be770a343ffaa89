"""``sandbox``: start, stop and inspect the sandbox source services.

``start`` launches ``serve-fx`` as a detached process (own session, so it outlives the shell), records
its pid in ``$SANDBOX_HOME/fx.pid`` and its URL in ``fx.address``, logs to ``fx.log``, and waits until
``/health`` answers from that very pid; ``kafka-start`` does the same for the broker
(``sandbox/detached.py`` is the one mechanism). Settings come from options, then the environment
(``SANDBOX_FX_PORT``, ``SANDBOX_FX_TOKEN``, ``SANDBOX_KAFKA_PORT``, ``SANDBOX_HOME``), then defaults.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import ssl
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import httpx

from sandbox.detached import EXIT_NOT_RUNNING, HOST, DetachedService, kill_group, pid_from_file

DEFAULT_PORT = 8765
DEFAULT_TOKEN = "sandbox-token"
DEFAULT_HOME = ".sandbox"
START_TIMEOUT_SECONDS = 20.0
STOP_TIMEOUT_SECONDS = 10.0
__all__ = ["EXIT_NOT_RUNNING", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    return int(args.func(args))


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="sandbox", description="Local sandbox source services.")
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--port", type=int, default=int(os.environ.get("SANDBOX_FX_PORT", DEFAULT_PORT)))
        p.add_argument("--home", type=Path, default=Path(os.environ.get("SANDBOX_HOME", DEFAULT_HOME)))

    def service(p: argparse.ArgumentParser) -> None:
        p.add_argument("--token", default=os.environ.get("SANDBOX_FX_TOKEN", DEFAULT_TOKEN))
        p.add_argument("--seed", type=int, default=7, help="generator seed (default 7)")
        p.add_argument("--start-date", type=date.fromisoformat, default=date(2026, 11, 1), help="YYYY-MM-DD")
        p.add_argument("--days", type=int, default=7, help="number of as_of_dates (default 7)")
        p.add_argument("--scale", type=float, default=1.0, help="multiplies the number of days")
        p.add_argument("--rate-429", type=float, default=0.0, help="probability of a 429 per request")
        p.add_argument("--rate-5xx", type=float, default=0.0, help="probability of a 503 per request")
        p.add_argument("--retry-after", type=float, default=1.0, help="Retry-After seconds sent with 429")
        p.add_argument("--outage", action="store_true", help="answer every /v1 request with 503")
        p.add_argument("--fault-seed", type=int, default=0, help="seed of the fault draws")
        p.add_argument("--plaintext", action="store_true", help="serve plain HTTP (default: HTTPS)")

    every = "every source: FX, Kafka, Salesforce, Snowflake, PostgreSQL + DMS (and the traffic generator)"
    start = sub.add_parser("start", help="start the FX service (--all: every source) in the background")
    common(start)
    service(start)
    start.add_argument("--all", action="store_true", help=f"start {every.split(' (')[0]}")
    start.set_defaults(func=_start)

    stop = sub.add_parser("stop", help="stop the background FX service (--all: every source)")
    common(stop)
    stop.add_argument("--all", action="store_true", help=f"stop {every}")
    stop.set_defaults(func=_stop)

    status = sub.add_parser("status", help="is the FX service (--all: every source) running?")
    common(status)
    status.add_argument("--all", action="store_true", help=f"the status of {every}")
    status.set_defaults(func=_status)

    serve = sub.add_parser("serve-fx", help="run the FX service in the foreground")
    common(serve)
    service(serve)
    serve.set_defaults(func=_serve_fx)

    _add_kafka_commands(sub)
    _add_cluster_commands(sub)
    _add_source_commands(sub)
    return parser


def _serve_fx(args: argparse.Namespace) -> int:
    # Imported here so `sandbox stop/status` stay fast.
    import uvicorn

    from sandbox.generator.fx import generate_fx
    from sandbox.services.faults import FaultConfig
    from sandbox.services.fx_api import create_fx_app
    from sandbox.services.tls import serve_tls

    dataset = generate_fx(seed=args.seed, start=args.start_date, days=args.days, scale=args.scale)
    faults = FaultConfig(
        rate_429=args.rate_429,
        rate_5xx=args.rate_5xx,
        retry_after_seconds=args.retry_after,
        outage=args.outage,
        seed=args.fault_seed,
    )
    app = create_fx_app(dataset, args.token, faults)
    cert = serve_tls(args.home, "fx", args.plaintext)
    url = _fx_url(args)
    print(f"fx_api serving on {url} (seed {args.seed}, {dataset.days} days)", flush=True)
    tls = {"ssl_certfile": str(cert.bundle), "timeout_graceful_shutdown": 1} if cert else {}
    uvicorn.run(app, host=HOST, port=args.port, log_level="warning", access_log=False, **tls)
    return 0


def _fx_url(args: argparse.Namespace) -> str:
    return f"{'http' if getattr(args, 'plaintext', False) else 'https'}://{HOST}:{args.port}"


def _fx_answers(home: Path, url: str, pid: int) -> bool:
    from sandbox.services.tls import service_ca, verify_with

    ca = service_ca(home, "fx")
    if url.startswith("https://") and ca is None:
        return False  # serve-fx has not written its certificate yet
    return _health_pid(url, verify_with(ca)) == pid


FX = DetachedService(
    "fx_api",
    "fx",
    b"serve-fx",
    _fx_answers,
    START_TIMEOUT_SECONDS,
    STOP_TIMEOUT_SECONDS,
    extra_state=("fx.tls",),
)


def _start(args: argparse.Namespace) -> int:
    if args.all:
        return _start_all(args)
    command = [sys.executable, "-m", "sandbox", "serve-fx", *_service_argv(args)]
    env = {**os.environ, "SANDBOX_FX_TOKEN": args.token}  # the token goes by env, not by command line
    return FX.start(
        args.home, command, _fx_url(args), args.port, "SANDBOX_FX_PORT", env, f", token {args.token}"
    )


def _stop(args: argparse.Namespace) -> int:
    if not args.all:
        return FX.stop(args.home)
    home = ["--home", str(args.home)]
    codes = [main(["traffic-stop", *home])]  # the traffic first: it writes to the others
    codes += [main([f"{name}-stop", *home]) for name in ("salesforce", "snowflake", "postgres", "kafka")]
    return max([FX.stop(args.home), *codes])


def _status(args: argparse.Namespace) -> int:
    code = FX.status(args.home, f"https://{HOST}:{args.port}", "NOT answering /health")
    if not args.all:
        return code
    names = ("kafka", "salesforce", "snowflake", "postgres", "traffic")
    codes = [code, *(main([f"{name}-status", "--home", str(args.home)]) for name in names)]
    return next((c for c in codes if c != 0), 0)


def _start_all(args: argparse.Namespace) -> int:
    """Every source at once (each waits for its own health): FX with this command's options."""
    from concurrent.futures import ThreadPoolExecutor

    home = ["--home", str(args.home)]
    with ThreadPoolExecutor(max_workers=5) as pool:
        fx = pool.submit(
            FX.start,
            args.home,
            [sys.executable, "-m", "sandbox", "serve-fx", *_service_argv(args)],
            _fx_url(args),
            args.port,
            "SANDBOX_FX_PORT",
            {**os.environ, "SANDBOX_FX_TOKEN": args.token},
            f", token {args.token}",
        )
        others = [
            pool.submit(main, [f"{name}-start", *home])
            for name in ("kafka", "salesforce", "snowflake", "postgres")
        ]
        return max([fx.result(), *(f.result() for f in others)])


def _service_argv(args: argparse.Namespace) -> list[str]:
    argv = [
        f"--port={args.port}",
        f"--seed={args.seed}",
        f"--start-date={args.start_date.isoformat()}",
        f"--days={args.days}",
        f"--scale={args.scale}",
        f"--rate-429={args.rate_429}",
        f"--rate-5xx={args.rate_5xx}",
        f"--retry-after={args.retry_after}",
        f"--fault-seed={args.fault_seed}",
        f"--home={args.home}",
    ]
    argv += ["--outage"] if args.outage else []
    return [*argv, "--plaintext"] if args.plaintext else argv


def _health_pid(url: str, verify: ssl.SSLContext | bool = True) -> int | None:
    """The pid reported by ``/health``, so we know the answer comes from our process and not a squatter."""
    try:
        with httpx.Client(timeout=1.0, trust_env=False, verify=verify) as client:
            response = client.get(f"{url}/health")
        return int(response.json()["pid"]) if response.status_code == 200 else None
    except (httpx.HTTPError, OSError, ValueError, KeyError, TypeError):
        return None


# ------------------------------------------------------------------------------------------------- Kafka
# `kafka-start` launches `serve-kafka` detached (own session), which runs the KRaft broker (a JVM in its
# own process group) until SIGTERM. State in $SANDBOX_HOME: kafka.pid (the serve-kafka process),
# kafka.address, kafka.log, kafka.java.pid (the JVM: stopped too if serve-kafka died), kafka/ (broker
# config, broker.log and data, kept across restarts so topics survive). Port: --port, else
# SANDBOX_KAFKA_PORT, else 9092.

KAFKA_DEFAULT_PORT = 9092
KAFKA_DEFAULT_TOPIC = "orders.events"
KAFKA_START_TIMEOUT_SECONDS = 90.0
KAFKA_STOP_TIMEOUT_SECONDS = 30.0  # serve-kafka gives the broker 15 s for a controlled shutdown
KAFKA_JAVA_PID = "kafka.java.pid"  # the broker JVM, written by serve-kafka


def _add_kafka_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    def common(p: argparse.ArgumentParser) -> None:
        port = int(os.environ.get("SANDBOX_KAFKA_PORT", KAFKA_DEFAULT_PORT))
        p.add_argument(
            "--port", type=int, default=port, help="broker port (default $SANDBOX_KAFKA_PORT or 9092)"
        )
        p.add_argument("--home", type=Path, default=Path(os.environ.get("SANDBOX_HOME", DEFAULT_HOME)))

    start = sub.add_parser("kafka-start", help="start the Kafka broker (KRaft) in the background")
    common(start)
    start.add_argument("--plaintext", action="store_true", help="a PLAINTEXT listener (default: SSL)")
    start.set_defaults(func=_kafka_start)

    stop = sub.add_parser("kafka-stop", help="stop the background Kafka broker")
    common(stop)
    stop.set_defaults(func=_kafka_stop)

    status = sub.add_parser("kafka-status", help="is the Kafka broker running?")
    common(status)
    status.set_defaults(func=_kafka_status)

    serve = sub.add_parser("serve-kafka", help="run the Kafka broker in the foreground")
    common(serve)
    serve.add_argument("--plaintext", action="store_true", help="a PLAINTEXT listener (default: SSL)")
    serve.set_defaults(func=_serve_kafka)

    produce = sub.add_parser("produce-orders", help="produce the generated order events to Kafka")
    common(produce)
    produce.add_argument("--bootstrap", help="bootstrap servers (default: the running sandbox broker)")
    produce.add_argument("--topic", default=KAFKA_DEFAULT_TOPIC, help=f"default {KAFKA_DEFAULT_TOPIC}")
    produce.add_argument("--partitions", type=int, default=3, help="partitions if the topic is created")
    produce.add_argument("--seed", type=int, default=7, help="generator seed (default 7)")
    produce.add_argument(
        "--start-date", type=date.fromisoformat, default=date(2026, 11, 1), help="YYYY-MM-DD"
    )
    produce.add_argument("--days", type=int, default=3, help="business days of orders (default 3)")
    produce.add_argument("--orders-per-day", type=int, default=40, help="default 40")
    produce.add_argument("--scale", type=float, default=1.0, help="multiplies the orders per day")
    produce.add_argument("--upto", type=int, default=None, help="produce only the first N messages")
    produce.set_defaults(func=_produce_orders)


def _serve_kafka(args: argparse.Namespace) -> int:
    import threading

    from sandbox.services.kafka_broker import KafkaBroker, KafkaBrokerError
    from sandbox.services.tls import mark_tls, sandbox_ca

    home: Path = args.home
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    ca = None if args.plaintext else sandbox_ca(home)
    mark_tls(home, "kafka", ca)
    broker = KafkaBroker(home=home / "kafka", port=args.port, ca=ca)
    try:
        broker.start()
        (home / KAFKA_JAVA_PID).write_text(f"{broker.pid}\n")
        listener = "SSL" if ca else "PLAINTEXT"
        print(
            f"kafka serving on {broker.bootstrap_servers} ({listener}, broker pid {broker.pid})", flush=True
        )
        while not stop.wait(1.0):
            if not broker.is_running():
                print(f"error: the Kafka broker exited; log tail:\n{broker.log_tail()}", flush=True)
                return 1
        return 0
    except KafkaBrokerError as exc:
        print(f"error: {exc}", flush=True)
        return 1
    finally:
        broker.stop()
        (home / KAFKA_JAVA_PID).unlink(missing_ok=True)


def _kafka_start(args: argparse.Namespace) -> int:
    home: Path = args.home
    command = [sys.executable, "-m", "sandbox", "serve-kafka", f"--port={args.port}", f"--home={home}"]
    command += ["--plaintext"] if args.plaintext else []
    code = KAFKA.start(home, command, f"{HOST}:{args.port}", args.port, "SANDBOX_KAFKA_PORT")
    if code == 0:
        print(f"broker log: {home / 'kafka' / 'broker.log'}")
    return code


def _kafka_stop(args: argparse.Namespace) -> int:
    return KAFKA.stop(args.home)


def _kafka_status(args: argparse.Namespace) -> int:
    return KAFKA.status(args.home, f"{HOST}:{args.port}", "NOT answering metadata requests")


def _produce_orders(args: argparse.Namespace) -> int:
    from sandbox.generator.order_stream import OrderEventStream
    from sandbox.services.kafka_broker import KafkaBrokerError, create_topic
    from sandbox.services.order_producer import OrderProduceError, produce_order_events

    bootstrap = args.bootstrap or KAFKA.address(args.home, f"{HOST}:{args.port}")
    security = kafka_client_security(args.home)
    if not _kafka_answers(bootstrap, security):
        print(f"error: no Kafka broker answers at {bootstrap}; run `sandbox kafka-start` first")
        return 1
    stream = OrderEventStream(  # made as it is sent: any scale in bounded memory
        seed=args.seed,
        start=args.start_date,
        days=args.days,
        orders_per_day=args.orders_per_day,
        scale=args.scale,
    )
    try:
        created = create_topic(bootstrap, args.topic, args.partitions, exist_ok=True, security=security)
        counts = produce_order_events(bootstrap, args.topic, stream, upto=args.upto, security=security)
    except (KafkaBrokerError, OrderProduceError) as exc:
        print(f"error: {exc}")
        return 1
    finally:
        stream.close()
    per_partition = ", ".join(f"p{p}={n}" for p, n in counts.items())
    topic_note = "created" if created else "existing"
    print(
        f"produced {sum(counts.values())} messages to {args.topic} ({topic_note}) at {bootstrap}: {per_partition}"
    )
    return 0


def kafka_client_security(home: Path) -> dict[str, str]:
    """How to reach the sandbox broker of ``home``: TLS against the sandbox CA if it serves SSL."""
    from sandbox.services.kafka_broker import client_security
    from sandbox.services.tls import service_ca

    return client_security(service_ca(home, "kafka"))


def _kafka_answers(bootstrap: str, security: dict[str, str]) -> bool:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    host, _, port = bootstrap.rpartition(":")
    try:  # a TCP probe first: librdkafka logs every refused connection
        socket.create_connection((host, int(port)), timeout=0.5).close()
    except (OSError, ValueError):
        return False
    try:
        admin = AdminClient({**security, "bootstrap.servers": bootstrap})
        return bool(admin.list_topics(timeout=3).brokers)
    except KafkaException:
        return False


def _kafka_kill_orphan(home: Path) -> int | None:
    """SIGKILL the broker JVM of kafka.java.pid if it outlived its serve-kafka (e.g. after a SIGKILL)."""
    pid = pid_from_file(home / KAFKA_JAVA_PID, b"kafka.Kafka")
    return pid if pid is not None and kill_group(pid, KAFKA_STOP_TIMEOUT_SECONDS) else None


def _kafka_ready(home: Path, bootstrap: str, pid: int) -> bool:
    """serve-kafka writes kafka.java.pid once its broker answered; then we check the answer ourselves."""
    return (home / KAFKA_JAVA_PID).exists() and _kafka_answers(bootstrap, kafka_client_security(home))


KAFKA = DetachedService(
    "kafka",
    "kafka",
    b"serve-kafka",
    _kafka_ready,
    KAFKA_START_TIMEOUT_SECONDS,
    KAFKA_STOP_TIMEOUT_SECONDS,
    extra_state=(KAFKA_JAVA_PID, "kafka.tls"),
    kill_orphans=_kafka_kill_orphan,
)


# ------------------------------------------------------------------------------------------ Spark cluster
# `cluster-up` starts a Spark standalone master, workers and a Spark Connect server (each JVM in its own
# process group, so they outlive this command) and prints the settings that point the platform at it;
# `cluster-down` stops them. State in $SANDBOX_HOME/cluster/ (cluster.json, logs/).


def _add_cluster_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--home", type=Path, default=Path(os.environ.get("SANDBOX_HOME", DEFAULT_HOME)))

    up = sub.add_parser("cluster-up", help="start a Spark standalone cluster with a Spark Connect server")
    common(up)
    up.add_argument("--workers", type=int, default=2, help="number of workers (default 2)")
    up.add_argument("--worker-cores", type=int, default=1, help="cores per worker (default 1)")
    up.add_argument("--worker-memory", default="2g", help="memory per worker (default 2g)")
    up.set_defaults(func=_cluster_up)
    down = sub.add_parser("cluster-down", help="stop the Spark cluster")
    common(down)
    down.set_defaults(func=_cluster_down)
    status = sub.add_parser("cluster-status", help="is the Spark cluster running? workers and URLs")
    common(status)
    status.set_defaults(func=_cluster_status)


def _cluster_up(args: argparse.Namespace) -> int:
    from sandbox.services.spark_cluster import (
        ClusterConfig,
        ClusterError,
        ClusterState,
        SparkCluster,
        s3a_conf,
    )

    home = args.home / "cluster"
    if ClusterState.read(home) is not None and _cluster_status(args) == 0:
        return 0
    storage = {k: v for k, v in os.environ.items() if k.startswith("AWS_")}  # the lake's S3, if any
    config = ClusterConfig(
        workers=args.workers,
        worker_cores=args.worker_cores,
        worker_memory=args.worker_memory,
        spark_conf=s3a_conf(storage) if "AWS_ENDPOINT_URL" in storage else {},
    )
    try:
        cluster = SparkCluster(home, config).start()
    except ClusterError as exc:
        print(f"error: {exc}")
        return 1
    state = cluster.state
    print(f"spark cluster up: master {state.master_url} (UI {state.master_ui_url}), {args.workers} workers")
    print(f"spark connect server: {state.connect_url} (UI {state.connect_ui_url})")
    print(f"  export PLATFORM_ENGINE=connect PLATFORM_SPARK_CONNECT_URL={state.connect_url}")
    return 0


def _cluster_down(args: argparse.Namespace) -> int:
    from sandbox.services.spark_cluster import STATE_FILE, ClusterState, stop_processes

    home = args.home / "cluster"
    state = ClusterState.read(home)
    if state is None:
        print("spark cluster is not running")
        return 0
    stop_processes(state.pids)
    (home / STATE_FILE).unlink(missing_ok=True)
    print(f"spark cluster stopped ({len(state.pids)} processes)")
    return 0


def _cluster_status(args: argparse.Namespace) -> int:
    from sandbox.services.spark_cluster import ClusterState, master_status

    state = ClusterState.read(args.home / "cluster")
    status = master_status(state.master_ui_url) if state else None
    if state is None or status is None:
        print("spark cluster is not running")
        return EXIT_NOT_RUNNING
    alive = [w for w in status.get("workers", []) if w.get("state") == "ALIVE"]
    apps = [a.get("name") for a in status.get("activeapps", [])]
    print(f"spark cluster at {state.master_url}: {len(alive)} workers alive, applications {apps}")
    print(f"spark connect server: {state.connect_url}")
    return 0


# ------------------------------------------------------------- Salesforce, Snowflake, PostgreSQL, traffic
# One `<name>-start|stop|status` triple and a foreground `serve-<name>` per source (sandbox/sources.py);
# `start --all`, `stop --all` and `status --all` cover every source. Ports: --port, else the variable.


@dataclass(frozen=True)
class _Source:
    service: DetachedService
    port_variable: str
    default_port: int
    scheme: str  # how the address is written: "https://", "http://" or "" (host:port)
    options: Callable[[argparse.ArgumentParser], None]
    serve: Callable[[argparse.Namespace], int]


def _salesforce_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=11, help="generator seed (default 11)")
    p.add_argument("--rounds", type=int, default=3, help="change rounds the org holds (default 3)")


def _snowflake_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=13, help="generator seed (default 13)")
    p.add_argument("--rounds", type=int, default=3, help="change rounds of the catalogue (default 3)")
    p.add_argument("--plaintext", action="store_true", help="serve plain HTTP (default: HTTPS)")


def _postgres_options(p: argparse.ArgumentParser) -> None:
    landing = os.environ.get("DMS_LANDING_ROOT") or ".landing/dms"
    p.add_argument("--seed", type=int, default=7, help="generator seed (default 7)")
    p.add_argument("--batches", type=int, default=4, help="change batches of the customers (default 4)")
    p.add_argument(
        "--landing",
        default=landing,
        help="where the DMS task lands its files: a folder or s3://bucket/prefix (endpoint and keys from the "
        "AWS_* environment) (default $DMS_LANDING_ROOT)",
    )
    p.add_argument("--poll-seconds", type=float, default=2.0, help="DMS task poll interval (default 2)")
    p.add_argument("--plaintext", action="store_true", help="accept plaintext TCP (default: TLS only)")


def _traffic_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=7, help="seed of the FX days and order stream (default 7)")
    p.add_argument("--start-date", type=date.fromisoformat, default=date(2026, 11, 1), help="YYYY-MM-DD")
    p.add_argument("--days", type=int, default=30, help="business days of the scenario (default 30)")
    p.add_argument("--day-seconds", type=float, default=60.0, help="wall seconds per business day (60)")
    p.add_argument("--order-interval", type=float, default=3.0, help="seconds between order slices (3)")
    p.add_argument("--orders-per-day", type=int, default=40, help="orders per business day (default 40)")


def _sources() -> dict[str, _Source]:
    from sandbox import sources, traffic

    return {
        "salesforce": _Source(
            sources.SALESFORCE,
            "SANDBOX_SALESFORCE_PORT",
            sources.SALESFORCE_DEFAULT_PORT,
            "https://",
            _salesforce_options,
            sources.serve_salesforce,
        ),
        "snowflake": _Source(
            sources.SNOWFLAKE,
            "SANDBOX_SNOWFLAKE_PORT",
            sources.SNOWFLAKE_DEFAULT_PORT,
            "",
            _snowflake_options,
            sources.serve_snowflake,
        ),
        "postgres": _Source(
            sources.POSTGRES,
            "SANDBOX_POSTGRES_PORT",
            sources.POSTGRES_DEFAULT_PORT,
            "",
            _postgres_options,
            sources.serve_postgres,
        ),
        "traffic": _Source(traffic.TRAFFIC, "", 0, "", _traffic_options, traffic.serve_traffic),
    }


def _source_argv(
    args: argparse.Namespace, parser_options: Callable[[argparse.ArgumentParser], None]
) -> list[str]:
    """The options of ``args`` that ``parser_options`` defines, as a command line for serve-<name>."""
    probe = argparse.ArgumentParser(add_help=False)
    parser_options(probe)
    argv: list[str] = []
    for action in probe._actions:
        value = getattr(args, action.dest)
        if action.nargs == 0:  # a flag (store_true): present or not
            argv += [action.option_strings[0]] if value else []
            continue
        argv.append(f"{action.option_strings[0]}={value.isoformat() if isinstance(value, date) else value}")
    return argv


def _add_source_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name, source in _sources().items():

        def common(p: argparse.ArgumentParser, source: _Source = source) -> None:
            if source.port_variable:
                port = int(os.environ.get(source.port_variable, source.default_port))
                p.add_argument(
                    "--port",
                    type=int,
                    default=port,
                    help=f"default ${source.port_variable} or {source.default_port}",
                )
            p.add_argument("--home", type=Path, default=Path(os.environ.get("SANDBOX_HOME", DEFAULT_HOME)))

        start = sub.add_parser(f"{name}-start", help=f"start the {name} sandbox service in the background")
        common(start)
        source.options(start)
        start.set_defaults(func=lambda a, n=name: _source_start(n, a))
        stop = sub.add_parser(f"{name}-stop", help=f"stop the background {name} service")
        common(stop)
        stop.set_defaults(func=lambda a, s=source: s.service.stop(a.home))
        status = sub.add_parser(f"{name}-status", help=f"is the {name} service running?")
        common(status)
        status.set_defaults(func=lambda a, n=name: _source_status(n, a))
        serve = sub.add_parser(f"serve-{name}", help=f"run the {name} service in the foreground")
        common(serve)
        source.options(serve)
        serve.set_defaults(func=source.serve)


def _source_address(name: str, args: argparse.Namespace) -> str:
    source = _sources()[name]
    return f"{source.scheme}{HOST}:{args.port}" if source.port_variable else f"{args.home / 'traffic.status'}"


def _source_start(name: str, args: argparse.Namespace) -> int:
    source = _sources()[name]
    home: Path = args.home.resolve()
    command = [
        sys.executable,
        "-m",
        "sandbox",
        f"serve-{name}",
        f"--home={home}",
        *_source_argv(args, source.options),
    ]
    port = args.port if source.port_variable else None
    if port is not None:
        command.append(f"--port={port}")
    return source.service.start(home, command, _source_address(name, args), port, source.port_variable)


def _source_status(name: str, args: argparse.Namespace) -> int:
    return _sources()[name].service.status(args.home, _source_address(name, args), "NOT ready")

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
import sys
from collections.abc import Sequence
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

    start = sub.add_parser("start", help="start the FX service in the background")
    common(start)
    service(start)
    start.set_defaults(func=_start)

    stop = sub.add_parser("stop", help="stop the background FX service")
    common(stop)
    stop.set_defaults(func=_stop)

    status = sub.add_parser("status", help="is the FX service running?")
    common(status)
    status.set_defaults(func=_status)

    serve = sub.add_parser("serve-fx", help="run the FX service in the foreground")
    common(serve)
    service(serve)
    serve.set_defaults(func=_serve_fx)

    _add_kafka_commands(sub)
    return parser


def _serve_fx(args: argparse.Namespace) -> int:
    # Imported here so `sandbox stop/status` stay fast.
    import uvicorn

    from sandbox.generator.fx import generate_fx
    from sandbox.services.faults import FaultConfig
    from sandbox.services.fx_api import create_fx_app

    dataset = generate_fx(seed=args.seed, start=args.start_date, days=args.days, scale=args.scale)
    faults = FaultConfig(
        rate_429=args.rate_429,
        rate_5xx=args.rate_5xx,
        retry_after_seconds=args.retry_after,
        outage=args.outage,
        seed=args.fault_seed,
    )
    app = create_fx_app(dataset, args.token, faults)
    print(f"fx_api serving on http://{HOST}:{args.port} (seed {args.seed}, {dataset.days} days)", flush=True)
    uvicorn.run(app, host=HOST, port=args.port, log_level="warning", access_log=False)
    return 0


def _fx_answers(home: Path, url: str, pid: int) -> bool:
    return _health_pid(url) == pid


FX = DetachedService("fx_api", "fx", b"serve-fx", _fx_answers, START_TIMEOUT_SECONDS, STOP_TIMEOUT_SECONDS)


def _start(args: argparse.Namespace) -> int:
    command = [sys.executable, "-m", "sandbox", "serve-fx", *_service_argv(args)]
    env = {**os.environ, "SANDBOX_FX_TOKEN": args.token}  # the token goes by env, not by command line
    url = f"http://{HOST}:{args.port}"
    return FX.start(args.home, command, url, args.port, "SANDBOX_FX_PORT", env, f", token {args.token}")


def _stop(args: argparse.Namespace) -> int:
    return FX.stop(args.home)


def _status(args: argparse.Namespace) -> int:
    return FX.status(args.home, f"http://{HOST}:{args.port}", "NOT answering /health")


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
    ]
    return [*argv, "--outage"] if args.outage else argv


def _health_pid(url: str) -> int | None:
    """The pid reported by ``/health``, so we know the answer comes from our process and not a squatter."""
    try:
        with httpx.Client(timeout=1.0, trust_env=False) as client:
            response = client.get(f"{url}/health")
        return int(response.json()["pid"]) if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
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
    start.set_defaults(func=_kafka_start)

    stop = sub.add_parser("kafka-stop", help="stop the background Kafka broker")
    common(stop)
    stop.set_defaults(func=_kafka_stop)

    status = sub.add_parser("kafka-status", help="is the Kafka broker running?")
    common(status)
    status.set_defaults(func=_kafka_status)

    serve = sub.add_parser("serve-kafka", help="run the Kafka broker in the foreground")
    common(serve)
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

    home: Path = args.home
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    broker = KafkaBroker(home=home / "kafka", port=args.port)
    try:
        broker.start()
        (home / KAFKA_JAVA_PID).write_text(f"{broker.pid}\n")
        print(f"kafka serving on {broker.bootstrap_servers} (broker pid {broker.pid})", flush=True)
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
    if not _kafka_answers(bootstrap):
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
        created = create_topic(bootstrap, args.topic, args.partitions, exist_ok=True)
        counts = produce_order_events(bootstrap, args.topic, stream, upto=args.upto)
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


def _kafka_answers(bootstrap: str) -> bool:
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import AdminClient

    host, _, port = bootstrap.rpartition(":")
    try:  # a TCP probe first: librdkafka logs every refused connection
        socket.create_connection((host, int(port)), timeout=0.5).close()
    except (OSError, ValueError):
        return False
    try:
        return bool(AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=3).brokers)
    except KafkaException:
        return False


def _kafka_kill_orphan(home: Path) -> int | None:
    """SIGKILL the broker JVM of kafka.java.pid if it outlived its serve-kafka (e.g. after a SIGKILL)."""
    pid = pid_from_file(home / KAFKA_JAVA_PID, b"kafka.Kafka")
    return pid if pid is not None and kill_group(pid, KAFKA_STOP_TIMEOUT_SECONDS) else None


def _kafka_ready(home: Path, bootstrap: str, pid: int) -> bool:
    """serve-kafka writes kafka.java.pid once its broker answered; then we check the answer ourselves."""
    return (home / KAFKA_JAVA_PID).exists() and _kafka_answers(bootstrap)


KAFKA = DetachedService(
    "kafka",
    "kafka",
    b"serve-kafka",
    _kafka_ready,
    KAFKA_START_TIMEOUT_SECONDS,
    KAFKA_STOP_TIMEOUT_SECONDS,
    extra_state=(KAFKA_JAVA_PID,),
    kill_orphans=_kafka_kill_orphan,
)

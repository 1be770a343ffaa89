"""``sandbox``: start, stop and inspect the sandbox source services.

``start`` launches ``serve-fx`` as a detached process (own session, so it outlives the shell), records
its pid in ``$SANDBOX_HOME/fx.pid`` and its URL in ``fx.url``, logs to ``fx.log``, and waits until
``/health`` answers from that very pid. Settings come from options, then the environment
(``SANDBOX_FX_PORT``, ``SANDBOX_FX_TOKEN``, ``SANDBOX_HOME``), then defaults.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import httpx

DEFAULT_PORT = 8765
DEFAULT_TOKEN = "sandbox-token"
DEFAULT_HOME = ".sandbox"
HOST = "127.0.0.1"
START_TIMEOUT_SECONDS = 20.0
STOP_TIMEOUT_SECONDS = 10.0
EXIT_NOT_RUNNING = 3  # LSB convention for `status` of a stopped service


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


def _start(args: argparse.Namespace) -> int:
    home: Path = args.home
    url = f"http://{HOST}:{args.port}"
    pid = _running_pid(home)
    if pid is not None:
        running_url = _read(home / "fx.url") or url
        print(f"fx_api already running at {running_url} (pid {pid}, token {args.token})")
        return 0
    if not _port_free(args.port):
        print(
            f"error: port {args.port} on {HOST} is in use by another process; set SANDBOX_FX_PORT or --port"
        )
        return 1
    home.mkdir(parents=True, exist_ok=True)
    log_path = home / "fx.log"
    command = [sys.executable, "-m", "sandbox", "serve-fx", *_service_argv(args)]
    env = {**os.environ, "SANDBOX_FX_TOKEN": args.token}  # the token goes by env, not by command line
    with open(log_path, "ab") as log:
        child = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True, env=env
        )
    (home / "fx.pid").write_text(f"{child.pid}\n")
    (home / "fx.url").write_text(f"{url}\n")
    if not _wait_healthy(url, child, START_TIMEOUT_SECONDS):
        _terminate(child.pid)
        _remove_state(home)
        timeout = f"{START_TIMEOUT_SECONDS:.0f} s"
        print(f"error: fx_api did not become healthy at {url} within {timeout}; see {log_path}")
        return 1
    print(f"fx_api started at {url} (pid {child.pid}, token {args.token})")
    return 0


def _stop(args: argparse.Namespace) -> int:
    home: Path = args.home
    pid = _running_pid(home)
    if pid is None:
        _remove_state(home)
        print("fx_api is not running")
        return 0
    if not _terminate(pid):
        print(f"error: fx_api (pid {pid}) did not exit after SIGTERM and SIGKILL")
        return 1
    _remove_state(home)
    print(f"fx_api stopped (pid {pid})")
    return 0


def _status(args: argparse.Namespace) -> int:
    home: Path = args.home
    pid = _running_pid(home)
    if pid is None:
        print("fx_api is not running")
        return EXIT_NOT_RUNNING
    url = _read(home / "fx.url") or f"http://{HOST}:{args.port}"
    healthy = _health_pid(url) == pid
    print(f"fx_api running at {url} (pid {pid}, {'healthy' if healthy else 'NOT answering /health'})")
    return 0 if healthy else 1


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


def _wait_healthy(url: str, child: subprocess.Popen[bytes], timeout_seconds: float) -> bool:
    deadline = time.monotonic() + timeout_seconds
    with httpx.Client(timeout=1.0, trust_env=False) as client:
        while time.monotonic() < deadline:
            if child.poll() is not None:
                return False
            if _health_pid(url, client) == child.pid:
                return True
            time.sleep(0.05)
    return False


def _health_pid(url: str, client: httpx.Client | None = None) -> int | None:
    """The pid reported by ``/health``, so we know the answer comes from our process and not a squatter."""
    try:
        if client is None:
            with httpx.Client(timeout=1.0, trust_env=False) as own:
                response = own.get(f"{url}/health")
        else:
            response = client.get(f"{url}/health")
        return int(response.json()["pid"]) if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError, KeyError, TypeError):
        return None


def _running_pid(home: Path) -> int | None:
    """The pid in fx.pid if that process is alive and is our service (guards against pid reuse)."""
    raw = _read(home / "fx.pid")
    if raw is None or not raw.isdigit():
        return None
    pid = int(raw)
    return pid if _alive(pid) and _is_ours(pid) else None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (exited, not yet reaped) is not running.
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def _is_ours(pid: int) -> bool:
    cmdline = Path(f"/proc/{pid}/cmdline")
    if not cmdline.exists():  # no procfs: trust the pid file
        return True
    try:
        return b"serve-fx" in cmdline.read_bytes()
    except OSError:
        return False


def _terminate(pid: int, timeout_seconds: float = STOP_TIMEOUT_SECONDS) -> bool:
    """SIGTERM, then SIGKILL, each given ``timeout_seconds`` to take effect; True once the process is gone."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            if not _alive(pid):
                return True
            time.sleep(0.05)
    return not _alive(pid)


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _read(path: Path) -> str | None:
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        return None


def _remove_state(home: Path) -> None:
    for name in ("fx.pid", "fx.url"):
        (home / name).unlink(missing_ok=True)


# ------------------------------------------------------------------------------------------------- Kafka
# `kafka-start` launches `serve-kafka` detached (own session), which runs the KRaft broker (a JVM in its
# own process group) until SIGTERM. State in $SANDBOX_HOME: kafka.pid (the serve-kafka process),
# kafka.bootstrap, kafka.log, kafka.java.pid (the JVM: stopped too if serve-kafka died), kafka/ (broker
# config, broker.log and data, kept across restarts so topics survive). Port: --port, else
# SANDBOX_KAFKA_PORT, else 9092.

KAFKA_DEFAULT_PORT = 9092
KAFKA_DEFAULT_TOPIC = "orders.events"
KAFKA_START_TIMEOUT_SECONDS = 90.0
KAFKA_STOP_TIMEOUT_SECONDS = 30.0  # serve-kafka gives the broker 15 s for a controlled shutdown
KAFKA_STATE_FILES = ("kafka.pid", "kafka.bootstrap", "kafka.java.pid")


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
        (home / "kafka.java.pid").write_text(f"{broker.pid}\n")
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
        (home / "kafka.java.pid").unlink(missing_ok=True)


def _kafka_start(args: argparse.Namespace) -> int:
    home: Path = args.home
    bootstrap = f"{HOST}:{args.port}"
    pid = _kafka_running_pid(home)
    if pid is not None:
        print(f"kafka already running at {_read(home / 'kafka.bootstrap') or bootstrap} (pid {pid})")
        return 0
    _kafka_kill_orphan(home)
    if not _port_free(args.port):
        print(
            f"error: port {args.port} on {HOST} is in use by another process; set SANDBOX_KAFKA_PORT or --port"
        )
        return 1
    home.mkdir(parents=True, exist_ok=True)
    for name in KAFKA_STATE_FILES:
        (home / name).unlink(missing_ok=True)
    log_path = home / "kafka.log"
    command = [sys.executable, "-m", "sandbox", "serve-kafka", f"--port={args.port}", f"--home={home}"]
    with open(log_path, "ab") as log:
        child = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
        )
    (home / "kafka.pid").write_text(f"{child.pid}\n")
    (home / "kafka.bootstrap").write_text(f"{bootstrap}\n")
    # serve-kafka writes kafka.java.pid once its broker answered; we then check the answer ourselves.
    deadline = time.monotonic() + KAFKA_START_TIMEOUT_SECONDS
    while time.monotonic() < deadline and child.poll() is None:
        if (home / "kafka.java.pid").exists() and _kafka_answers(bootstrap):
            print(
                f"kafka started at {bootstrap} (pid {child.pid}); broker log {home / 'kafka' / 'broker.log'}"
            )
            return 0
        time.sleep(0.2)
    exit_code = child.poll()
    _terminate(child.pid, KAFKA_STOP_TIMEOUT_SECONDS)
    _kafka_kill_orphan(home)
    _kafka_remove_state(home)
    if exit_code is not None:
        print(f"error: kafka exited during start-up (code {exit_code}); see {log_path}")
    else:
        timeout = f"{KAFKA_START_TIMEOUT_SECONDS:.0f} s"
        print(f"error: kafka did not start at {bootstrap} within {timeout}; see {log_path}")
    return 1


def _kafka_stop(args: argparse.Namespace) -> int:
    home: Path = args.home
    pid = _kafka_running_pid(home)
    if pid is not None and not _terminate(pid, KAFKA_STOP_TIMEOUT_SECONDS):
        print(f"error: kafka (pid {pid}) did not exit after SIGTERM and SIGKILL")
        return 1
    orphan = _kafka_kill_orphan(home)
    _kafka_remove_state(home)
    if pid is None and orphan is None:
        print("kafka is not running")
    else:
        print(f"kafka stopped (pid {pid if pid is not None else orphan})")
    return 0


def _kafka_status(args: argparse.Namespace) -> int:
    home: Path = args.home
    pid = _kafka_running_pid(home)
    if pid is None:
        print("kafka is not running")
        return EXIT_NOT_RUNNING
    bootstrap = _read(home / "kafka.bootstrap") or f"{HOST}:{args.port}"
    healthy = _kafka_answers(bootstrap)
    print(
        f"kafka running at {bootstrap} (pid {pid}, {'healthy' if healthy else 'NOT answering metadata requests'})"
    )
    return 0 if healthy else 1


def _produce_orders(args: argparse.Namespace) -> int:
    from sandbox.generator.orders import generate_order_events
    from sandbox.services.kafka_broker import KafkaBrokerError, create_topic
    from sandbox.services.order_producer import OrderProduceError, produce_order_events

    bootstrap = args.bootstrap or _read(args.home / "kafka.bootstrap") or f"{HOST}:{args.port}"
    if not _kafka_answers(bootstrap):
        print(f"error: no Kafka broker answers at {bootstrap}; run `sandbox kafka-start` first")
        return 1
    dataset = generate_order_events(
        seed=args.seed,
        start=args.start_date,
        days=args.days,
        orders_per_day=args.orders_per_day,
        scale=args.scale,
    )
    try:
        created = create_topic(bootstrap, args.topic, args.partitions, exist_ok=True)
        counts = produce_order_events(bootstrap, args.topic, dataset, upto=args.upto)
    except (KafkaBrokerError, OrderProduceError) as exc:
        print(f"error: {exc}")
        return 1
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


def _kafka_running_pid(home: Path) -> int | None:
    """The pid in kafka.pid if that process is alive and is our serve-kafka (guards against pid reuse)."""
    return _pid_if(home / "kafka.pid", b"serve-kafka")


def _kafka_kill_orphan(home: Path) -> int | None:
    """SIGKILL the broker JVM of kafka.java.pid if it outlived its serve-kafka (e.g. after a SIGKILL)."""
    pid = _pid_if(home / "kafka.java.pid", b"kafka.Kafka")
    if pid is None:
        return None
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        return None
    deadline = time.monotonic() + KAFKA_STOP_TIMEOUT_SECONDS
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return pid


def _pid_if(pid_file: Path, marker: bytes) -> int | None:
    raw = _read(pid_file)
    if raw is None or not raw.isdigit():
        return None
    pid = int(raw)
    if not _alive(pid):
        return None
    cmdline = Path(f"/proc/{pid}/cmdline")
    try:
        return pid if not cmdline.exists() or marker in cmdline.read_bytes() else None
    except OSError:
        return None


def _kafka_remove_state(home: Path) -> None:
    for name in KAFKA_STATE_FILES:
        (home / name).unlink(missing_ok=True)
